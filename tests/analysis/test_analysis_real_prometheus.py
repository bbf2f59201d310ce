"""The builtin queries, thresholds, no-data handling and escaping against a REAL Prometheus.

One Prometheus (1 s scrape) for this module scrapes an exporter with counters and histograms in
Istio's and Envoy's shapes at known rates:

* Istio: podinfo (namespace test) answers 8/s 200 and 2/s 500 -> success rate 80 %; its latency
  histogram has 90 % of requests in (25, 50] ms and 10 % in (50, 100] ms -> P99 = 95 ms (linear
  interpolation: 50 + 50 * 0.9). podinfo-primary (10/s, all 200) must not be counted (regex
  matchers are anchored). "idle" has zero traffic (NaN), "ghost" has no series at all, "failing" answers
  4/s, every one a 500 (so it has no series of a code other than 5xx).
* Envoy: the cluster "outbound|9898||podinfo-canary.test.svc.cluster.local" answers 7/s 2xx and
  3/s 5xx -> 70 %, P99 = 242.5 ms; a decoy cluster whose name differs only where the real one has
  "." (a regex wildcard) carries 10/s 5xx and would pull the rate to 35 % if the name were not
  escaped. The cluster "podinfo" (the default cluster name) answers 5/s 2xx -> 100 %, the cluster "failing" 4/s,
  all 5xx.
"""

import math
import time

import pytest
from ansible.plugins.loader import lookup_loader

from ansible_collections.progressive.delivery.plugins.module_utils.analysis.prometheus import PrometheusClient
from ansible_collections.progressive.delivery.plugins.modules import canary_metric_check

from tests.analysis.conftest import run_module

pytestmark = pytest.mark.prometheus

INTERVAL = "10s"
ISTIO = {"reporter": "destination", "destination_workload_namespace": "test"}
ENVOY_CLUSTER = "outbound|9898||podinfo-canary.test.svc.cluster.local"
ENVOY_DECOY = "outbound|9898||podinfo-canaryXtest.svc.cluster.local"
ISTIO_BUCKETS = ["0.5", "1", "5", "10", "25", "50", "100", "250", "500", "1000", "+Inf"]


def buckets(per_le, names=ISTIO_BUCKETS):
    """Cumulative per-second counts for every bucket from ``{le: count}`` of the buckets where counts change."""
    out, current = [], 0.0
    for le in names:
        current = per_le.get(le, current)
        out.append((le, current))
    return out


@pytest.fixture(scope="module")
def prom(exporter, start_prometheus):
    # Counters start as if they had run for 1000 s, so rate()'s extrapolation is never capped at zero.
    for workload, code, rate in (("podinfo", "200", 8), ("podinfo", "500", 2), ("podinfo-primary", "200", 10), ("idle", "200", 0),
                                 ("failing", "500", 4)):
        exporter.counter("istio_requests_total", dict(ISTIO, destination_workload=workload, response_code=code), rate)
    exporter.histogram("istio_request_duration_milliseconds", dict(ISTIO, destination_workload="podinfo"), buckets({"50": 9, "100": 10}))
    exporter.histogram("istio_request_duration_milliseconds", dict(ISTIO, destination_workload="idle"), buckets({}))
    for cluster, code_class, rate in ((ENVOY_CLUSTER, "2", 7), (ENVOY_CLUSTER, "5", 3), (ENVOY_DECOY, "5", 10), ("podinfo", "2", 5),
                                    ("failing", "5", 4)):
        exporter.counter("envoy_cluster_upstream_rq_xx", {"envoy_cluster_name": cluster, "envoy_response_code_class": code_class}, rate)
    exporter.histogram("envoy_cluster_upstream_rq_time", {"envoy_cluster_name": ENVOY_CLUSTER}, buckets({"100": 8, "250": 10}))
    server = start_prometheus(exporter)
    # Ready = both the newest counter and the histogram have enough fresh samples for rate().
    server.wait_for_sample("envoy_cluster_upstream_rq_time_bucket")
    server.wait_for(lambda r: bool(r) and r[0]["value"][1] not in ("NaN",),
                    'histogram_quantile(0.99, sum(rate(istio_request_duration_milliseconds_bucket{destination_workload="podinfo"}[%s])) by (le))'
                    % INTERVAL, timeout=20)
    server.wait_for(lambda r: bool(r), 'sum(rate(envoy_cluster_upstream_rq_time_bucket[%s]))' % INTERVAL, timeout=20)
    return server


