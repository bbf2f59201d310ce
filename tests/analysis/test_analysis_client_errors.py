"""Every way a Prometheus URL can fail, against local servers that give the bad answer for real.

Each error is checked through the client (its type and message) and through the module
(``canary_metric_check`` fails with the message and ``error_kind``).
"""

import json
import socket
import threading
import time

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils.analysis import prometheus as prom
from ansible_collections.progressive.delivery.plugins.modules import canary_metric_check

from tests.analysis.conftest import closed_port, run_module, tls_server

OK_BODY = json.dumps({"status": "success", "data": {"resultType": "vector", "result": [{"metric": {}, "value": [1, "99.5"]}]}})


def client(url, **kwargs):
    return prom.PrometheusClient(url, **kwargs)


def module_result(capsys, url, **connection):
    connection["url"] = url
    return run_module(canary_metric_check, dict(prometheus=connection, target="podinfo", namespace="test",
                                                metrics=[{"name": "request-success-rate", "threshold_range": {"min": 99}}]), capsys)


# -- no HTTP answer -----------------------------------------------------------------------------
def test_connection_refused(capsys):
    url = "http://127.0.0.1:%d" % closed_port()
    with pytest.raises(prom.PrometheusConnectionError, match="connection refused by %s: is Prometheus running" % url):
        client(url).query("up")
    result = module_result(capsys, url)
    assert result["failed"] is True and result["error_kind"] == "connection" and "connection refused" in result["msg"]


def test_name_resolution_failure():
    with pytest.raises(prom.PrometheusConnectionError, match=r"cannot resolve the Prometheus host 'prometheus\.invalid'"):
        client("http://prometheus.invalid:9090").query("up")


def test_timeout_is_bounded_and_named(fake_server):
    fake_server.respond = lambda handler: (time.sleep(1.5), (200, {}, OK_BODY))[1]
    started = time.monotonic()
    with pytest.raises(prom.PrometheusConnectionError, match="did not answer within the timeout of 0.3 s"):
        client(fake_server.url, timeout=0.3).query("up")
    assert time.monotonic() - started < 1.2


def test_connection_closed_without_answer(fake_server):
    fake_server.respond = lambda handler: None
    with pytest.raises(prom.PrometheusConnectionError, match="closed the connection without an HTTP answer"):
        client(fake_server.url).query("up")


def test_not_http_at_all():
    # A TCP server that answers garbage, as a non-HTTP port would.
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)

    def serve():
        conn, _ = sock.accept()
        conn.recv(1024)
        conn.sendall(b"SSH-2.0-OpenSSH_9.2\r\n")
        conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        with pytest.raises(prom.PrometheusConnectionError) as err:
            client("http://127.0.0.1:%d" % sock.getsockname()[1]).query("up")
        assert "127.0.0.1" in str(err.value)
    finally:
        thread.join(5)
        sock.close()


# -- HTTP errors ---------------------------------------------------------------------------------
@pytest.mark.parametrize("status,reason", [(401, "401 Unauthorized"), (403, "403 Forbidden")])
def test_auth_errors(capsys, fake_server, status, reason):
    fake_server.respond = lambda handler: (status, {"Content-Type": "text/plain"}, "denied by proxy")
    with pytest.raises(prom.PrometheusAuthError) as err:
        client(fake_server.url, bearer_token="wrong").query("up")
    assert "answered %s" % reason in str(err.value) and "check the bearer token" in str(err.value)
    assert "denied by proxy" in str(err.value) and "wrong" not in str(err.value)
    with pytest.raises(prom.PrometheusAuthError, match="it needs credentials"):
        client(fake_server.url).query("up")
    result = module_result(capsys, fake_server.url, username="u", password="hunter2")
    assert result["error_kind"] == "auth" and reason in result["msg"] and "hunter2" not in json.dumps(result)


