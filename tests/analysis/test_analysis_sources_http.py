"""canary_metric_check against real HTTP servers on 127.0.0.1: the web source (JSON + JMESPath) and the
SkyWalking source (GraphQL). The servers answer what the test sets; SkyWalking's answers are shaped as its
query protocol defines them (apache/skywalking-query-protocol: metric.graphqls IntValues/KVInt,
metrics-v3.graphqls ExpressionResult). No real OAP server runs here (it needs Java and a storage backend)."""

import datetime
import http.server
import json
import os
import ssl
import subprocess
import threading
import time

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils.analysis.sources import web
from ansible_collections.progressive.delivery.plugins.modules import canary_metric_check

from tests.analysis.conftest import REPO, ansible_env, closed_port, run_module

SECRET = "Bearer s3cr3t-token-9f2c"


class JSONServer(object):
    """Answers every GET/POST with ``self.respond(request) -> (status, body)`` (a dict/list body is sent as JSON;
    ``None`` hangs up); ``request`` is ``{method, path, headers, body}``, and every request is recorded."""

    def __init__(self, ssl_context=None):
        self.requests = []
        self.respond = lambda request: (200, {"value": 1})
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def handle_any(self):
                length = int(self.headers.get("Content-Length") or 0)
                request = {"method": self.command, "path": self.path, "headers": dict(self.headers),
                           "body": self.rfile.read(length).decode() if length else ""}
                server.requests.append(request)
                answer = server.respond(request)
                if answer is None:
                    self.close_connection = True
                    return
                status, body = answer
                content_type = "text/plain"
                if isinstance(body, (dict, list)):
                    body, content_type = json.dumps(body), "application/json"
                body = body.encode() if isinstance(body, str) else body
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass        # the client gave up (the timeout tests)

            do_GET = do_POST = do_PUT = handle_any

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        if ssl_context is not None:
            self.httpd.socket = ssl_context.wrap_socket(self.httpd.socket, server_side=True)
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        self.url = "%s://127.0.0.1:%d" % ("https" if ssl_context else "http", self.httpd.server_address[1])

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    running = JSONServer()
    yield running
    running.stop()


def check(capsys, metrics, **args):
    params = dict(target="podinfo", namespace="test", metrics=metrics)
    params.update(args)
    return run_module(canary_metric_check, params, capsys)


def web_metric(url, **web_options):
    options = {"url": url}
    options.update(web_options)
    return {"name": "error-rate", "web": options, "threshold_range": {"max": 1}}


# -- web ---------------------------------------------------------------------------------------------
def test_web_metric_passes_and_fails_on_the_value_the_endpoint_gives(server, capsys):
    rates = {"podinfo": 0.4, "other": 7.0}
    server.respond = lambda request: (200, {"data": {"apps": [{"app": app, "errorRate": rate} for app, rate in rates.items()]}})
    metric = web_metric(server.url + "/api/errors?ns=$namespace&window=$interval", json_path="data.apps[?app=='podinfo'].errorRate | [0]")
    result = check(capsys, [metric])
    assert result.get("failed") is not True and result["passed"] is True
    item = result["metrics"][0]
    assert (item["source"], item["value"], item["status"]) == ("web", 0.4, "pass")
    assert item["query"] == "GET %s/api/errors?ns=test&window=1m" % server.url
    assert server.requests[-1]["path"] == "/api/errors?ns=test&window=1m"

    rates["podinfo"] = 2.5
    result = check(capsys, [metric])
    assert result["passed"] is False and result["failed_metrics"] == ["error-rate"] and result["metrics"][0]["value"] == 2.5


def test_web_post_sends_the_rendered_json_body(server, capsys):
    server.respond = lambda request: (200, {"sum": json.loads(request["body"])["limit"] * 2})
    result = check(capsys, [web_metric(server.url + "/q", method="POST", body={"app": "$target", "limit": 3}, json_path="sum",
                                       headers={"X-Tenant": "blue"})])
    request = server.requests[-1]
    assert request["method"] == "POST" and json.loads(request["body"]) == {"app": "podinfo", "limit": 3}
    assert request["headers"]["Content-Type"] == "application/json"
    assert result["metrics"][0]["value"] == 6.0