def check(capsys, prom, metrics, check_mode=False, **kwargs):
    args = dict(prometheus={"url": prom.url}, target="podinfo", namespace="test", interval=INTERVAL, metrics=metrics)
    args.update(kwargs)
    return run_module(canary_metric_check, args, capsys, check_mode=check_mode)


# -- builtin values --------------------------------------------------------------------------
def test_istio_builtins_return_flagger_values(capsys, prom):
    result = check(capsys, prom, [{"name": "request-success-rate"}, {"name": "request-duration"}])
    rate, duration = result["metrics"]
    assert rate["value"] == pytest.approx(80.0, abs=1e-6)
    assert duration["value"] == pytest.approx(95.0, abs=1e-6)
    assert 'destination_workload=~"podinfo"' in rate["query"] and "[10s]" in rate["query"]
    assert (rate["status"], duration["status"], result["passed"], result["changed"]) == ("pass", "pass", True, False)


def test_envoy_builtins_select_the_cluster_by_its_escaped_name(capsys, prom):
    result = check(capsys, prom, [{"name": "request-success-rate"}, {"name": "request-duration"}], provider="envoy",
                   variables={"cluster": ENVOY_CLUSTER})
    rate, duration = result["metrics"]
    # 35 % would mean the decoy cluster matched through an unescaped "."
    assert rate["value"] == pytest.approx(70.0, abs=1e-6)
    assert duration["value"] == pytest.approx(242.5, abs=1e-6)
    assert 'envoy_cluster_name=~"outbound\\\\|9898\\\\|\\\\|podinfo-canary\\\\.test' in rate["query"]


def test_envoy_cluster_defaults_to_the_target(capsys, prom):
    result = check(capsys, prom, [{"name": "request-success-rate"}], provider="envoy")
    assert result["metrics"][0]["value"] == pytest.approx(100.0, abs=1e-6)


# -- thresholds just inside / just outside ---------------------------------------------------
@pytest.mark.parametrize("name,expected,unit_title", [("request-success-rate", 80.0, "request success rate"), ("request-duration", 95.0, "request duration")])
def test_thresholds_just_inside_and_just_outside(capsys, prom, name, expected, unit_title):
    unit = "%" if name == "request-success-rate" else "ms"
    cases = [
        ("min-inside", {"min": expected - 0.01}, "pass"),
        ("min-outside", {"min": expected + 0.01}, "fail"),
        ("max-inside", {"max": expected + 0.01}, "pass"),
        ("max-outside", {"max": expected - 0.01}, "fail"),
        ("both-inside", {"min": expected - 0.01, "max": expected + 0.01}, "pass"),
    ]
    metrics = [{"name": label, "template": name, "threshold_range": bounds} for label, bounds, _ in cases]
    result = check(capsys, prom, metrics)
    statuses = dict((m["name"], m["status"]) for m in result["metrics"])
    assert statuses == dict((label, status) for label, _, status in cases)
    assert result["passed"] is False and sorted(result["failed_metrics"]) == ["max-outside", "min-outside"]
    messages = dict((m["name"], m["message"]) for m in result["metrics"])
    assert messages["min-outside"] == "%s %.2f%s < %s%s" % (unit_title, expected, unit, repr(expected + 0.01), unit)
    assert messages["max-outside"] == "%s %.2f%s > %s%s" % (unit_title, expected, unit, repr(expected - 0.01), unit)


