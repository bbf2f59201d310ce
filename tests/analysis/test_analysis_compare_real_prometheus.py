"""canary_compare against a REAL Prometheus (1 s scrape) fed Istio-shaped series by the test's exporter.

Workloads in namespace test, each with a ``-primary`` twin:

* ``podinfo`` / ``podinfo-primary``: the same version - the same request rates and the same latency
  histogram, whose upper tail changes every second along one seeded sequence for both, so the samples
  vary over time but not between the sides. Expected: Pass.
* ``slow`` / ``slow-primary``: the canary is slower by some 30-40 ms a request - every request sits one Istio bucket higher
  ((50, 100] instead of (25, 50] ms, and (100, 250] instead of (50, 100]) - so its P99 per step is
  higher at every sample. Expected: request-duration High, verdict Fail.
* ``flaky`` / ``flaky-primary``: 20 % of the canary's requests are 500s, none of the primary's.
  Expected: request-success-rate Low.
* ``lonely``: a canary without any primary series. Expected: NoData, not a crash.
"""

import random
import threading
import time

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils.analysis.prometheus import PrometheusClient
from ansible_collections.progressive.delivery.plugins.modules import canary_compare

from tests.analysis.conftest import run_module

pytestmark = pytest.mark.prometheus

ISTIO = {"reporter": "destination", "destination_workload_namespace": "test"}
BUCKETS = ["0.5", "1", "5", "10", "25", "50", "100", "250", "500", "1000", "+Inf"]
WINDOW, STEP, INTERVAL = "20s", "2s", "4s"
RATE = 20.0


def histogram(exporter, workload, tail, slower):
    """``RATE`` requests/s: (1 - tail) of them in the lower bucket, ``tail`` in the next; ``slower`` moves both up one bucket."""
    low, high = ("100", "250") if slower else ("50", "100")
    out, current = [], 0.0
    for le in BUCKETS:
        if le == low:
            current = RATE * (1.0 - tail)
        if le == high:
            current = RATE
        out.append((le, current))
    exporter.histogram("istio_request_duration_milliseconds", dict(ISTIO, destination_workload=workload), out)


class Traffic(object):
    """Changes every workload's latency tail once a second along one seeded sequence, the same for all."""

    def __init__(self, exporter):
        self.exporter = exporter
        self.rng = random.Random(14)
        self.stop = threading.Event()
        self.apply()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def apply(self):
        tail = self.rng.uniform(0.05, 0.3)
        for workload, slower in (("podinfo", False), ("podinfo-primary", False), ("slow", True), ("slow-primary", False),
                                 ("flaky", False), ("flaky-primary", False), ("lonely", False)):
            histogram(self.exporter, workload, tail, slower)

    def run(self):
        while not self.stop.wait(1.0):
            self.apply()


@pytest.fixture(scope="module")
def prom(exporter, start_prometheus):
    for workload, code, rate in (("podinfo", "200", RATE), ("podinfo-primary", "200", RATE), ("slow", "200", RATE),
                                 ("slow-primary", "200", RATE), ("flaky", "200", 0.8 * RATE), ("flaky", "500", 0.2 * RATE),
                                 ("flaky-primary", "200", RATE), ("lonely", "200", RATE)):
        exporter.counter("istio_requests_total", dict(ISTIO, destination_workload=workload, response_code=code), rate)
    traffic = Traffic(exporter)
    server = start_prometheus(exporter)
    server.wait_for_sample("istio_request_duration_milliseconds_bucket")
    # Ready = a full window of P99 samples for the newest workload.
    client = PrometheusClient(server.url)
    query = ('histogram_quantile(0.99, sum(rate(istio_request_duration_milliseconds_bucket{destination_workload="slow-primary"}[%s])) by (le))'
             % INTERVAL)
    deadline = time.monotonic() + 60
    while True:
        result = client.query_range(query, window=WINDOW, step=STEP)
        points = len(result.result[0]["values"]) if result.result else 0
        if points >= 11:
            break
        assert time.monotonic() < deadline, "no full window of samples after 60 s: %r" % result.result
        time.sleep(1.0)
    yield server
    traffic.stop.set()


