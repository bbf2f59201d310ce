"""podinfo-compatible HTTP server.

Performance matters (the lab drives thousands of requests per second through Envoy into these
processes on two cores), hence HTTP/1.1 keep-alive, Nagle disabled and exactly one socket write
per response: ``http.server``'s defaults (HTTP/1.0, headers and body written separately) stall
for 40 ms per request on Nagle's algorithm.
"""

import json
import os
import platform
import random
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass, field, fields
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Dict, List, Optional, Tuple

DEFAULT_VERSION = "0.0.0-lab"
DEFAULT_REVISION = "lab"
DEFAULT_COLOR = "#34577c"
DEFAULT_LOGO = "https://raw.githubusercontent.com/stefanprodan/podinfo/gh-pages/cuddle_clap.gif"
# Prometheus client_golang's default buckets, which podinfo's histogram uses.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
RANDOM_ERROR_CODES = (500, 400, 409)

BOOL_FLAGS = {"random-delay", "random-error", "unhealthy", "unready", "h2c", "debug"}
# Flags podinfo knows that the lab has no use for; accepted so real manifests run unchanged.
IGNORED_VALUE_FLAGS = {
    "grpc-port", "grpc-service-name", "secure-port", "cert-path", "host", "data-path",
    "config-path", "config", "ui-path", "backend-url", "cache-server", "otel-service-name",
    "stress-cpu", "stress-memory", "server-shutdown-timeout", "http-client-timeout",
    "http-server-timeout", "ui-logo-path",
}


@dataclass
class Config:
    port: int = 9898
    port_metrics: int = 0
    ui_color: str = DEFAULT_COLOR
    ui_message: str = ""
    ui_logo: str = DEFAULT_LOGO
    random_delay: bool = False
    random_delay_unit: str = "s"
    random_delay_min: int = 0
    random_delay_max: int = 5
    random_error: bool = False
    unhealthy: bool = False
    unready: bool = False
    level: str = "info"
    version: str = DEFAULT_VERSION
    revision: str = DEFAULT_REVISION
    ignored: Dict[str, str] = field(default_factory=dict)


class ConfigError(ValueError):
    pass


def _parse_bool(name: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "t", "true", "yes", "on"):
        return True
    if lowered in ("0", "f", "false", "no", "off", ""):
        return False
    raise ConfigError(f"invalid boolean value {value!r} for --{name}: use true or false")


def _coerce(name: str, value: str, current):
    if isinstance(current, bool):
        return _parse_bool(name, value)
    if isinstance(current, int):
        try:
            return int(value)
        except ValueError:
            raise ConfigError(f"invalid integer value {value!r} for --{name}") from None
    return value


def parse_config(argv: List[str], environ: Optional[Dict[str, str]] = None) -> Config:
    """Flags win over ``PODINFO_*`` environment variables, which win over defaults (as viper does)."""
    environ = os.environ if environ is None else environ
    config = Config()
    known = {f.name.replace("_", "-"): f for f in fields(Config) if f.name not in ("version", "revision", "ignored")}

    for flag_name, f in known.items():
        env_name = "PODINFO_" + flag_name.replace("-", "_").upper()
        if env_name in environ:
            setattr(config, f.name, _coerce(flag_name, environ[env_name], getattr(config, f.name)))
    config.version = environ.get("PODINFO_VERSION") or DEFAULT_VERSION
    config.revision = environ.get("PODINFO_REVISION") or DEFAULT_REVISION

    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if not arg.startswith("-") or arg in ("-", "--"):
            raise ConfigError(f"unexpected argument {arg!r}: podinfo takes only --flags")
        name, has_value, value = arg.lstrip("-").partition("=")
        if name == "debug":
            if not has_value or _parse_bool(name, value):
                config.level = "debug"
            continue
        is_bool = name in BOOL_FLAGS
        if not has_value:
            if is_bool:
                value = "true"
            elif i < len(argv) and not argv[i].startswith("--"):
                value = argv[i]
                i += 1
            elif name in known or name in IGNORED_VALUE_FLAGS:
                raise ConfigError(f"flag needs an argument: --{name}")
            else:
                value = ""
        if name in known:
            f = known[name]
            setattr(config, f.name, _coerce(name, value, getattr(config, f.name)))
        else:
            config.ignored[name] = value
    if not config.ui_message:
        config.ui_message = f"greetings from podinfo v{config.version}"
    if config.random_delay_unit not in ("s", "ms"):
        raise ConfigError(f"invalid --random-delay-unit {config.random_delay_unit!r}: use s or ms")
    if config.random_delay_min > config.random_delay_max:
        raise ConfigError("--random-delay-min must not exceed --random-delay-max")
    return config


