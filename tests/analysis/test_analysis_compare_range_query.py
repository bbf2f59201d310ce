"""``PrometheusClient.query_range``: window and step options, and the same typed errors as instant queries,
against local HTTP servers that give each answer for real."""

import json
import urllib.parse

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils.analysis import prometheus as prom

from tests.analysis.conftest import closed_port

MATRIX = json.dumps({"status": "success", "data": {"resultType": "matrix", "result": [
    {"metric": {"destination_workload": "podinfo"}, "values": [[100, "1"], [130, "2"], [160, "3"]]}]}})


def params(server):
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(server.requests[-1]["path"]).query))


def test_window_and_step_give_start_and_end(fake_server):
    fake_server.respond = lambda handler: (200, {}, MATRIX)
    result = prom.PrometheusClient(fake_server.url).query_range("up", end=1000, window="5m", step="30s")
    assert result.result_type == "matrix" and result.result[0]["values"][2] == [160, "3"]
    assert urllib.parse.urlsplit(fake_server.requests[-1]["path"]).path == "/api/v1/query_range"
    assert params(fake_server) == {"query": "up", "start": "700.000", "end": "1000.000", "step": "30s"}


def test_window_in_seconds_and_rfc3339_end(fake_server):
    fake_server.respond = lambda handler: (200, {}, MATRIX)
    prom.PrometheusClient(fake_server.url).query_range("up", end="2026-12-01T12:00:00Z", window=90, step=15)
    sent = params(fake_server)
    assert sent["end"] == "1796126400.000" and sent["start"] == "1796126310.000" and sent["step"] == "15"


def test_end_defaults_to_now(fake_server):
    import time
    fake_server.respond = lambda handler: (200, {}, MATRIX)
    before = time.time()
    prom.PrometheusClient(fake_server.url).query_range("up", window="1m", step="10s")
    sent = params(fake_server)
    # Times are sent with millisecond precision: allow the rounding.
    assert before - 0.001 <= float(sent["end"]) <= time.time() + 0.001
    assert float(sent["end"]) - float(sent["start"]) == pytest.approx(60.0, abs=0.002)


def test_positional_start_end_step_still_work(fake_server):
    fake_server.respond = lambda handler: (200, {}, MATRIX)
    prom.PrometheusClient(fake_server.url).query_range("up", 100, 160, "30s")
    assert params(fake_server) == {"query": "up", "start": "100.000", "end": "160.000", "step": "30s"}


@pytest.mark.parametrize("kwargs,message", [
    (dict(window="5m"), "a range query needs step"),
    (dict(window="5m", step="0s"), "step '0s' must be longer than 0"),
    (dict(window="5m", step="15 seconds"), "step '15 seconds' is not a Prometheus duration"),
    (dict(window="5 minutes", step="15s"), "window '5 minutes' is not a Prometheus duration"),
    (dict(window="0s", step="15s"), "window '0s' must be longer than 0"),
    (dict(step="15s"), "a range query needs start or window"),
    (dict(start=1, window="5m", step="15s"), "either start or window"),
    (dict(start=200, end=100, step="15s"), "ends (100.000) before it starts (200.000)"),
    (dict(window="1d", step="1s"), "86401 points per series, more than Prometheus' limit of 11000: use a longer step"),
    (dict(end="yesterday", window="5m", step="15s"), "end 'yesterday' is neither a Unix timestamp nor an RFC 3339 time"),
    (dict(end="2026-12-01T12:00:00", window="5m", step="15s"), "has no time zone"),
])
def test_bad_options_fail_before_anything_is_sent(fake_server, kwargs, message):
    with pytest.raises(prom.PrometheusConfigError) as err:
        prom.PrometheusClient(fake_server.url).query_range("up", **kwargs)
    assert message in str(err.value)
    assert fake_server.requests == []


def test_not_a_matrix_is_a_response_error(fake_server):
    fake_server.respond = lambda handler: (200, {}, json.dumps({"status": "success", "data": {"resultType": "vector", "result": []}}))
    with pytest.raises(prom.PrometheusResponseError, match="answered the range query up with a vector instead of a matrix"):
        prom.PrometheusClient(fake_server.url).query_range("up", window="1m", step="10s")


def test_api_error_carries_prometheus_error_type(fake_server):
    body = json.dumps({"status": "error", "errorType": "bad_data", "error": "exceeded maximum resolution of 11,000 points per timeseries"})
    fake_server.respond = lambda handler: (400, {"Content-Type": "application/json"}, body)
    with pytest.raises(prom.PrometheusAPIError) as err:
        prom.PrometheusClient(fake_server.url).query_range("up", window="1m", step="10s")
    assert err.value.error_type == "bad_data" and err.value.status == 400 and "rejected the query up (HTTP 400, bad_data)" in str(err.value)


def test_auth_error(fake_server):
    fake_server.respond = lambda handler: (401, {}, "Unauthorized")
    with pytest.raises(prom.PrometheusAuthError, match=r"answered 401 Unauthorized for the query up \(it needs credentials"):
        prom.PrometheusClient(fake_server.url).query_range("up", window="1m", step="10s")


def test_not_json(fake_server):
    fake_server.respond = lambda handler: (200, {"Content-Type": "text/html"}, "<html>login</html>")
    with pytest.raises(prom.PrometheusResponseError, match="not JSON"):
        prom.PrometheusClient(fake_server.url).query_range("up", window="1m", step="10s")


def test_connection_refused():
    url = "http://127.0.0.1:%d" % closed_port()
    with pytest.raises(prom.PrometheusConnectionError, match="connection refused by"):
        prom.PrometheusClient(url).query_range("up", window="1m", step="10s")


@pytest.mark.parametrize("text,expected", [("1m30s", 90.0), ("500ms", 0.5), ("2h", 7200.0), ("15", 15.0), (2.5, 2.5), ("1w", 604800.0)])
def test_durations(text, expected):
    assert prom.seconds(text, "step") == expected