def judge(capsys, prom, target, metrics=None, check_mode=False, **kwargs):
    args = dict(prometheus={"url": prom.url}, target=target, namespace="test", window=WINDOW, step=STEP, interval=INTERVAL,
                metrics=metrics or [{"name": "request-duration"}, {"name": "request-success-rate"}])
    args.update(kwargs)
    return run_module(canary_compare, args, capsys, check_mode=check_mode)


def test_identical_versions_pass(capsys, prom):
    result = judge(capsys, prom, "podinfo")
    assert not result.get("failed"), result["msg"]
    assert (result["verdict"], result["score"], result["changed"]) == ("Pass", 100.0, False)
    assert (result["canary_workload"], result["primary_workload"]) == ("podinfo", "podinfo-primary")
    duration, success = result["metrics"]
    assert duration["classification"] == "Pass" and success["classification"] == "Pass"
    assert duration["direction"] == "increase" and duration["alternative"] == "greater"
    assert success["direction"] == "decrease" and success["alternative"] == "less"
    assert duration["canary"]["samples"] >= 10 and duration["primary"]["samples"] >= 10
    assert duration["p_value"] > 0.02 and duration["u"] is not None
    assert len(set(duration["canary"]["values"])) > 1        # the samples vary over time
    assert 'destination_workload=~"podinfo-primary"' in duration["queries"]["primary"]
    assert 'destination_workload=~"podinfo"' in duration["queries"]["canary"] and "[4s]" in duration["queries"]["canary"]
    assert result["window"]["end"] - result["window"]["start"] == pytest.approx(20.0)


def test_latency_regression_is_high_and_fails(capsys, prom):
    result = judge(capsys, prom, "slow", metrics=[{"name": "request-duration", "critical": True}, {"name": "request-success-rate"}])
    assert not result.get("failed"), result["msg"]
    duration, success = result["metrics"]
    assert duration["classification"] == "High", duration["reason"]
    assert duration["significant"] is True and duration["p_value"] < 1e-3 and duration["method"] == "asymptotic"
    assert duration["mean_ratio"] > 1.3 and duration["hodges_lehmann_shift"] > 30
    assert success["classification"] == "Pass"
    assert result["verdict"] == "Fail" and result["critical_failed"] == ["request-duration"] and result["score"] == 50.0
    assert result["msg"].startswith("canary versus primary: Fail, critical metric(s) request-duration failed")
    assert "request duration canary" in result["msg"] and ": High - the canary is significantly higher" in result["msg"]


def test_a_generous_effect_bound_lets_the_regression_pass(capsys, prom):
    result = judge(capsys, prom, "slow", metrics=[{"name": "request-duration", "effect_size": {"measure": "hodges_lehmann",
                                                                                             "allowed_increase": 1000}}])
    duration = result["metrics"][0]
    assert duration["significant"] is True and duration["effect_exceeded"] is False and duration["classification"] == "Pass"
    assert result["verdict"] == "Pass"


def test_error_rate_regression_is_low(capsys, prom):
    result = judge(capsys, prom, "flaky", thresholds={"pass": 90, "marginal": 50})
    duration, success = result["metrics"]
    assert success["classification"] == "Low" and success["canary"]["median"] == pytest.approx(80.0, abs=1.0)
    assert success["primary"]["median"] == pytest.approx(100.0)
    assert duration["classification"] == "Pass"
    assert (result["score"], result["verdict"]) == (50.0, "Marginal")


def test_missing_primary_is_nodata_not_a_crash(capsys, prom):
    result = judge(capsys, prom, "lonely")
    assert not result.get("failed"), result["msg"]
    assert [m["classification"] for m in result["metrics"]] == ["NoData", "NoData"]
    assert result["metrics"][0]["primary"]["series"] is False and result["metrics"][0]["primary"]["values"] is None
    assert result["metrics"][0]["reason"].startswith("the primary has no series")
    assert result["verdict"] == "Fail"
    skipped = judge(capsys, prom, "lonely", on_no_data="skip")
    assert skipped["verdict"] == "Fail" and skipped["score"] is None and skipped["skipped_metrics"] == ["request-duration", "request-success-rate"]