def test_bounds_are_inclusive_on_a_real_value(capsys, prom):
    # Rounded in PromQL so the value is exactly 80: min == value and max == value both pass.
    query = ('round(sum(rate(istio_requests_total{destination_workload="$target",response_code!~"5.*"}[$interval]))'
             ' / sum(rate(istio_requests_total{destination_workload="$target"}[$interval])) * 100, 0.001)')
    result = check(capsys, prom, [
        {"name": "at-min", "query": query, "threshold_range": {"min": 80}},
        {"name": "at-max", "query": query, "threshold_range": {"max": 80}},
        {"name": "above-max", "query": query, "threshold_range": {"max": 79.999}},
    ])
    assert [(m["value"], m["status"]) for m in result["metrics"]] == [(80.0, "pass"), (80.0, "pass"), (80.0, "fail")]
    assert result["metrics"][2]["message"] == "above-max 80.00 > 79.999"


def test_a_breach_fails_the_task_only_with_fail_on_breach(capsys, prom):
    metrics = [{"name": "request-success-rate", "threshold_range": {"min": 99}}]
    reported = check(capsys, prom, metrics)
    assert not reported.get("failed") and reported["passed"] is False and reported["failed_metrics"] == ["request-success-rate"]
    assert reported["metrics"][0]["message"] == "request success rate 80.00% < 99%"
    raised = check(capsys, prom, metrics, fail_on_breach=True)
    assert raised["failed"] is True and raised["msg"] == "metric checks failed: request success rate 80.00% < 99%"
    assert raised["metrics"][0]["status"] == "fail"


def test_runs_in_check_mode(capsys, prom):
    result = check(capsys, prom, [{"name": "request-success-rate", "threshold_range": {"min": 99}}], check_mode=True)
    assert result["metrics"][0]["value"] == pytest.approx(80.0, abs=1e-6) and result["changed"] is False


# -- no data ------------------------------------------------------------------------------------
@pytest.mark.parametrize("target,reason", [("idle", "NaN"), ("ghost", "empty result")])
def test_no_traffic_and_no_series_are_no_data(capsys, prom, target, reason):
    metrics = [{"name": "request-success-rate", "threshold_range": {"min": 99}}, {"name": "request-duration", "threshold_range": {"max": 500}}]
    failing = check(capsys, prom, metrics, target=target)
    assert [m["status"] for m in failing["metrics"]] == ["no_data", "no_data"]
    assert failing["passed"] is False and failing["failed_metrics"] == ["request-success-rate", "request-duration"]
    message = failing["metrics"][0]["message"]
    assert message.startswith("no values found for istio metric request-success-rate probably %s.test is not receiving traffic" % target)
    assert reason in message
    passing = check(capsys, prom, metrics, target=target, on_no_data="pass")
    assert passing["passed"] is True and passing["failed_metrics"] == [] and passing["skipped_metrics"] == []
    skipping = check(capsys, prom, metrics, target=target, on_no_data="skip")
    assert skipping["passed"] is True and skipping["skipped_metrics"] == ["request-success-rate", "request-duration"]


@pytest.mark.parametrize("provider", ["istio", "envoy"])
def test_every_request_failed_is_a_success_rate_of_0_not_no_data(capsys, prom, provider):
    # Flagger's query has no value here (its numerator has no series) and calls the canary "not receiving traffic"
    result = check(capsys, prom, [{"name": "request-success-rate", "threshold_range": {"min": 99}}], target="failing",
                   provider=provider)
    [rate] = result["metrics"]
    assert (rate["value"], rate["status"]) == (0.0, "fail"), rate
    assert rate["message"] == "request success rate 0.00% < 99%"
    assert result["passed"] is False and result["failed_metrics"] == ["request-success-rate"]


