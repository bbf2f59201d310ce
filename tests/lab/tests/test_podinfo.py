"""The podinfo-compatible sample app: flags, endpoints, metrics, speed, start and stop."""

import http.client
import json
import os
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.lab.podinfo.app import Config, ConfigError, PodinfoServer, parse_config, route_label

REPO = Path(__file__).resolve().parents[3]


def test_flags_override_env_and_defaults():
    config = parse_config(
        ["--port=9000", "--ui-message", "hello", "--random-error", "--unready=false", "--grpc-port=9999",
         "--grpc-service-name=podinfo", "--level=info", "--random-delay=false"],
        {"PODINFO_UI_COLOR": "#ff0000", "PODINFO_PORT": "7000", "PODINFO_UNREADY": "true", "PODINFO_VERSION": "6.0.1"},
    )
    assert config.port == 9000
    assert config.ui_color == "#ff0000"
    assert config.ui_message == "hello"
    assert config.random_error is True
    assert config.unready is False
    assert config.random_delay is False
    assert config.version == "6.0.1"
    assert config.ignored == {"grpc-port": "9999", "grpc-service-name": "podinfo"}


def test_defaults_follow_podinfo():
    config = parse_config([], {})
    assert (config.port, config.port_metrics, config.ui_color) == (9898, 0, "#34577c")
    assert config.ui_message == f"greetings from podinfo v{config.version}"
    assert (config.random_delay_min, config.random_delay_max, config.random_delay_unit) == (0, 5, "s")


@pytest.mark.parametrize("argv, field", [
    (["--port=abc"], "--port"),
    (["--random-error=maybe"], "--random-error"),
    (["--port"], "--port"),
    (["stray"], "stray"),
    (["--random-delay-unit=h"], "--random-delay-unit"),
])
def test_bad_flags_name_the_flag(argv, field):
    with pytest.raises(ConfigError, match=re.escape(field)):
        parse_config(argv, {})


def test_route_labels():
    assert route_label("/") == "root"
    assert route_label("/status/{code}") == "status_code"
    assert route_label("/readyz/enable") == "readyz_enable"


@pytest.fixture
def app():
    server = PodinfoServer(Config(port=0, port_metrics=0, version="6.0.1", ui_message="hi")).start()
    yield server
    server.stop()


