"""Start and stop a real Prometheus server for the lab and the analysis tests.

Standard library only (and ``tests/lab/common.py``), no imports from ``plugins/``: the lab is an independent stand-in for a
cluster, and the analysis tests use this file to check the product against a real server.

    with Prometheus(work_dir, CONFIG, rule_files={"rules.yml": RULES}) as prom:
        prom.wait_for_sample('up{job="app"}')
        prom.query('sum(up)')

Pitfalls this class handles (see the lab notes): the Debian package is unconfigured, so the config
file, a fresh data directory, the listen address and ``--web.enable-lifecycle`` are always given;
a reused data directory serves old samples, so "has data" means a sample newer than the start time;
the first scrape arrives some 5 s after start (target discovery is throttled), not at ``/-/ready``.
"""

import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

from .common import free_port, stop_processes

__all__ = ["Prometheus", "PrometheusError", "free_port"]

DEFAULT_BINARY = "prometheus"


class PrometheusError(RuntimeError):
    """The Prometheus process could not be started, reloaded or queried."""


class Prometheus:
    """One Prometheus process on 127.0.0.1 with its own config and data directory.

    ``config_text`` is the full prometheus.yml; ``rule_files`` maps file names to their text and is
    written next to the config, so the config can list them by relative name. ``work_dir`` holds
    ``prometheus.yml``, the rule files, ``data-<n>/`` (fresh for every start) and ``prometheus.log``.
    """

    def __init__(self, work_dir, config_text, rule_files=None, binary=None, host="127.0.0.1",
                 port=0, extra_args=(), ready_timeout=20.0):
        self.work_dir = os.path.abspath(str(work_dir))
        self.config_text = config_text
        self.rule_files = dict(rule_files or {})
        self.binary = binary or os.environ.get("PROMETHEUS_BINARY") or DEFAULT_BINARY
        self.host = host
        self.requested_port = int(port)
        self.extra_args = list(extra_args)
        self.ready_timeout = float(ready_timeout)
        self.port = None
        self.process = None
        self.started_at = None
        self.data_dir = None
        self._log = None

    # -- paths -------------------------------------------------------------------------------
    @property
    def url(self):
        if self.port is None:
            raise PrometheusError("Prometheus is not started")
        return "http://%s:%d" % (self.host, self.port)

    @property
    def config_path(self):
        return os.path.join(self.work_dir, "prometheus.yml")

    @property
    def log_path(self):
        return os.path.join(self.work_dir, "prometheus.log")

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self):
        """Start the process and wait for ``/-/ready``. Retries when the chosen port was taken."""
        if self.process is not None:
            raise PrometheusError("Prometheus is already running at %s" % self.url)
        if shutil.which(self.binary) is None and not os.path.isfile(self.binary):
            raise PrometheusError(
                "the Prometheus binary %r was not found: install it (Debian/Ubuntu: apt-get install prometheus) "
                "or set PROMETHEUS_BINARY" % self.binary)
        os.makedirs(self.work_dir, exist_ok=True)
        self._write_files(self.config_text, self.rule_files)
        self._check_config()
        attempts = 1 if self.requested_port else 3
        last_error = None
        for _attempt in range(attempts):
            try:
                self._spawn(self.requested_port or free_port(self.host))
                self.wait_ready(self.ready_timeout)
                return self
            except PrometheusError as exc:
                last_error = exc
                self.stop()
                if "address already in use" not in str(exc):
                    break
        raise last_error

    def _spawn(self, port):
        self.port = port
        # A fresh data directory for every start: old samples would pass for new ones.
        self.data_dir = tempfile.mkdtemp(prefix="data-", dir=self.work_dir)
        self._log = open(self.log_path, "ab")
        args = [
            self.binary,
            "--config.file=%s" % self.config_path,
            "--storage.tsdb.path=%s" % self.data_dir,
            "--storage.tsdb.retention.time=1d",
            "--web.listen-address=%s:%d" % (self.host, port),
            "--web.enable-lifecycle",
        ] + self.extra_args
        self.started_at = time.time()
        self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=self._log,
                                        stderr=subprocess.STDOUT, cwd=self.work_dir,
                                        start_new_session=True)

    def stop(self, timeout=10.0):
        """Stop the process (SIGTERM, then SIGKILL after ``timeout``); safe to call twice."""
        process, self.process = self.process, None
        if process is not None:
            stop_processes([process], timeout, group=False, kill_wait=timeout)
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    @property
    def running(self):
        return self.process is not None and self.process.poll() is None

    # -- readiness -------------------------------------------------------------------------------
    def wait_ready(self, timeout=None):
        """Wait until ``/-/ready`` answers 200; fail early with the log if the process exits."""
        deadline = time.monotonic() + (self.ready_timeout if timeout is None else timeout)
        while True:
            self._raise_if_exited()
            try:
                status, _body = self._request("GET", "/-/ready", timeout=1.0)
                if status == 200:
                    return
            except (OSError, urllib.error.URLError):
                pass
            if time.monotonic() >= deadline:
                raise PrometheusError("Prometheus at %s was not ready after %.1f s; log:\n%s"
                                      % (self.url, timeout or self.ready_timeout, self.log_tail()))
            time.sleep(0.05)

    def wait_for_sample(self, expr="up", timeout=20.0, since=None):
        """Wait until ``expr`` (a plain series selector) has a sample newer than ``since``.

        ``since`` defaults to this process' start time. Returns the query result (a list of
        ``{"metric", "value"}`` of ``timestamp(expr)``).
        """
        since = self.started_at if since is None else since
        deadline = time.monotonic() + timeout
        while True:
            result = self.query("timestamp(%s)" % expr)
            fresh = [s for s in result if float(s["value"][1]) > since]
            if fresh:
                return fresh
            if time.monotonic() >= deadline:
                raise PrometheusError("no sample of %s newer than %.3f after %.1f s (last result: %r); log:\n%s"
                                      % (expr, since, timeout, result, self.log_tail()))
            time.sleep(0.2)

    def wait_for(self, predicate, expr, timeout=20.0, interval=0.2):
        """Poll ``query(expr)`` until ``predicate(result)`` is true; returns the last result."""
        deadline = time.monotonic() + timeout
        while True:
            result = self.query(expr)
            if predicate(result):
                return result
            if time.monotonic() >= deadline:
                raise PrometheusError("condition on %s not met after %.1f s (last result: %r)" % (expr, timeout, result))
            time.sleep(interval)

    # -- API ---------------------------------------------------------------------------------------
    def reload(self, config_text=None, rule_files=None):
        """Optionally rewrite the config and/or rule files, then POST ``/-/reload``."""
        if config_text is not None:
            self.config_text = config_text
        if rule_files is not None:
            self.rule_files.update(rule_files)
        self._write_files(self.config_text, self.rule_files)
        self._check_config()
        status, body = self._request("POST", "/-/reload", timeout=10.0)
        if status != 200:
            raise PrometheusError("reload failed (HTTP %d): %s" % (status, body.decode("utf-8", "replace")))

    def query(self, expr, at=None):
        """Instant query; returns ``data.result`` (raises PrometheusError on an API error)."""
        params = {"query": expr}
        if at is not None:
            params["time"] = "%.3f" % at
        status, body = self._request("GET", "/api/v1/query?" + urllib.parse.urlencode(params), timeout=5.0)
        try:
            doc = json.loads(body.decode("utf-8"))
        except ValueError:
            raise PrometheusError("query %r: HTTP %d, not JSON: %r" % (expr, status, body[:200]))
        if doc.get("status") != "success":
            raise PrometheusError("query %r: %s: %s" % (expr, doc.get("errorType"), doc.get("error")))
        return doc["data"]["result"]

    def log_tail(self, lines=30):
        try:
            with open(self.log_path, "rb") as handle:
                return b"".join(handle.readlines()[-lines:]).decode("utf-8", "replace")
        except OSError:
            return "(no log)"

    # -- internals ---------------------------------------------------------------------------------
    def _write_files(self, config_text, rule_files):
        for name, text in list(rule_files.items()) + [("prometheus.yml", config_text)]:
            path = os.path.join(self.work_dir, name)
            tmp = path + ".tmp"
            with open(tmp, "w", encoding="utf-8") as handle:
                handle.write(text)
            os.replace(tmp, path)

    def _check_config(self):
        """Validate with promtool when available: a bad config then fails with its message."""
        promtool = shutil.which("promtool")
        if promtool is None:
            return
        proc = subprocess.run([promtool, "check", "config", self.config_path], cwd=self.work_dir,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30, check=False)
        if proc.returncode != 0:
            raise PrometheusError("invalid Prometheus config %s:\n%s"
                                  % (self.config_path, proc.stdout.decode("utf-8", "replace")))

    def _raise_if_exited(self):
        if self.process is None:
            raise PrometheusError("Prometheus is not running")
        code = self.process.poll()
        if code is not None:
            raise PrometheusError("Prometheus exited with code %s; log:\n%s" % (code, self.log_tail()))

    def _request(self, method, path, timeout):
        request = urllib.request.Request(self.url + path, method=method,
                                         data=b"" if method == "POST" else None)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()