def test_custom_query_and_explicit_primary_in_check_mode(capsys, prom):
    # The request rates of "slow" and of "podinfo" (given as the primary) are the same: Pass, two-sided by default.
    metrics = [{"name": "request-rate", "query": 'sum(rate(istio_requests_total{destination_workload="$target"}[$interval]))'}]
    result = judge(capsys, prom, "slow", primary="podinfo", metrics=metrics, check_mode=True)
    assert not result.get("failed"), result["msg"]
    metric = result["metrics"][0]
    assert result["primary_workload"] == "podinfo" and metric["classification"] == "Pass"
    assert metric["direction"] == "either" and metric["alternative"] == "two-sided" and metric["template"] is None
    assert 'destination_workload="podinfo"' in metric["queries"]["primary"] and 'destination_workload="slow"' in metric["queries"]["canary"]


def test_bad_promql_fails_naming_the_metric(capsys, prom):
    result = judge(capsys, prom, "podinfo", metrics=[{"name": "broken", "query": "sum(rate(istio_requests_total[$interval])"}])
    assert result["failed"] is True and result["error_kind"] == "api"
    assert result["msg"].startswith("metric broken (canary): ") and "parse error" in result["msg"]


def test_bad_options_fail_before_querying(capsys, prom):
    cases = [
        (dict(confidence=1.5), "confidence 1.5 is outside (0, 1)"),
        (dict(thresholds={"pass": 50, "marginal": 80}), "thresholds.pass (50) is below thresholds.marginal (80)"),
        (dict(metrics=[{"name": "request-duration", "weight": -2}]), "metrics[0] (request-duration).weight -2 is negative"),
        (dict(metrics=[{"name": "error-rate"}]), "metrics[0] (error-rate): 'error-rate' is not a builtin istio comparison metric"),
        (dict(window="5 minutes"), "window '5 minutes' is not a Prometheus duration"),
        (dict(window="1h", step="1s"), "gives 3601 samples per side, more than the 1000 judged"),
    ]
    for kwargs, message in cases:
        result = judge(capsys, prom, "podinfo", **kwargs)
        assert result["failed"] is True and message in result["msg"], (kwargs, result["msg"])
    result = judge(capsys, prom, "podinfo", metrics=[{"name": "request-duration", "direction": "up"}])
    assert result["failed"] is True and "value of direction must be one of: increase, decrease, either" in result["msg"]


PLAYBOOK = r"""
- name: Canary versus primary from a playbook
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Judge the slow canary against its primary
      progressive.delivery.canary_compare:
        prometheus:
          url: PROM_URL
        target: slow
        namespace: test
        window: 20s
        step: 2s
        interval: 4s
        metrics:
          - name: request-duration
            critical: true
          - name: request-success-rate
      register: judgment

    - name: Gate on the verdict
      ansible.builtin.assert:
        that:
          - judgment.verdict == 'Fail'
          - judgment.metrics[0].classification == 'High'
        quiet: true

    - name: Identical versions in check mode
      progressive.delivery.canary_compare:
        prometheus:
          url: PROM_URL
        target: podinfo
        namespace: test
        window: 20s
        step: 2s
        interval: 4s
        metrics:
          - name: request-duration
      check_mode: true
      register: same
"""


def test_through_ansible_playbook(tmp_path, prom):
    from tests.analysis.conftest import run_playbook
    rc, results, _doc = run_playbook(tmp_path, PLAYBOOK.replace("PROM_URL", prom.url))
    judged = results["Judge the slow canary against its primary"]
    assert rc == 0, results
    assert judged["verdict"] == "Fail" and judged["changed"] is False and judged["primary_workload"] == "slow-primary"
    assert results["Gate on the verdict"].get("failed") is not True
    assert results["Identical versions in check mode"]["verdict"] == "Pass"
