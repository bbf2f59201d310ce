"""checks.py with metrics sources: which source a metric entry picks, the validation errors naming
metrics[i].field, and a round of checks across Prometheus, web and SkyWalking sources (the transport and
the Prometheus client are fakes here; tests/analysis runs them against real local servers)."""

import json

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils.analysis import checks, sources
from ansible_collections.progressive.delivery.plugins.module_utils.analysis.metric_source import SourceConnectionError
from ansible_collections.progressive.delivery.plugins.module_utils.analysis.prometheus import PrometheusConnectionError, QueryResult
from ansible_collections.progressive.delivery.plugins.module_utils.analysis.sources import _answer

SW_QUERY = ('query q($duration: Duration!) { m: readMetricsValues(condition: {name: "service_apdex", entity: {scope: Service, '
            'serviceName: "$target", normal: true}}, duration: $duration) { values { values { value isEmptyValue } } } }')


def test_the_source_follows_the_options_a_metric_carries():
    built = checks.build_checks("istio", [
        {"name": "request-success-rate", "threshold_range": {"min": 99}},
        {"name": "errors", "web": {"url": "http://m.test/e?app=$target", "json_path": "value"}, "threshold_range": {"max": 1}},
        {"name": "apdex", "skywalking": {"address": "http://oap:12800", "query": SW_QUERY}, "threshold_range": {"min": 9900}},
    ], "1m")
    assert [(c.name, c.source) for c in built] == [("request-success-rate", "prometheus"), ("errors", "web"), ("apdex", "skywalking")]
    assert built[1].source_options["method"] == "GET" and built[1].template is None
    assert built[2].source_options["url"] == "http://oap:12800/graphql" and built[2].source_options["aggregate"] == "mean"


@pytest.mark.parametrize("metric, words", [
    ({"name": "x", "web": {"url": "http://m.test"}, "skywalking": {"address": "http://oap", "query": SW_QUERY}},
     "metrics[0] (x): give one metrics source, not web and skywalking"),
    ({"name": "x", "web": {"url": "http://m.test"}, "query": "sum(up)"},
     "metrics[0] (x): metrics[0].query is a Prometheus option and cannot be used with metrics[0].web; "
     "the web metric's query is metrics[0].web.url and metrics[0].web.json_path"),
    ({"name": "x", "skywalking": {"address": "http://oap", "query": SW_QUERY}, "template": "request-duration"},
     "metrics[0].template is a Prometheus option and cannot be used with metrics[0].skywalking"),
    ({"name": "x", "web": {"url": "http://m.test", "json_path": "a[?"}}, "metrics[0].web.json_path 'a[?' is not a JMESPath expression"),
    ({"name": "x", "web": {}}, "metrics[0].web.url is required"),
    ({"name": "x", "skywalking": {"address": "http://oap"}}, "metrics[0].skywalking.query is required"),
])
def test_validation_errors_name_the_field_and_the_fix(metric, words):
    with pytest.raises(checks.CheckConfigError) as err:
        checks.build_checks("istio", [metric], "1m")
    assert words in str(err.value)


class FakePrometheus(object):
    def __init__(self, value):
        self.value = value
        self.queries = []

    def query(self, expr, time=None):
        self.queries.append(expr)
        return QueryResult("vector", [{"metric": {}, "value": [1, str(self.value)]}])


class Transport(object):
    """Answers by URL; an exception instance is raised."""

    def __init__(self, answers):
        self.answers = answers
        self.requests = []

    def __call__(self, request):
        self.requests.append(request)
        answer = self.answers[request.url]
        if isinstance(answer, Exception):
            raise answer
        return answer


def json_answer(doc, status=200):
    return _answer.Answer(status, json.dumps(doc))


def run(metrics, answers, prometheus_value=99.5, on_no_data="fail"):
    built = checks.build_checks("istio", metrics, "1m")
    transport = Transport(answers)
    source_set = sources.SourceSet(prometheus_client=FakePrometheus(prometheus_value), transport=transport)
    return checks.run_checks(source_set, built, checks.template_variables("istio", "podinfo", "test", "1m"), on_no_data), transport


def test_a_round_across_sources_reports_each_metric():
    report, transport = run([
        {"name": "request-success-rate", "threshold_range": {"min": 99}},
        {"name": "errors", "web": {"url": "http://m.test/e?app=$target", "json_path": "data.errors"}, "threshold_range": {"max": 1}},
        {"name": "apdex", "skywalking": {"address": "http://oap:12800", "query": SW_QUERY}, "threshold_range": {"min": 9900}},
    ], {"http://m.test/e?app=podinfo": json_answer({"data": {"errors": 2.5}}),
        "http://oap:12800/graphql": json_answer({"data": {"m": {"values": {"values": [
            {"id": "1", "value": 9950, "isEmptyValue": False}, {"id": "2", "value": 9970, "isEmptyValue": False}]}}}})})
    by_name = dict((m["name"], m) for m in report["metrics"])
    assert [by_name[n]["source"] for n in ("request-success-rate", "errors", "apdex")] == ["prometheus", "web", "skywalking"]
    assert by_name["errors"]["value"] == 2.5 and by_name["errors"]["status"] == "fail"
    assert by_name["errors"]["query"] == "GET http://m.test/e?app=podinfo"
    assert by_name["errors"]["message"] == "errors 2.50 > 1"
    assert by_name["apdex"]["value"] == 9960.0 and by_name["apdex"]["status"] == "pass"
    assert report["failed_metrics"] == ["errors"] and report["passed"] is False


