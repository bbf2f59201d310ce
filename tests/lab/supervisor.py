"""The long-running lab process (``python -m tests.lab serve --dir DIR``).

In threads: the emulated API server, the controllers (every pod a real sample-app process), the mesh
sync and the telemetry sync. As child processes: Envoy, Prometheus and the pods. ``DIR/lab.json``
says where everything listens and which processes the lab owns; it is rewritten when the pods
change. Nothing is restarted silently: when Envoy or Prometheus dies the lab reports ``degraded``
with the reason in ``lab.json`` and in ``DIR/logs/lab.log``.
"""

import json
import logging
import os
import signal
import socket
import threading
import time
from typing import List, Optional

from .apiserver import start_apiserver
from .controllers import start_controllers
from .mesh import Envoy, MeshSync
from .mesh.envoy import atomic_write, free_port
from .prometheus import Prometheus
from .telemetry import Telemetry

log = logging.getLogger("tests.lab")

LAB_FILE = "lab.json"


def lab_file(directory: str) -> str:
    return os.path.join(os.path.abspath(directory), LAB_FILE)


def read_lab(directory: str) -> Optional[dict]:
    try:
        with open(lab_file(directory), encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        return None


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


class Lab:
    def __init__(self, directory: str):
        self.directory = os.path.abspath(directory)
        self.logs = os.path.join(self.directory, "logs")
        self.started = time.time()
        self.api = None
        self.controllers = None
        self.envoy: Optional[Envoy] = None
        self.prometheus: Optional[Prometheus] = None
        self.mesh: Optional[MeshSync] = None
        self.telemetry: Optional[Telemetry] = None
        self.state = "starting"
        self.errors: List[str] = []
        self.ready_seconds: Optional[float] = None
        self._stop = threading.Event()
        self._write_lock = threading.Lock()
        self._last_pids = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        os.makedirs(self.logs, exist_ok=True)
        self.write()  # pids.supervisor from the first moment on: `down` can always stop us
        envoy_dir = os.path.join(self.directory, "envoy")
        os.makedirs(envoy_dir, exist_ok=True)
        self.envoy = Envoy(envoy_dir, log_path=os.path.join(self.logs, "envoy.log"))
        mesh_port, ingress_port = free_port(), free_port()
        envoy_admin = "127.0.0.1:%d" % self.envoy.admin_port

        # Prometheus first: its first scrape comes ~5 s after start whatever we do, so overlap it.
        self.telemetry = Telemetry(os.path.join(self.directory, "prometheus"), envoy_admin)
        self.prometheus = Prometheus(self.telemetry.directory, self.telemetry.config())
        self.prometheus.start()
        self._link_log(self.prometheus.log_path, "prometheus.log")
        log.info("prometheus %s (pid %d)", self.prometheus.url, self.prometheus.process.pid)

        self.api = start_apiserver()
        self.api.write_kubeconfig(os.path.join(self.directory, "kubeconfig"))
        self.controllers = start_controllers(self.api.store, pods="processes", log_dir=os.path.join(self.logs, "pods"))
        log.info("api server %s", self.api.url)

        self.mesh = MeshSync(self.api.store, self.envoy, mesh_port, ingress_port, listeners=[self.telemetry.update, self._on_sync])
        self.mesh.sync_once()  # the files Envoy boots from
        self.envoy.start()
        log.info("envoy admin %s (pid %d), mesh :%d, ingress :%d", self.envoy.admin_url, self.envoy.process.pid, mesh_port, ingress_port)
        self.mesh.start()
        self.telemetry.start(self.prometheus)
        for port in (mesh_port, ingress_port):
            deadline = time.monotonic() + 5
            while not _listening(port):
                if time.monotonic() > deadline:
                    raise RuntimeError("envoy did not listen on 127.0.0.1:%d (port taken?); see %s" % (port, self.envoy.log_path))
                time.sleep(0.02)
        # Ready means telemetry flows: a fresh sample of Envoy's stats (a reused or slow Prometheus
        # would otherwise pass for ready, lab notes pitfall 8).
        self.prometheus.wait_for_sample('up{job="envoy"}', timeout=20)
        self.state = "running"
        self.ready_seconds = round(time.time() - self.started, 2)
        self.write()
        log.info("lab ready in %.2f s", self.ready_seconds)

    def _link_log(self, source: str, name: str) -> None:
        target = os.path.join(self.logs, name)
        if not os.path.lexists(target):
            os.symlink(source, target)

    def _on_sync(self, _result, _state) -> None:
        if self.state == "running" and self.controllers is not None and sorted(self.controllers.pids()) != self._last_pids:
            self.write()

    def pids(self) -> dict:
        pods = sorted(self.controllers.pids()) if self.controllers is not None else []
        self._last_pids = pods
        return {
            "supervisor": os.getpid(),
            "envoy": self.envoy.process.pid if self.envoy is not None and self.envoy.process is not None else None,
            "prometheus": self.prometheus.process.pid if self.prometheus is not None and self.prometheus.process is not None else None,
            "pods": pods,
        }

    def info(self) -> dict:
        info = {
            "dir": self.directory,
            "state": self.state,
            "started_at": self.started,
            "ready_seconds": self.ready_seconds,
            "logs": self.logs,
            "pids": self.pids(),
            "errors": list(self.errors),
        }
        if self.api is not None:
            info.update(api=self.api.url, token=self.api.token, kubeconfig=os.path.join(self.directory, "kubeconfig"))
        if self.mesh is not None:
            info.update(mesh="http://127.0.0.1:%d" % self.mesh.mesh_port, ingress="http://127.0.0.1:%d" % self.mesh.ingress_port,
                        mesh_port=self.mesh.mesh_port, ingress_port=self.mesh.ingress_port)
        if self.envoy is not None:
            info.update(envoy_admin=self.envoy.admin_url)
        if self.prometheus is not None and self.prometheus.port is not None:
            info.update(prometheus=self.prometheus.url)
        return info

    def write(self) -> None:
        with self._write_lock:
            atomic_write(lab_file(self.directory), json.dumps(self.info(), indent=2, sort_keys=True) + "\n")

    def watch(self) -> None:
        """Until stopped: report (never restart) dead child processes and sync errors."""
        while not self._stop.wait(1.0):
            problems = []
            for name, process in (("envoy", self.envoy.process), ("prometheus", self.prometheus.process)):
                if process is None or process.poll() is not None:
                    problems.append("%s exited with code %s" % (name, None if process is None else process.returncode))
            for name, part in (("mesh sync", self.mesh), ("telemetry", self.telemetry)):
                if part is not None and part.last_error:
                    problems.append("%s: %s" % (name, part.last_error))
            if problems != self.errors:
                for problem in problems:
                    log.error("%s", problem)
                self.errors = problems
                self.state = "degraded" if problems else "running"
                self.write()

    def request_stop(self) -> None:
        self._stop.set()

    def stop(self) -> None:
        self.state = "stopping"
        self.write()
        for name, action in (
            ("mesh sync", lambda: self.mesh and self.mesh.stop()),
            ("telemetry", lambda: self.telemetry and self.telemetry.stop()),
            ("controllers and pods", lambda: self.controllers and self.controllers.stop()),
            ("envoy", lambda: self.envoy and self.envoy.stop()),
            ("prometheus", lambda: self.prometheus and self.prometheus.stop()),
            ("api server", lambda: self.api and self.api.stop()),
        ):
            try:
                action()
            except Exception:
                log.exception("stopping %s failed", name)
        self.state = "stopped"
        self.write()
        log.info("lab stopped")


def serve(directory: str) -> int:
    """Run a lab in the foreground until SIGTERM or SIGINT."""
    directory = os.path.abspath(directory)
    os.makedirs(os.path.join(directory, "logs"), exist_ok=True)
    logging.basicConfig(filename=os.path.join(directory, "logs", "lab.log"), level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    lab = Lab(directory)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: lab.request_stop())
    code = 0
    try:
        lab.start()
        lab.watch()
    except Exception as exc:
        log.exception("lab failed")
        lab.errors.append("%s: %s" % (type(exc).__name__, exc))
        code = 1
    finally:
        lab.stop()
        if code:
            lab.state = "failed"
            lab.write()
    return code