def test_web_http_500_is_the_metrics_error_with_the_body(server, capsys):
    server.respond = lambda request: (500, "upstream metrics store unavailable: shard 3 timed out")
    result = check(capsys, [web_metric(server.url + "/api", json_path="value")])
    assert result["failed"] is True and result["error_metrics"] == ["error-rate"]
    assert result["metrics"][0]["status"] == "error"
    assert "metric error-rate: %s/api answered HTTP 500 for the metric's request: upstream metrics store unavailable: shard 3 timed out" \
        % server.url in result["msg"]


def test_web_timeout_is_bounded_and_names_the_metric(server, capsys):
    server.respond = lambda request: (time.sleep(2), (200, {"value": 0}))[1]
    started = time.monotonic()
    result = check(capsys, [web_metric(server.url + "/slow", json_path="value", timeout=0.3)])
    assert time.monotonic() - started < 1.5
    assert result["failed"] is True and result["error_kind"] == "connection"
    assert result["msg"] == "metric error-rate: %s/slow did not answer within the timeout of 0.3 s" % server.url


def test_web_connection_refused(capsys):
    url = "http://127.0.0.1:%d/api" % closed_port()
    result = check(capsys, [web_metric(url)])
    assert result["failed"] is True and result["error_kind"] == "connection" and "connection refused by %s" % url in result["msg"]


def test_web_tls_certificate_not_trusted_then_not_verified(tls_material, capsys):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tls_material["server_cert"], tls_material["server_key"])
    secure = JSONServer(context)
    try:
        secure.respond = lambda request: (200, {"value": 0.2})
        result = check(capsys, [web_metric(secure.url + "/api", json_path="value")])
        assert result["failed"] is True and result["error_kind"] == "tls"
        assert result["msg"].startswith("metric error-rate: TLS error talking to %s/api" % secure.url)
        result = check(capsys, [web_metric(secure.url + "/api", json_path="value", validate_certs=False)])
        assert result.get("failed") is not True and result["metrics"][0]["value"] == 0.2
    finally:
        secure.stop()


def test_web_body_that_is_not_json(server, capsys):
    server.respond = lambda request: (200, "<html><body>Please log in</body></html>")
    result = check(capsys, [web_metric(server.url + "/ui", json_path="value")])
    assert result["failed"] is True and result["error_kind"] == "response"
    assert "a body that is not JSON (HTTP 200): <html><body>Please log in</body></html>" in result["msg"]


def test_web_expression_without_result_is_no_data(server, capsys):
    server.respond = lambda request: (200, {"data": {"result": []}})
    metric = web_metric(server.url + "/api", json_path="data.result[0].value")
    result = check(capsys, [metric])
    assert result.get("failed") is not True and result["passed"] is False and result["failed_metrics"] == ["error-rate"]
    assert result["metrics"][0]["status"] == "no_data"
    assert "json_path 'data.result[0].value' found nothing in the answer" in result["metrics"][0]["message"]
    skipped = check(capsys, [metric], on_no_data="skip")
    assert skipped["passed"] is True and skipped["skipped_metrics"] == ["error-rate"]


def test_web_expression_giving_text_names_the_metric_and_the_expression(server, capsys):
    server.respond = lambda request: (200, {"status": "healthy"})
    result = check(capsys, [web_metric(server.url + "/api", json_path="status")])
    assert result["failed"] is True and result["error_metrics"] == ["error-rate"]
    assert "metric error-rate: json_path 'status' gave the text 'healthy' where a number was expected" in result["msg"]


def test_web_secret_header_never_appears_in_the_output(server, capsys):
    # The endpoint echoes the header it got into its error body, which the message quotes.
    server.respond = lambda request: (500, "rejected credentials %s" % request["headers"].get("Authorization"))
    result = check(capsys, [web_metric(server.url + "/api", headers={"Authorization": SECRET}, json_path="value")])
    assert server.requests[-1]["headers"]["Authorization"] == SECRET       # it was sent
    assert result["failed"] is True and "rejected credentials" in result["msg"]
    assert "s3cr3t-token-9f2c" not in json.dumps(result)


def test_web_without_jmespath_names_the_library(server, capsys, monkeypatch):
    monkeypatch.setattr(web, "jmespath", None)
    result = check(capsys, [web_metric(server.url + "/api", json_path="value")])
    assert result["failed"] is True and "jmespath" in result["msg"] and not server.requests


