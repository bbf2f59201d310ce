"""canary_metric_check(check_window=true): a metric window shorter than two scrape intervals fails
before any query, against a REAL Prometheus whose slowest job scrapes every 4 s (global 1 s)."""

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils.analysis import checks
from ansible_collections.progressive.delivery.plugins.module_utils.analysis.window import MetricWindowError
from ansible_collections.progressive.delivery.plugins.modules import canary_metric_check

from tests.analysis.conftest import run_module
from tests.lab.prometheus import Prometheus

CONFIG = (
    "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
    "scrape_configs:\n"
    "  - job_name: app\n    static_configs:\n      - targets: [\"%s\"]\n"
    "  - job_name: slow\n    scrape_interval: 4s\n    scrape_timeout: 1s\n    static_configs:\n      - targets: [\"%s\"]\n"
)
WEB = {"url": "http://127.0.0.1:9/never-asked", "json_path": "value"}


@pytest.fixture(scope="module")
def prom(exporter, tmp_path_factory):
    exporter.counter("istio_requests_total", {"reporter": "destination", "destination_workload_namespace": "test",
                                              "destination_workload": "podinfo", "response_code": "200"}, 5)
    server = Prometheus(tmp_path_factory.mktemp("prometheus-window"), CONFIG % (exporter.address, exporter.address))
    server.start()
    yield server
    server.stop()


def check(capsys, prom, metrics, interval):
    args = dict(prometheus={"url": prom.url}, target="podinfo", namespace="test", interval=interval, metrics=metrics,
                online_check=True, check_window=True)
    return run_module(canary_metric_check, args, capsys)


def test_a_window_shorter_than_two_scrape_intervals_fails_naming_both_and_the_fix(capsys, prom):
    result = check(capsys, prom, [{"name": "request-success-rate"}], "5s")
    assert result.get("failed") and result["error_kind"] == "config", result
    assert result["msg"] == (
        "interval (rollout_analysis.metric_interval) is 5s, shorter than two scrape intervals of Prometheus (scrape_interval 4s of "
        "job slow): a rate over it has fewer than two samples and reads as no data, which would roll back a healthy canary; "
        "set interval (rollout_analysis.metric_interval) to at least 8s, or scrape more often")
    assert "metrics" not in result  # nothing was queried


def test_a_metric_own_interval_is_named(capsys, prom):
    result = check(capsys, prom, [{"name": "request-success-rate"},
                                  {"name": "errors", "query": "sum(rate(istio_requests_total[$interval]))", "interval": "6s"}], "1m")
    assert result.get("failed"), result
    assert result["msg"].startswith("metrics[1].interval of metric errors is 6s, shorter than two scrape intervals"), result["msg"]


def test_a_long_enough_window_passes_the_preflight_without_a_query(capsys, prom):
    result = check(capsys, prom, [{"name": "request-success-rate"}], "8s")
    assert not result.get("failed"), result
    assert result["window"] == {"scrape_interval_seconds": 4.0, "job": "slow", "checked": ["request-success-rate"]}
    # online_check with check_window is a rollout's preflight: nothing of the canary is measured yet
    assert (result["online"], result["metrics"]) == (True, [])


def test_a_query_without_the_window_is_not_checked(capsys, prom):
    result = check(capsys, prom, [{"name": "constant", "query": "vector(100)", "threshold_range": {"min": 99}},
                                  {"name": "request-success-rate"}], "5s")
    assert result.get("failed") and "interval (rollout_analysis.metric_interval) is 5s" in result["msg"], result
    alone = check(capsys, prom, [{"name": "constant", "query": "vector(100)", "threshold_range": {"min": 99}}], "1s")
    assert not alone.get("failed") and alone["window"]["checked"] == [], alone


def test_without_check_window_nothing_is_read(capsys, prom):
    args = dict(prometheus={"url": prom.url}, target="podinfo", namespace="test", interval="5s",
                metrics=[{"name": "request-success-rate"}], on_no_data="pass")
    result = run_module(canary_metric_check, args, capsys)
    assert not result.get("failed") and "window" not in result, result


# --- check_windows without a server -------------------------------------------------------------

def test_other_sources_are_not_checked():
    metric_checks = checks.build_checks("istio", [{"name": "request-success-rate", "interval": "30s"},
                                                  {"name": "web-errors", "web": WEB, "interval": "1s"}], "1m")
    config = {"status": "success", "data": {"yaml": "global:\n  scrape_interval: 15s\nscrape_configs:\n  - job_name: a\n"}}
    assert checks.check_windows(config, metric_checks) == {"scrape_interval_seconds": 15.0, "job": None,
                                                           "checked": ["request-success-rate"]}
    with pytest.raises(MetricWindowError, match=r"metrics\[0\].interval of metric request-success-rate is 20s"):
        checks.check_windows(config, checks.build_checks("istio", [{"name": "request-success-rate", "interval": "20s"}], "1m"))