class Metrics:
    """The two series podinfo exports, rendered in the Prometheus text format."""

    def __init__(self):
        self._lock = threading.Lock()
        self._requests: Dict[str, int] = {}
        # (method, path, status) -> [bucket counts..., count, sum]
        self._durations: Dict[Tuple[str, str, str], List[float]] = {}

    def observe(self, method: str, path: str, status: int, seconds: float) -> None:
        code = str(status)
        key = (method, path, code)
        with self._lock:
            self._requests[code] = self._requests.get(code, 0) + 1
            series = self._durations.get(key)
            if series is None:
                series = self._durations[key] = [0] * (len(DURATION_BUCKETS) + 2)
            for index, bound in enumerate(DURATION_BUCKETS):
                if seconds <= bound:
                    series[index] += 1
            series[-2] += 1
            series[-1] += seconds

    def render(self) -> bytes:
        with self._lock:
            requests = dict(self._requests)
            durations = {k: list(v) for k, v in self._durations.items()}
        lines = [
            "# HELP http_request_duration_seconds Seconds spent serving HTTP requests.",
            "# TYPE http_request_duration_seconds histogram",
        ]
        for (method, path, code), series in sorted(durations.items()):
            labels = f'method="{method}",path="{path}",status="{code}"'
            for index, bound in enumerate(DURATION_BUCKETS):
                lines.append(f'http_request_duration_seconds_bucket{{{labels},le="{bound:g}"}} {series[index]}')
            lines.append(f'http_request_duration_seconds_bucket{{{labels},le="+Inf"}} {series[-2]}')
            lines.append(f"http_request_duration_seconds_sum{{{labels}}} {series[-1]!r}")
            lines.append(f"http_request_duration_seconds_count{{{labels}}} {series[-2]}")
        lines += [
            "# HELP http_requests_total The total number of HTTP requests.",
            "# TYPE http_requests_total counter",
        ]
        for code, count in sorted(requests.items()):
            lines.append(f'http_requests_total{{status="{code}"}} {count}')
        return ("\n".join(lines) + "\n").encode()


def route_label(template: str) -> str:
    """podinfo labels a request by its route template: ``/status/{code}`` -> ``status_code``."""
    cleaned = "".join(c if c.isalnum() else "_" for c in template.replace("{", "").replace("}", "")).strip("_")
    return cleaned or "root"


class State:
    def __init__(self, config: Config):
        self.config = config
        self.healthy = not config.unhealthy
        self.ready = not config.unready
        self.metrics = Metrics()
        self.hostname = os.environ.get("HOSTNAME") or socket.gethostname()

    def info(self) -> dict:
        return {
            "hostname": self.hostname,
            "version": self.config.version,
            "revision": self.config.revision,
            "color": self.config.ui_color,
            "logo": self.config.ui_logo,
            "message": self.config.ui_message,
            "goos": sys.platform,
            "goarch": platform.machine(),
            "runtime": "python" + platform.python_version(),
            "num_goroutine": str(threading.active_count()),
            "num_cpu": str(os.cpu_count() or 1),
        }


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "podinfo-lab"
    sys_version = ""
    state: State = None  # set per server class
    metrics_only = False

    def log_message(self, format, *args):  # noqa: A002 - signature fixed by http.server
        if self.state.config.level == "debug":
            super().log_message(format, *args)

    def _reply(self, status: int, body: bytes = b"", content_type: str = "application/json; charset=utf-8") -> int:
        head = (
            f"HTTP/1.1 {status} {self.responses.get(status, ('Status',))[0]}\r\n"
            f"Content-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\n"
            f"X-API-Version: {self.state.config.version}\r\n"
            f"X-Content-Type-Options: nosniff\r\n"
            "\r\n"
        ).encode("latin-1")
        self.wfile.write(head + (b"" if self.command == "HEAD" else body))
        return status

    def _json(self, status: int, payload) -> int:
        return self._reply(status, json.dumps(payload, indent=2).encode())

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _dispatch(self) -> None:
        started = time.perf_counter()
        body = self._body()
        path = self.path.split("?", 1)[0]
        template, status = path, 500
        try:
            template, status = self._route(path, body)
        finally:
            self.state.metrics.observe(self.command, route_label(template), status, time.perf_counter() - started)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _dispatch

    def _route(self, path: str, body: bytes) -> Tuple[str, int]:
        state, config = self.state, self.state.config
        if path == "/metrics":
            return path, self._reply(200, state.metrics.render(), "text/plain; version=0.0.4; charset=utf-8")
        if self.metrics_only and path not in ("/healthz", "/readyz"):
            return path, self._json(404, {"code": 404, "message": "not found"})
        if not self.metrics_only:
            if config.random_delay:
                low, high = config.random_delay_min, config.random_delay_max
                delay = random.randint(low, high)
                time.sleep(delay / 1000.0 if config.random_delay_unit == "ms" else delay)
            if config.random_error and random.randrange(3) == 0:
                return "random_error", self._reply(random.choice(RANDOM_ERROR_CODES), b"")
        if path in ("/", "/api/info"):
            return path, self._json(200, state.info())
        if path == "/version":
            return path, self._json(200, {"commit": config.revision, "version": config.version})
        if path == "/healthz":
            if state.healthy:
                return path, self._json(200, {"status": "OK"})
            return path, self._reply(503)
        if path == "/readyz":
            if state.ready:
                return path, self._json(200, {"status": "OK"})
            return path, self._reply(503)
        if path in ("/readyz/enable", "/readyz/disable") and self.command == "POST":
            state.ready = path.endswith("enable")
            return path, self._reply(202)
        if path == "/env":
            return path, self._json(200, [f"{k}={v}" for k, v in sorted(os.environ.items())])
        if path == "/headers":
            headers: Dict[str, List[str]] = {}
            for name, value in self.headers.items():
                headers.setdefault(name, []).append(value)
            return path, self._json(200, headers)
        if path in ("/echo", "/api/echo"):
            return path, self._reply(202 if self.command == "POST" else 200, body, self.headers.get("Content-Type") or "text/plain")
        if path.startswith("/status/"):
            code = path[len("/status/"):]
            if code.isdigit() and 100 <= int(code) <= 599:
                return "/status/{code}", self._json(int(code), {"status": int(code)})
            return "/status/{code}", self._json(400, {"code": 400, "message": f"invalid status code {code!r}"})
        if path.startswith("/delay/"):
            seconds = path[len("/delay/"):]
            if seconds.isdigit():
                time.sleep(int(seconds))
                return "/delay/{wait}", self._json(200, {"delay": int(seconds)})
            return "/delay/{wait}", self._json(400, {"code": 400, "message": f"invalid delay {seconds!r}"})
        return path, self._json(404, {"code": 404, "message": "not found"})