def test_web_metrics_need_no_prometheus_url(server, capsys, monkeypatch):
    monkeypatch.delenv("PROMETHEUS_URL", raising=False)
    server.respond = lambda request: (200, "0.5")
    result = check(capsys, [web_metric(server.url + "/api")], online_check=True)
    assert result.get("failed") is not True and result["online"] is True and result["metrics"][0]["value"] == 0.5


# -- SkyWalking --------------------------------------------------------------------------------------
SW_QUERY = ('query queryData($duration: Duration!) { service_apdex: readMetricsValues(condition: {name: "service_apdex", '
            'entity: {scope: Service, serviceName: "$service_name", normal: true}}, duration: $duration) '
            '{ label values { values { value isEmptyValue } } } }')
MQE_QUERY = ('query q($duration: Duration!) { apdex: execExpression(expression: "service_apdex", entity: {serviceName: "$service_name", '
             'normal: true}, duration: $duration) { type error results { metric { labels { key value } } values { id value } } } }')
SERVICE = "canary|reviews|bookinfo|cp-cluster-1|-"


def metrics_values(*values):
    points = [{"id": str(1764576000000 + 60000 * i), "value": 0 if v is None else v, "isEmptyValue": v is None} for i, v in enumerate(values)]
    return {"data": {"service_apdex": {"label": None, "values": {"values": points}}}}


def oap(answers):
    """An OAP stand-in: ``query { version }`` answers a version; anything else gets ``answers(body)``."""
    def respond(request):
        if request["path"] != "/graphql" or request["method"] != "POST":
            return 404, "not found"
        body = json.loads(request["body"])
        if body["query"].strip() == "query { version }":
            return 200, {"data": {"version": "10.2.0-test"}}
        return answers(body)
    return respond


def sw_metric(address, query=SW_QUERY, **options):
    spec = {"address": address, "query": query}
    spec.update(options)
    return {"name": "apdex", "skywalking": spec, "threshold_range": {"min": 9900}}


def test_skywalking_apdex_mean_of_the_window(server, capsys):
    server.respond = oap(lambda body: (200, metrics_values(None, 9950, 9990, 9970)))
    result = check(capsys, [sw_metric(server.url, interval="3m")], variables={"service_name": SERVICE}, online_check=True)
    assert result.get("failed") is not True and result["online"] is True
    item = result["metrics"][0]
    assert (item["source"], item["value"], item["status"]) == ("skywalking", 9970.0, "pass")
    sent = json.loads(server.requests[-1]["body"])
    assert 'serviceName: "%s"' % SERVICE in sent["query"]
    duration = sent["variables"]["duration"]
    start = datetime.datetime.strptime(duration["start"], "%Y-%m-%d %H%M")
    end = datetime.datetime.strptime(duration["end"], "%Y-%m-%d %H%M")
    assert duration["step"] == "MINUTE" and end - start == datetime.timedelta(minutes=3)
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    assert abs((now - end).total_seconds()) < 120
    assert server.requests[0]["body"] and json.loads(server.requests[0]["body"])["query"] == "query { version }"


def test_skywalking_min_is_argos_all_condition(server, capsys):
    server.respond = oap(lambda body: (200, metrics_values(9990, 9850, 9995)))
    result = check(capsys, [sw_metric(server.url, aggregate="min")], variables={"service_name": SERVICE})
    assert result["metrics"][0]["value"] == 9850.0 and result["passed"] is False
    assert result["metrics"][0]["message"] == "apdex 9850.00 < 9900"


def test_skywalking_window_without_values_is_no_data(server, capsys):
    server.respond = oap(lambda body: (200, metrics_values(None, None, None)))
    result = check(capsys, [sw_metric(server.url)], variables={"service_name": SERVICE})
    assert result["metrics"][0]["status"] == "no_data" and result["passed"] is False
    assert "service_apdex has no value in the window" in result["metrics"][0]["message"]


def test_skywalking_mqe_expression(server, capsys):
    answer = {"data": {"apdex": {"type": "TIME_SERIES_VALUES", "error": None, "results": [
        {"metric": {"labels": []}, "values": [{"id": "1", "value": "9910"}, {"id": "2", "value": None}, {"id": "3", "value": "9930"}]}]}}}
    server.respond = oap(lambda body: (200, answer))
    result = check(capsys, [sw_metric(server.url + "/graphql", query=MQE_QUERY)], variables={"service_name": SERVICE})
    assert result["metrics"][0]["value"] == 9920.0 and result["passed"] is True


