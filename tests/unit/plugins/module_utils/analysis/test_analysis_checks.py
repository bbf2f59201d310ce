"""Building and running metric checks with a fake client (the real-Prometheus tests are in tests/analysis)."""

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils.analysis import checks
from ansible_collections.progressive.delivery.plugins.module_utils.analysis.prometheus import (
    PrometheusAPIError, PrometheusConnectionError, QueryResult)


class FakeClient(object):
    """Answers by the first key found in the query; records the queries."""

    def __init__(self, answers):
        self.answers = answers
        self.queries = []

    def query(self, expr, time=None):
        self.queries.append(expr)
        for key, answer in self.answers.items():
            if key in expr:
                if isinstance(answer, Exception):
                    raise answer
                return answer
        raise AssertionError("unexpected query %s" % expr)


def vector(*values):
    return QueryResult("vector", [{"metric": {"i": str(i)}, "value": [1.0, str(v)]} for i, v in enumerate(values)])


def variables(provider="istio", **kw):
    return checks.template_variables(provider, "podinfo", "test", "1m", **kw)


def test_builtin_names_select_templates_and_custom_queries_are_kept():
    built = checks.build_checks("istio", [
        {"name": "request-success-rate", "threshold_range": {"min": 99}},
        {"name": "latency", "template": "request-duration", "threshold_range": {"max": 500}, "interval": "30s"},
        {"name": "custom", "query": "sum(up)"},
    ], "1m")
    assert [c.builtin for c in built] == ["request-success-rate", "request-duration", None]
    assert built[1].interval == "30s" and built[0].interval == "1m"
    assert built[2].template == "sum(up)"


@pytest.mark.parametrize("metrics,message", [
    ([], "metrics is empty"),
    ([{"name": "error-rate"}], r"metrics\[0\] \(error-rate\): 'error-rate' is not a builtin istio metric .*request-duration, request-success-rate"),
    ([{"name": "a", "query": "x", "template": "request-duration"}], "either query or template"),
    ([{"name": "a", "query": "x"}, {"name": "a", "query": "y"}], r"metrics\[1\].name 'a' is used twice"),
    ([{"name": "a", "query": "x", "interval": "5 min"}], r"metrics\[0\].interval"),
    ([{"name": "a", "query": "x", "threshold_range": {"min": 2, "max": 1}}], r"metrics\[0\].threshold_range.min"),
    ([{"query": "x"}], r"metrics\[0\].name is required"),
])
def test_bad_metric_lists_name_the_field(metrics, message):
    with pytest.raises(checks.CheckConfigError, match=message):
        checks.build_checks("istio", metrics, "1m")


def test_unknown_provider():
    with pytest.raises(checks.CheckConfigError, match="unknown metrics provider 'linkerd'.*envoy, istio"):
        checks.build_checks("linkerd", [{"name": "request-success-rate"}], "1m")


def test_template_variables_defaults_and_refusals():
    assert variables() == {"name": "podinfo", "namespace": "test", "target": "podinfo", "service": "podinfo", "interval": "1m"}
    assert variables("envoy")["cluster"] == "podinfo"
    assert variables("envoy", variables={"cluster": "x"})["cluster"] == "x"
    assert variables(service="podinfo-svc")["service"] == "podinfo-svc"
    with pytest.raises(checks.CheckConfigError, match="variables.namespace: namespace is a builtin"):
        variables(variables={"namespace": "other"})
    with pytest.raises(checks.CheckConfigError, match="not a valid variable name"):
        variables(variables={"1x": "a"})
    with pytest.raises(checks.CheckConfigError, match="interval '1 minute'"):
        checks.template_variables("istio", "podinfo", "test", "1 minute")


def run(metrics, answers, on_no_data="fail"):
    client = FakeClient(answers)
    report = checks.run_checks(client, checks.build_checks("istio", metrics, "1m"), variables(), on_no_data, provider="istio")
    return report, client


def test_flagger_messages_and_statuses():
    report, client = run([
        {"name": "request-success-rate", "threshold_range": {"min": 99}},
        {"name": "request-duration", "threshold_range": {"max": 500}},
    ], {"istio_requests_total": vector(69.1666), "histogram_quantile": vector(95)})
    first, second = report["metrics"]
    assert first["status"] == "fail" and first["message"] == "request success rate 69.17% < 99%"
    assert first["value"] == 69.1666 and first["threshold_range"] == {"min": 99.0, "max": None}
    assert second["status"] == "pass" and second["message"] == "request duration 95.00ms <= 500ms"
    assert report["passed"] is False and report["failed_metrics"] == ["request-success-rate"]
    assert first["query"] == client.queries[0] and 'destination_workload=~"podinfo"' in first["query"]
    assert checks.summary(report) == "metric checks failed: request success rate 69.17% < 99%"


def test_custom_metric_messages():
    report = run([{"name": "error-rate", "query": "sum(errors)", "threshold_range": {"min": 0, "max": 1}}], {"errors": vector(5.234)})[0]
    assert report["metrics"][0]["message"] == "error-rate 5.23 > 1"
    report = run([{"name": "error-rate", "query": "sum(errors)", "threshold_range": {"min": 0, "max": 1}}], {"errors": vector(0.5)})[0]
    assert report["metrics"][0]["message"] == "error-rate 0.50 within [0, 1]" and report["passed"]


def test_per_metric_interval_is_rendered():
    report = run([{"name": "request-success-rate", "interval": "30s"}], {"istio_requests_total": vector(100)})[0]
    assert "[30s]" in report["metrics"][0]["query"] and "[1m]" not in report["metrics"][0]["query"]


@pytest.mark.parametrize("on_no_data,passed,failed,skipped", [
    ("fail", False, ["request-success-rate"], []),
    ("pass", True, [], []),
    ("skip", True, [], ["request-success-rate"]),
])
def test_no_data_policies(on_no_data, passed, failed, skipped):
    report = run([{"name": "request-success-rate", "threshold_range": {"min": 99}}], {"istio": vector("NaN")}, on_no_data)[0]
    metric = report["metrics"][0]
    assert metric["status"] == "no_data" and metric["value"] is None
    assert metric["message"].startswith("no values found for istio metric request-success-rate probably podinfo.test is not receiving traffic")
    assert (report["passed"], report["failed_metrics"], report["skipped_metrics"]) == (passed, failed, skipped)


def test_query_errors_are_per_metric_and_connection_errors_raise():
    report = run([
        {"name": "bad", "query": "sum(bad"},
        {"name": "two", "query": "two_series"},
        {"name": "request-success-rate", "threshold_range": {"min": 99}},
    ], {"bad": PrometheusAPIError("rejected (HTTP 400, bad_data): parse error"), "two_series": vector(1, 2), "istio": vector(100)})[0]
    statuses = [m["status"] for m in report["metrics"]]
    assert statuses == ["error", "error", "pass"]
    assert report["error_metrics"] == ["bad", "two"] and report["failed_metrics"] == ["bad", "two"]
    assert "parse error" in report["metrics"][0]["message"] and "2 series" in report["metrics"][1]["message"]
    with pytest.raises(PrometheusConnectionError):
        run([{"name": "request-success-rate"}], {"istio": PrometheusConnectionError("refused")})


def test_template_errors_are_per_metric_and_nothing_is_sent():
    report, client = run([{"name": "x", "query": 'up{a="$nope"}'}], {})
    assert report["metrics"][0]["status"] == "error" and "unknown variable 'nope'" in report["metrics"][0]["message"]
    assert client.queries == []