class PodinfoServer:
    """The app's listeners (main port, optional metrics port) in daemon threads."""

    def __init__(self, config: Config, host: str = "127.0.0.1"):
        self.config = config
        self.state = State(config)
        self.servers = [self._server(host, config.port, metrics_only=False)]
        if config.port_metrics:
            self.servers.append(self._server(host, config.port_metrics, metrics_only=True))
        self._threads: List[threading.Thread] = []

    def _server(self, host: str, port: int, metrics_only: bool) -> ThreadingHTTPServer:
        handler = type("BoundHandler", (Handler,), {"state": self.state, "metrics_only": metrics_only})
        server = ThreadingHTTPServer.__new__(ThreadingHTTPServer)
        server.daemon_threads = True
        server.request_queue_size = 256
        ThreadingHTTPServer.__init__(server, (host, port), handler)
        return server

    @property
    def port(self) -> int:
        return self.servers[0].server_address[1]

    @property
    def metrics_port(self) -> Optional[int]:
        return self.servers[1].server_address[1] if len(self.servers) > 1 else None

    def start(self) -> "PodinfoServer":
        for server in self.servers:
            thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self.state.ready = False
        for server in self.servers:
            server.shutdown()
            server.server_close()


def main(argv: Optional[List[str]] = None) -> int:
    try:
        config = parse_config(sys.argv[1:] if argv is None else argv)
    except ConfigError as exc:
        print(f"podinfo: {exc}", file=sys.stderr)
        return 2
    # Block the stop signals in every thread (server threads inherit the mask) and take them
    # synchronously below: a handler-based wait can sleep forever when the kernel delivers the
    # signal to a server thread while the main thread is blocked on a lock.
    stop_signals = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
    try:
        app = PodinfoServer(config).start()
    except OSError as exc:
        print(f"podinfo: cannot listen: {exc}", file=sys.stderr)
        return 1
    listening = f"port={app.port}" + (f" metrics_port={app.metrics_port}" if app.metrics_port else "")
    print(f"podinfo {config.version} listening on 127.0.0.1 {listening}", flush=True)
    if config.ignored:
        print(f"podinfo: ignoring flags not emulated by the lab: {', '.join(sorted(config.ignored))}", flush=True)
    signal.sigwait(stop_signals)
    # Exiting ends the daemon server threads at once; a graceful shutdown() would add a poll interval.
    for server in app.servers:
        server.server_close()
    return 0