def test_skywalking_mqe_error_and_graphql_errors_are_the_metrics_error(server, capsys):
    server.respond = oap(lambda body: (200, {"data": {"apdex": {"type": "UNKNOWN", "error": "Metric: [service_apdx] dose not exist.",
                                                                "results": []}}}))
    result = check(capsys, [sw_metric(server.url, query=MQE_QUERY)], variables={"service_name": SERVICE})
    assert result["failed"] is True and result["error_metrics"] == ["apdex"] and "service_apdx" in result["msg"]

    server.respond = oap(lambda body: (200, {"data": None, "errors": [{"message": "Validation error of type FieldUndefined"}]}))
    result = check(capsys, [sw_metric(server.url)], variables={"service_name": SERVICE})
    assert result["failed"] is True and "SkyWalking rejected the query: Validation error of type FieldUndefined" in result["msg"]


def test_skywalking_http_500_and_server_down(server, capsys):
    server.respond = lambda request: (500, "java.lang.NullPointerException at ...")
    result = check(capsys, [sw_metric(server.url)], variables={"service_name": SERVICE})
    assert result["failed"] is True and "answered HTTP 500 for the GraphQL query: java.lang.NullPointerException" in result["msg"]

    url = "http://127.0.0.1:%d" % closed_port()
    result = check(capsys, [sw_metric(url)], variables={"service_name": SERVICE}, online_check=True)
    assert result["failed"] is True and result["online"] is False and result["error_kind"] == "connection"
    assert "does not answer the online check" in result["msg"] and url in result["msg"]


def test_skywalking_secret_header_never_appears_in_the_output(server, capsys):
    server.respond = lambda request: (403, "denied for %s" % request["headers"].get("Authorization"))
    result = check(capsys, [sw_metric(server.url, headers={"Authorization": SECRET})], variables={"service_name": SERVICE})
    assert server.requests[-1]["headers"]["Authorization"] == SECRET
    assert result["failed"] is True and result["error_kind"] == "auth"
    assert "s3cr3t-token-9f2c" not in json.dumps(result)


def test_validation_error_names_the_field(capsys):
    result = check(capsys, [{"name": "apdex", "skywalking": {"address": "http://oap:12800", "query": "{ version }"}}])
    assert result["failed"] is True
    assert result["msg"].startswith("metrics[0].skywalking.query does not use $duration")


def test_playbook_at_vvv_never_shows_the_secret_header(server, tmp_path):
    """Through ansible-playbook -vvv (module arguments and results logged): web and SkyWalking headers stay hidden."""
    def respond(request):
        if request["path"] == "/graphql":
            return 200, metrics_values(9950)
        return 500, "bad token %s" % request["headers"].get("Authorization")
    server.respond = respond
    playbook = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Web and SkyWalking metrics with secret headers
      progressive.delivery.canary_metric_check:
        target: podinfo
        namespace: test
        variables:
          service_name: reviews
        metrics:
          - name: error-rate
            web:
              url: "%(url)s/api"
              headers:
                Authorization: "%(secret)s"
              json_path: value
          - name: apdex
            skywalking:
              address: "%(url)s"
              headers:
                Authorization: "%(secret)s"
              query: '%(query)s'
      ignore_errors: true
      register: checked
    - name: Show what the task returned
      ansible.builtin.debug:
        var: checked
""" % {"url": server.url, "secret": SECRET, "query": SW_QUERY}
    path = tmp_path / "playbook.yml"
    path.write_text(playbook)
    env = ansible_env({"ANSIBLE_STDOUT_CALLBACK": "default"})
    out = subprocess.run([os.path.join(REPO, ".venv", "bin", "ansible-playbook"), "-i", "localhost,", "-c", "local", "-vvv", str(path)],
                         env=env, cwd=str(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120).stdout
    assert "metric error-rate: %s/api answered HTTP 500 for the metric's request: bad token" % server.url in out, out
    assert '"value": 9950.0' in out, out
    assert sum(1 for r in server.requests if r["headers"].get("Authorization") == SECRET) == 2
    assert "s3cr3t-token-9f2c" not in out