@pytest.mark.parametrize("status,error_type,error", [
    (400, "bad_data", "1:5: parse error: unexpected end of input"),
    (422, "execution", "query processing would load too many samples into memory"),
    (503, "timeout", "query timed out in expression evaluation"),
])
def test_prometheus_api_errors_carry_error_type_and_message(capsys, fake_server, status, error_type, error):
    body = json.dumps({"status": "error", "errorType": error_type, "error": error})
    fake_server.respond = lambda handler: (status, {"Content-Type": "application/json"}, body)
    with pytest.raises(prom.PrometheusAPIError) as err:
        client(fake_server.url).query("sum(x")
    assert (err.value.status, err.value.error_type, err.value.error) == (status, error_type, error)
    assert "(HTTP %d, %s): %s" % (status, error_type, error) in str(err.value)
    result = module_result(capsys, fake_server.url)
    assert result["failed"] is True and result["metrics"][0]["status"] == "error" and error in result["msg"]


@pytest.mark.parametrize("status,body", [(404, "404 page not found"), (500, "<html><body>Internal Server Error</body></html>"), (502, "")])
def test_http_errors_without_prometheus_json(fake_server, status, body):
    fake_server.respond = lambda handler: (status, {"Content-Type": "text/html"}, body)
    with pytest.raises(prom.PrometheusAPIError) as err:
        client(fake_server.url).query("up")
    assert "answered HTTP %d" % status in str(err.value)
    assert (body.split("<body>")[-1][:20] if body else "(empty body)") in str(err.value)


def test_status_error_with_http_200(fake_server):
    fake_server.respond = lambda handler: (200, {}, json.dumps({"status": "error", "errorType": "internal", "error": "boom"}))
    with pytest.raises(prom.PrometheusAPIError, match=r"\(HTTP 200, internal\): boom"):
        client(fake_server.url).query("up")


# -- answers that are not the Prometheus API ----------------------------------------------------------
@pytest.mark.parametrize("body,message", [
    ("<html><title>Grafana</title></html>", "not JSON"),
    ('{"status": "success", "data": ', "not JSON"),
    ('["a", "b"]', "not a Prometheus API response"),
    ('{"status": "success"}', "without data.resultType/data.result"),
])
def test_malformed_answers(capsys, fake_server, body, message):
    fake_server.respond = lambda handler: (200, {"Content-Type": "text/html"}, body)
    with pytest.raises(prom.PrometheusResponseError, match=message):
        client(fake_server.url).query("up")
    result = module_result(capsys, fake_server.url)
    assert result["error_kind"] == "response" and message in result["msg"]


# -- what the client sends ------------------------------------------------------------------------------
def test_bearer_token_headers_and_path_prefix(fake_server):
    fake_server.respond = lambda handler: (200, {}, OK_BODY)
    result = client(fake_server.url + "/prom/", bearer_token="t0k", headers={"X-Scope-OrgID": "tenant-1"}).query('up{a="b c"}', time=1700000000)
    assert result.result_type == "vector"
    request = fake_server.requests[-1]
    assert request["path"] == "/prom/api/v1/query?query=up%7Ba%3D%22b+c%22%7D&time=1700000000.000"
    headers = dict((k.lower(), v) for k, v in request["headers"].items())   # header names are case-insensitive
    assert headers["authorization"] == "Bearer t0k" and headers["x-scope-orgid"] == "tenant-1"


def test_basic_auth(fake_server):
    fake_server.respond = lambda handler: (200, {}, OK_BODY)
    client(fake_server.url, username="admin", password="secret").query("up")
    assert fake_server.requests[-1]["headers"]["Authorization"] == "Basic YWRtaW46c2VjcmV0"


def test_range_query(fake_server):
    fake_server.respond = lambda handler: (200, {}, json.dumps({"status": "success", "data": {"resultType": "matrix", "result": [
        {"metric": {"a": "1"}, "values": [[1, "1"], [2, "2"]]}]}}))
    result = client(fake_server.url).query_range("up", 100, 160, "30s")
    assert result.result_type == "matrix"
    assert fake_server.requests[-1]["path"] == "/api/v1/query_range?query=up&start=100.000&end=160.000&step=30s"