def test_a_web_http_error_is_that_metrics_error_and_a_connection_error_stops_naming_the_metric():
    report, _sources = run([{"name": "errors", "web": {"url": "http://m.test/e"}}],
                           {"http://m.test/e": _answer.Answer(500, b"boom: db down")})
    assert report["error_metrics"] == ["errors"]
    assert report["metrics"][0]["message"] == "metric errors: http://m.test/e answered HTTP 500 for the metric's request: boom: db down"
    with pytest.raises(SourceConnectionError, match="^metric errors: connection refused"):
        run([{"name": "errors", "web": {"url": "http://m.test/e"}}],
            {"http://m.test/e": SourceConnectionError("connection refused by http://m.test/e")})


def test_no_data_from_a_web_metric_follows_on_no_data():
    report, _sources = run([{"name": "errors", "web": {"url": "http://m.test/e", "json_path": "data.missing"}}],
                           {"http://m.test/e": json_answer({"data": {}})}, on_no_data="skip")
    assert report["metrics"][0]["status"] == "no_data" and report["skipped_metrics"] == ["errors"] and report["passed"] is True
    assert "json_path 'data.missing' found nothing in the answer" in report["metrics"][0]["message"]


def test_a_plain_prometheus_client_still_works_and_its_errors_still_stop_the_round():
    built = checks.build_checks("istio", [{"name": "request-success-rate", "threshold_range": {"min": 99}}], "1m")
    client = FakePrometheus(98.0)
    report = checks.run_checks(client, built, checks.template_variables("istio", "podinfo", "test", "1m"))
    assert report["metrics"][0]["value"] == 98.0 and report["metrics"][0]["source"] == "prometheus" and client.queries

    class Down(object):
        def query(self, expr, time=None):
            raise PrometheusConnectionError("connection refused by http://p:9090")
    with pytest.raises(PrometheusConnectionError, match="^connection refused"):
        checks.run_checks(Down(), built, checks.template_variables("istio", "podinfo", "test", "1m"))


def test_prometheus_is_made_only_when_a_check_needs_it():
    made = []
    source_set = sources.SourceSet(prometheus_factory=lambda: made.append(1) or FakePrometheus(1),
                                   transport=Transport({"http://m.test/e": json_answer(3)}))
    built = checks.build_checks("istio", [{"name": "e", "web": {"url": "http://m.test/e"}}], "1m")
    checks.run_checks(source_set, built, checks.template_variables("istio", "podinfo", "test", "1m"))
    assert made == []
    assert checks.check_online(source_set, built) == []


def test_online_check_asks_each_skywalking_server_once():
    transport = Transport({"http://oap:12800/graphql": json_answer({"data": {"version": "10.2.0"}})})
    source_set = sources.SourceSet(prometheus_client=FakePrometheus(1), transport=transport)
    built = checks.build_checks("istio", [
        {"name": "a", "skywalking": {"address": "http://oap:12800", "query": SW_QUERY}},
        {"name": "b", "skywalking": {"address": "http://oap:12800/graphql", "query": SW_QUERY}},
    ], "1m")
    assert checks.check_online(source_set, built) == ["skywalking http://oap:12800/graphql"]
    assert len(transport.requests) == 1 and json.loads(transport.requests[0].body)["query"] == "query { version }"


def test_the_roles_settings_name_the_rollout_variable():
    from ansible_collections.progressive.delivery.plugins.module_utils.analysis import settings

    variables = {"target": "podinfo", "namespace": "test", "prometheus": {"url": "http://prometheus:9090"},
                 "analysis": {"interval": "1m", "threshold": 5, "max_weight": 50, "step_weight": 10, "provider": "istio", "on_no_data": "fail",
                              "metrics": [{"name": "errors", "web": {"url": "http://m.test/e", "method": "PATCH"}}]}}
    with pytest.raises(settings.SettingsError) as err:
        settings.validate(variables)
    assert str(err.value).startswith("rollout_analysis.metrics[0].web.method 'PATCH' is not one of GET, POST, PUT")
    variables["analysis"]["metrics"][0]["web"]["method"] = "POST"
    assert settings.validate(variables)["metrics"][0]["web"]["method"] == "POST"
