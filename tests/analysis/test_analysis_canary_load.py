"""canary_load with the real hey against a local server with a known error rate and delay."""

import re
import shutil
import time

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils.analysis import load
from ansible_collections.progressive.delivery.plugins.modules import canary_load

from tests.analysis.conftest import AppServer, closed_port, run_module


@pytest.fixture(autouse=True, scope="module")
def hey_installed():
    # Not a skip: CI installs hey, and a missing hey must show as a failure there.
    assert shutil.which("hey"), "hey is not installed: apt-get install hey"


@pytest.fixture
def app():
    server = AppServer()
    yield server
    server.stop()


def test_known_error_rate_and_latency(capsys, app):
    result = run_module(canary_load, {"url": app.url, "requests": 100, "concurrency": 4}, capsys)
    assert result.get("failed") is not True, result
    assert (result["requests"], result["responses"], result["errors"]) == (100, 100, 0)
    assert result["status_codes"] == {"200": 80, "500": 20}
    assert result["success_rate"] == 80.0
    latency = result["latency_ms"]
    # 10 of 100 responses take >= 100 ms: nearest rank puts p90 among the fast ones, p95 among the slow.
    assert 5.0 <= latency["p50"] < 60.0
    assert latency["p90"] < 100.0 <= latency["p95"] <= latency["p99"] <= latency["max"]
    assert latency["min"] >= 5.0 and latency["max"] < 1000.0
    assert result["duration"] > 0 and result["rps"] == pytest.approx(100 / result["duration"], rel=0.01)
    assert result["cmd"][1:] == ["-o", "csv", "-n", "100", "-c", "4", "-m", "GET", app.url]
    assert app.count == 100


def test_timeouts_are_counted_as_errors_in_request_mode(capsys):
    server = AppServer(hang_every=10, hang=1.5)
    try:
        result = run_module(canary_load, {"url": server.url, "requests": 40, "concurrency": 4, "timeout": 1}, capsys)
    finally:
        server.stop()
    assert (result["requests"], result["responses"], result["errors"]) == (40, 36, 4)
    assert result["success_rate"] == pytest.approx(100.0 * sum(v for k, v in result["status_codes"].items() if int(k) < 500) / 40)


def test_duration_mode_with_rate_limit(capsys, app):
    result = run_module(canary_load, {"url": app.url, "duration": "2s", "qps": 10, "concurrency": 2}, capsys)
    assert result["errors"] is None and result["requests"] == result["responses"]
    # 10/s per worker x 2 workers for 2 s
    assert 30 <= result["requests"] <= 44
    assert 1.5 <= result["duration"] <= 2.5 and 14 <= result["rps"] <= 24
    assert result["cmd"][3:9] == ["-z", "2s", "-c", "2", "-q", "10"]


def test_method_headers_host_body(capsys, app):
    result = run_module(canary_load, {"url": app.url + "echo?x=1", "requests": 2, "concurrency": 1, "method": "POST",
                                      "headers": {"X-Canary": "insider", "X-Note": "a; rm -rf / $(id)"}, "host": "podinfo.test",
                                      "body": '{"ping": true}', "content_type": "application/json"}, capsys)
    assert result["requests"] == 2
    request = app.requests[0]
    headers = dict((k.lower(), v) for k, v in request["headers"].items())
    assert request["method"] == "POST" and request["path"] == "/echo?x=1"
    assert headers["x-canary"] == "insider" and headers["x-note"] == "a; rm -rf / $(id)"
    assert headers["host"] == "podinfo.test" and headers["content-type"] == "application/json"
    assert request["body"] == b'{"ping": true}'


def test_check_mode_sends_nothing(capsys, app):
    result = run_module(canary_load, {"url": app.url, "duration": "5s", "qps": 5, "concurrency": 2}, capsys, check_mode=True)
    assert result["changed"] is False and "no load sent" in result["msg"]
    assert result["cmd"][1:] == ["-o", "csv", "-z", "5s", "-c", "2", "-q", "5", "-m", "GET", app.url]
    assert "requests" not in result
    time.sleep(0.2)
    assert app.count == 0


def test_hey_missing_gives_the_install_hint(capsys, app):
    result = run_module(canary_load, {"url": app.url, "executable": "hey-is-not-installed"}, capsys)
    assert result["failed"] is True
    assert "hey (hey-is-not-installed) was not found" in result["msg"] and "apt-get install hey" in result["msg"]


def test_nothing_listening_fails_clearly(capsys):
    url = "http://127.0.0.1:%d/" % closed_port()
    result = run_module(canary_load, {"url": url, "requests": 4, "concurrency": 2}, capsys)
    assert result["failed"] is True and "hey got no HTTP response from %s" % url in result["msg"]
    assert result["errors"] == 4 and result["success_rate"] == 0.0


@pytest.mark.parametrize("args,message", [
    ({"requests": 10, "concurrency": 20}, r"requests \(10\) must be at least concurrency \(20\)"),
    ({"requests": 10}, r"requests \(10\) must be at least concurrency \(50, hey's default\)"),
    ({"duration": "1 minute"}, "duration '1 minute' is not a duration hey understands"),
    ({"duration": "10s", "requests": 100}, "mutually exclusive"),
    ({"headers": {"Bad Name": "x"}}, "'Bad Name' is not a valid HTTP header name"),
    ({"headers": {"X-A": "a\r\nX-Injected: 1"}}, "headers.X-A: the value must not contain a line break"),
    ({"qps": 0}, "qps must be a positive rate"),
    ({"url": "podinfo:9898"}, "must be an http:// or https:// URL"),
])
def test_bad_options_name_the_field(capsys, args, message):
    full = {"url": "http://127.0.0.1:1/"}
    full.update(args)
    result = run_module(canary_load, full, capsys)
    assert result["failed"] is True
    assert re.search(message, result["msg"]), result["msg"]


# -- the arithmetic, on a hand-made CSV ----------------------------------------------------------
CSV = """response-time,DNS+dialup,DNS,Request-write,Response-delay,Response-read,status-code,offset
0.0100,0.0001,0.0000,0.0000,0.0098,0.0001,200,0.0000
0.0200,0.0001,0.0000,0.0000,0.0198,0.0001,200,0.0100
0.0300,0.0001,0.0000,0.0000,0.0298,0.0001,503,0.0200
0.0400,0.0001,0.0000,0.0000,0.0398,0.0001,404,0.0300
"""


def test_summary_from_csv_uses_nearest_rank():
    rows = load.parse_csv(CSV)
    result = load.summarize(rows, sent=5)
    assert (result["requests"], result["responses"], result["errors"]) == (5, 4, 1)
    assert result["status_codes"] == {"200": 2, "503": 1, "404": 1}
    assert result["success_rate"] == 60.0          # 200, 200, 404 of 5 sent
    assert result["latency_ms"] == {"min": 10.0, "mean": 25.0, "p50": 20.0, "p90": 40.0, "p95": 40.0, "p99": 40.0, "max": 40.0}
    assert result["duration"] == 0.07 and result["rps"] == pytest.approx(4 / 0.07, abs=0.01)


def test_nearest_rank_on_100_values():
    values = [float(i) for i in range(1, 101)]
    assert [load.nearest_rank(values, p) for p in (50, 90, 95, 99, 100)] == [50.0, 90.0, 95.0, 99.0, 100.0]


def test_parse_csv_refuses_text_output():
    with pytest.raises(ValueError, match="did not print its CSV header"):
        load.parse_csv("Summary:\n  Total: 1.0 secs\n")