def test_options_are_checked_before_connecting(tmp_path):
    with pytest.raises(prom.PrometheusConfigError, match="ca_path '/nonexistent/ca.pem' is not a readable file"):
        client("https://127.0.0.1:1", ca_path="/nonexistent/ca.pem")
    with pytest.raises(prom.PrometheusConfigError, match="client_key was given without client_cert"):
        key = tmp_path / "k.pem"
        key.write_text("x")
        client("https://127.0.0.1:1", client_key=str(key))
    with pytest.raises(prom.PrometheusConfigError, match="not an http:// or https:// URL"):
        client("ftp://127.0.0.1/")
    with pytest.raises(prom.PrometheusConfigError, match="timeout must be a positive number"):
        client("http://127.0.0.1:1", timeout=-1)


def test_credentials_in_the_url_are_masked():
    url = "http://user:pa55@127.0.0.1:%d" % closed_port()
    with pytest.raises(prom.PrometheusConnectionError) as err:
        client(url).query("up")
    assert "pa55" not in str(err.value) and "user" not in str(err.value)


def test_module_without_url(capsys, monkeypatch):
    monkeypatch.delenv("PROMETHEUS_URL", raising=False)
    result = run_module(canary_metric_check, dict(target="podinfo", namespace="test", metrics=[{"name": "request-success-rate"}]), capsys)
    assert result["failed"] is True and "prometheus.url" in result["msg"] and "PROMETHEUS_URL" in result["msg"]


# -- TLS -----------------------------------------------------------------------------------------------
@pytest.fixture
def https_server(tls_material):
    server = tls_server(tls_material)
    server.respond = lambda handler: (200, {}, OK_BODY)
    yield server
    server.stop()


@pytest.fixture
def mtls_server(tls_material):
    server = tls_server(tls_material, require_client_cert=True)
    server.respond = lambda handler: (200, {}, OK_BODY)
    yield server
    server.stop()


def test_self_signed_certificate_is_refused_by_default(capsys, https_server):
    with pytest.raises(prom.PrometheusTLSError) as err:
        client(https_server.url).query("up")
    assert "certificate verify failed" in str(err.value) and "give ca_path" in str(err.value)
    result = module_result(capsys, https_server.url)
    assert result["error_kind"] == "tls" and "certificate verify failed" in result["msg"]


def test_ca_path_or_validate_certs_false_accept_it(capsys, https_server, tls_material):
    assert client(https_server.url, ca_path=tls_material["ca"]).query("up").result[0]["value"][1] == "99.5"
    assert client(https_server.url, validate_certs=False).query("up").result_type == "vector"
    result = module_result(capsys, https_server.url, ca_path=tls_material["ca"])
    assert result["passed"] is True and result["metrics"][0]["value"] == 99.5


def test_wrong_host_name_is_a_tls_error(https_server, tls_material):
    url = https_server.url.replace("127.0.0.1", "localhost")  # the certificate names only 127.0.0.1
    with pytest.raises(prom.PrometheusTLSError, match="the certificate does not name this host"):
        client(url, ca_path=tls_material["ca"]).query("up")


def test_client_certificate(capsys, mtls_server, tls_material):
    with pytest.raises((prom.PrometheusTLSError, prom.PrometheusConnectionError)):
        client(mtls_server.url, ca_path=tls_material["ca"]).query("up")
    answer = client(mtls_server.url, ca_path=tls_material["ca"], client_cert=tls_material["client_cert"],
                    client_key=tls_material["client_key"]).query("up")
    assert answer.result_type == "vector"
    result = module_result(capsys, mtls_server.url, ca_path=tls_material["ca"], client_cert=tls_material["client_cert"],
                           client_key=tls_material["client_key"])
    assert result["passed"] is True


def test_plain_http_client_against_tls_server(https_server):
    with pytest.raises(prom.PrometheusConnectionError):
        client(https_server.url.replace("https://", "http://")).query("up")