# -- escaping against the real parser -------------------------------------------------------------
@pytest.mark.parametrize("namespace", [
    'test",destination_workload=~".+',          # widen the selector
    'x"}[10s])) or vector(100) or sum(rate(x{a="',  # append an always-passing value
    'test\\',                                    # a trailing backslash eating the closing quote
])
def test_injection_attempts_match_nothing(capsys, prom, namespace):
    result = check(capsys, prom, [{"name": "request-success-rate", "threshold_range": {"min": 50}}], namespace=namespace)
    metric = result["metrics"][0]
    assert metric["status"] == "no_data", metric
    assert result["passed"] is False


# -- errors from the real server -----------------------------------------------------------------
def test_bad_promql_fails_with_the_parser_message(capsys, prom):
    result = check(capsys, prom, [{"name": "request-success-rate"}, {"name": "broken", "query": "sum(rate(istio_requests_total[$interval])"}])
    assert result["failed"] is True
    broken = result["metrics"][1]
    assert broken["status"] == "error" and result["error_metrics"] == ["broken"]
    assert "bad_data" in broken["message"] and "parse error" in broken["message"]
    assert result["metrics"][0]["status"] == "pass"
    assert "metric queries could not be evaluated" in result["msg"] and "parse error" in result["msg"]


def test_several_series_fail_listing_their_labels(capsys, prom):
    query = 'sum by (destination_workload) (rate(istio_requests_total{destination_workload_namespace="$namespace"}[$interval]))'
    result = check(capsys, prom, [{"name": "per-workload", "query": query}])
    assert result["failed"] is True
    message = result["metrics"][0]["message"]
    assert "series where one value was expected" in message
    for workload in ("podinfo", "podinfo-primary", "idle"):
        assert '{destination_workload="%s"}' % workload in message


def test_misconfiguration_fails_before_querying(capsys, prom):
    result = check(capsys, prom, [{"name": "error-rate", "threshold_range": {"max": 1}}])
    assert result["failed"] is True and "metrics[0] (error-rate): 'error-rate' is not a builtin istio metric" in result["msg"]
    result = check(capsys, prom, [{"name": "request-success-rate"}], interval="1 minute")
    assert result["failed"] is True and "interval '1 minute' is not a Prometheus duration" in result["msg"]


def test_range_query_on_the_real_server(prom):
    now = time.time()
    result = PrometheusClient(prom.url).query_range('sum(istio_requests_total{destination_workload="podinfo"})', now - 4, now, "1s")
    assert result.result_type == "matrix" and len(result.result) == 1
    values = [float(v) for _ts, v in result.result[0]["values"]]
    assert len(values) >= 3 and values == sorted(values)   # a counter over time


# -- the lookup on the same server ----------------------------------------------------------------
def test_lookup_values_raw_and_no_data(prom):
    lookup = lookup_loader.get("progressive.delivery.prometheus")
    query = ('sum(rate(istio_requests_total{destination_workload="podinfo",response_code!~"5.*"}[10s]))'
             ' / sum(rate(istio_requests_total{destination_workload="podinfo"}[10s])) * 100')
    [value] = lookup.run([query], variables={}, url=prom.url)
    assert value == pytest.approx(80.0, abs=1e-6)
    [raw] = lookup.run(['sum by (response_code) (rate(istio_requests_total{destination_workload="podinfo"}[10s]))'],
                       variables={}, url=prom.url, raw=True)
    by_code = dict((s["metric"]["response_code"], s["value"]) for s in raw)
    # rate() under-reads while the series is younger than the window; the 8:2 ratio holds throughout.
    assert sorted(by_code) == ["200", "500"] and by_code["200"] / by_code["500"] == pytest.approx(4.0, rel=1e-9)
    [nan] = lookup.run(['sum(rate(istio_requests_total{destination_workload="idle"}[10s])) / 0'], variables={}, url=prom.url, raw=True)
    assert math.isnan(nan[0]["value"])
    assert lookup.run(['sum(rate(istio_requests_total{destination_workload="ghost"}[10s]))'], variables={}, url=prom.url,
                      on_no_data="none") == [None]