def request(port, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def test_endpoints(app):
    status, headers, body = request(app.port, "GET", "/")
    info = json.loads(body)
    assert status == 200 and headers["X-API-Version"] == "6.0.1"
    assert info["version"] == "6.0.1" and info["message"] == "hi" and info["color"] == "#34577c"
    assert set(info) >= {"hostname", "revision", "logo", "goos", "goarch", "runtime", "num_goroutine", "num_cpu"}
    assert json.loads(request(app.port, "GET", "/version")[2]) == {"commit": "lab", "version": "6.0.1"}
    assert request(app.port, "GET", "/status/418")[0] == 418
    assert request(app.port, "GET", "/status/abc")[0] == 400
    assert json.loads(request(app.port, "GET", "/delay/0")[2]) == {"delay": 0}
    assert request(app.port, "POST", "/echo", body=b"ping")[2] == b"ping"
    assert json.loads(request(app.port, "GET", "/headers", headers={"X-Canary": "insider"})[2])["X-Canary"] == ["insider"]
    assert any(entry.startswith("PATH=") for entry in json.loads(request(app.port, "GET", "/env")[2]))
    assert request(app.port, "GET", "/nope")[0] == 404
    for path in ("/status/500", "/healthz", "/missing"):
        assert request(app.port, "GET", path)[1]["X-API-Version"] == "6.0.1"


def test_readiness_toggles(app):
    assert request(app.port, "GET", "/readyz")[0] == 200
    assert request(app.port, "POST", "/readyz/disable")[0] == 202
    assert request(app.port, "GET", "/readyz")[0] == 503
    assert request(app.port, "GET", "/healthz")[0] == 200
    assert request(app.port, "POST", "/readyz/enable")[0] == 202
    assert request(app.port, "GET", "/readyz")[0] == 200


def test_unhealthy_and_unready_flags():
    server = PodinfoServer(parse_config(["--port=0", "--unhealthy", "--unready"], {})).start()
    try:
        assert request(server.port, "GET", "/healthz")[0] == 503
        assert request(server.port, "GET", "/readyz")[0] == 503
    finally:
        server.stop()


def test_metrics_count_requests_by_status(app):
    for path in ("/", "/", "/status/503"):
        request(app.port, "GET", path)
    text = request(app.port, "GET", "/metrics")[2].decode()
    assert 'http_requests_total{status="200"} 2' in text
    assert 'http_requests_total{status="503"} 1' in text
    assert 'http_request_duration_seconds_count{method="GET",path="status_code",status="503"} 1' in text
    assert re.search(r'http_request_duration_seconds_bucket\{method="GET",path="root",status="200",le="\+Inf"\} 2', text)


def test_metrics_port_serves_metrics_only():
    server = PodinfoServer(Config(port=0, port_metrics=0)).start()  # 0 leaves the metrics port off, as in podinfo
    assert server.metrics_port is None
    server.stop()
    config = parse_config(["--port=0"], {})
    config.port_metrics = _free_port()
    server = PodinfoServer(config).start()
    try:
        request(server.port, "GET", "/")
        assert b'http_requests_total{status="200"} 1' in request(server.metrics_port, "GET", "/metrics")[2]
        assert request(server.metrics_port, "GET", "/")[0] == 404
    finally:
        server.stop()


def _free_port():
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_random_error_fails_one_in_three_with_podinfo_codes():
    server = PodinfoServer(parse_config(["--port=0", "--random-error=true"], {})).start()
    try:
        codes = Counter(request(server.port, "GET", "/")[0] for _ in range(600))
    finally:
        server.stop()
    assert set(codes) <= {200, 400, 409, 500}
    failed = 600 - codes[200]
    assert 140 <= failed <= 260, codes  # 1/3 of 600 = 200
    assert codes[500] > 0 and codes[400] > 0 and codes[409] > 0


def test_random_delay_in_milliseconds():
    server = PodinfoServer(parse_config(
        ["--port=0", "--random-delay", "--random-delay-unit=ms", "--random-delay-min=30", "--random-delay-max=40"], {})).start()
    try:
        started = time.perf_counter()
        request(server.port, "GET", "/")
        elapsed = time.perf_counter() - started
    finally:
        server.stop()
    assert 0.03 <= elapsed < 0.5


def test_keep_alive_many_requests_are_fast(app):
    conn = http.client.HTTPConnection("127.0.0.1", app.port, timeout=5)
    started = time.perf_counter()
    for _ in range(500):
        conn.request("GET", "/")
        response = conn.getresponse()
        response.read()
        assert response.status == 200
    elapsed = time.perf_counter() - started
    conn.close()
    # One connection, sequential: without Nagle fixes this takes 40 ms per request (20 s).
    assert elapsed < 2.5, elapsed


def test_process_starts_fast_uses_image_version_and_exits_on_sigterm():
    env = dict(os.environ, PODINFO_VERSION="6.0.1", PODINFO_UI_COLOR="#00ff00")
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.lab.podinfo", "--port=0", "--grpc-port=9999", "--level=info"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, text=True,
    )
    try:
        line = proc.stdout.readline()
        ready = time.perf_counter() - started
        port = int(re.search(r"port=(\d+)", line).group(1))
        info = json.loads(request(port, "GET", "/")[2])
        assert info["version"] == "6.0.1" and info["color"] == "#00ff00"
        assert ready < 1.0, ready  # typically ~0.1 s
    finally:
        proc.terminate()
        assert proc.wait(timeout=5) == 0


def test_process_rejects_bad_flag():
    proc = subprocess.run([sys.executable, "-m", "tests.lab.podinfo", "--port=x"], cwd=REPO, capture_output=True, text=True, timeout=10)
    assert proc.returncode == 2
    assert "--port" in proc.stderr
