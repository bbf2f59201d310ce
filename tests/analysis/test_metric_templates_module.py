"""canary_metric_check with metric templates (metric_templates + metrics[].template_ref) against a real HTTP
server on 127.0.0.1: a web template and a SkyWalking template resolve and measure; a bad reference, two sources
for one metric and a missing template variable fail before any request is sent. Templates in ConfigMaps and
credentials from Secrets run through the role on the lab: tests/e2e/test_rollout_metric_sources.py."""

import json

import pytest

from ansible_collections.progressive.delivery.plugins.modules import canary_metric_check

from tests.analysis.conftest import run_module
from tests.analysis.test_analysis_sources_http import JSONServer, metrics_values, oap

SW_QUERY = ('query q($duration: Duration!) { service_apdex: readMetricsValues(condition: {name: "service_apdex", entity: {scope: Service, '
            'serviceName: "${service_name}", normal: true}}, duration: $duration) { label values { values { value isEmptyValue } } } }')


@pytest.fixture
def server():
    running = JSONServer()
    yield running
    running.stop()


def templates(url):
    return {
        "app-errors": {"provider": {"type": "web", "address": url}, "variables": {"route": "/api"},
                       "web": {"url": "/errors?app=$target&route=$route", "json_path": "data.errorRate"}},
        "apdex": {"provider": {"type": "skywalking", "address": url}, "query": SW_QUERY,
                  "skywalking": {"interval": "2m", "aggregate": "min"}, "variables": {"service_name": None}},
    }


def check(capsys, server, metrics):
    return run_module(canary_metric_check, dict(target="podinfo", namespace="test", metrics=metrics,
                                                metric_templates=templates(server.url)), capsys)


def test_web_and_skywalking_templates_measure_with_their_variables(server, capsys):
    def respond(request):
        if request["path"].startswith("/errors"):
            return 200, {"data": {"errorRate": 0.5}}
        return oap(lambda body: (200, metrics_values(9990, 9950)))(request)
    server.respond = respond
    result = check(capsys, server, [
        {"name": "errors", "template_ref": {"name": "app-errors"}, "template_variables": {"route": "/v2 x"}, "threshold_range": {"max": 1}},
        {"name": "apdex", "template_ref": {"name": "apdex"}, "template_variables": {"service_name": 'canary|r"x'},
         "threshold_range": {"min": 9900}},
    ])
    assert not result.get("failed"), result
    assert [(m["source"], m["value"], m["status"]) for m in result["metrics"]] == [("web", 0.5, "pass"), ("skywalking", 9950.0, "pass")]
    assert server.requests[0]["path"] == "/errors?app=podinfo&route=%2Fv2%20x"   # the variable percent-encoded
    sent = json.loads(server.requests[1]["body"])
    assert 'serviceName: "canary|r\\"x"' in sent["query"]                        # JSON-escaped in its GraphQL string


@pytest.mark.parametrize("metric, words", [
    ({"name": "e", "template_ref": {"name": "app-error"}},
     "metrics[0] (e): metrics[0].template_ref names the metric template app-error, which does not exist (known templates: apdex, app-errors)"),
    ({"name": "e", "template_ref": {"name": "app-errors"}, "query": "vector(1)"},
     "metrics[0] (e): give one metrics source, not metrics[0].template_ref and metrics[0].query"),
    ({"name": "e", "template_ref": {"name": "apdex"}}, "metrics[0] (e): template apdex needs the variable service_name"),
])
def test_bad_references_fail_before_any_request(server, capsys, metric, words):
    result = check(capsys, server, [metric])
    assert result.get("failed") and result["error_kind"] == "config", result
    assert result["msg"].startswith(words), result["msg"]
    assert server.requests == []
