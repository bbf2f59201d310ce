"""The lab's kubelet: brings pods to life, either simulated or as real local processes.

`simulated`: no process; a pod is Running at once and Ready after its readiness probe's
initialDelaySeconds (fast module tests).
`processes`: every pod runs `python -m tests.lab.podinfo ...` (tests/lab/DESIGN.md "Pods as
processes"): ports rewritten to host ports from the OS, env from the container spec, readiness and
liveness probes honoured, exits restarted with back-off (CrashLoopBackOff), deletion stops the process.
"""

import base64
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from typing import Dict, List, Optional

from ..apiserver.errors import ApiError
from . import common

HOST_PORTS_ANNOTATION = "lab.progressive.delivery/host-ports"
POD_IP = "127.0.0.1"
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
APP_MODULE = "tests.lab.podinfo"
_PODINFO_BINARIES = {"./podinfo", "podinfo", "/podinfo", "/home/app/podinfo"}
# Back-off between restarts of a crashed container: the real kubelet starts at 10 s and doubles up
# to 5 min; the lab keeps the shape but shortens it so tests see restarts quickly.
_PORT_VARIABLES = ("PODINFO_PORT", "PODINFO_PORT_METRICS", "PODINFO_GRPC_PORT")
BACKOFF_START = 1.0
BACKOFF_MAX = 20.0


def image_tag(image: str) -> str:
    """`ghcr.io/stefanprodan/podinfo:6.0.1` -> `6.0.1` (digest and missing tag -> `latest`)."""
    last = (image or "").split("@")[0].rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else "latest"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((POD_IP, 0))
        return sock.getsockname()[1]


def rewrite_args(argv: List[str], host_ports: Dict[int, int]) -> List[str]:
    """Drop the podinfo binary; map every `--*port*=N` / `--*port* N` naming a containerPort to its host port."""
    args = list(argv)
    if args and (args[0] in _PODINFO_BINARIES or args[0].endswith("/podinfo")):
        args = args[1:]
    result = []
    index = 0
    while index < len(args):
        arg = args[index]
        match = re.match(r"^(--?[\w.-]*port[\w.-]*)=(\d+)$", arg)
        if match and int(match.group(2)) in host_ports:
            result.append("%s=%d" % (match.group(1), host_ports[int(match.group(2))]))
        elif re.match(r"^--?[\w.-]*port[\w.-]*$", arg) and index + 1 < len(args) and args[index + 1].isdigit() \
                and int(args[index + 1]) in host_ports:
            result.extend([arg, str(host_ports[int(args[index + 1])])])
            index += 1
        else:
            result.append(arg)
        index += 1
    return result


class ConfigError(Exception):
    """CreateContainerConfigError: a referenced ConfigMap/Secret (key) is missing."""


class Kubelet:
    def __init__(self, manager, pods: str = "simulated", log_dir: Optional[str] = None, app_module: str = APP_MODULE):
        if pods not in ("simulated", "processes"):
            raise ValueError("pods must be 'simulated' or 'processes', not %r" % pods)
        self.manager = manager
        self.store = manager.store
        self.mode = pods
        self.log_dir = log_dir
        self.app_module = app_module
        self._runners: Dict[str, "PodRunner"] = {}
        self._lock = threading.Lock()
        self._stopped = False
        self._stopping: List[threading.Thread] = []  # runners of deleted pods still shutting down
        manager.handle("Pod", self.reconcile)
        self.store.pod_log_reader = self.read_log

    def log_path(self, namespace: str, name: str, container: str) -> Optional[str]:
        if not self.log_dir:
            return None
        return os.path.join(self.log_dir, "%s_%s_%s.log" % (namespace, name, container))

    def read_log(self, namespace: str, name: str, container: Optional[str]) -> Optional[str]:
        path = self.log_path(namespace, name, container or "")
        if path is None or not os.path.exists(path):
            return None
        with open(path, "rb") as handle:
            return handle.read().decode("utf-8", "replace")

    def reconcile(self, namespace: str, name: str) -> Optional[float]:
        pod = self.store.get("v1", "Pod", namespace, name)
        key = "%s/%s" % (namespace, name)
        with self._lock:
            runner = self._runners.get(key)
            if pod is None or (runner is not None and runner.uid != pod["metadata"]["uid"]):
                if runner is not None:
                    del self._runners[key]
                    stopper = threading.Thread(target=runner.stop, name="lab-pod-stop", daemon=True)
                    stopper.start()
                    self._stopping.append(stopper)
                    self._stopping = [t for t in self._stopping if t.is_alive()]
                runner = None
            if pod is None or self._stopped or not pod["spec"].get("nodeName"):
                return None
            if runner is None:
                cls = ProcessPod if self.mode == "processes" else SimulatedPod
                runner = cls(self, pod)
                self._runners[key] = runner
                runner.start()
        return None

    def pids(self) -> List[int]:
        with self._lock:
            return [pid for runner in self._runners.values() for pid in runner.pids()]

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            runners = list(self._runners.values())
            self._runners.clear()
            pending = list(self._stopping)
        threads = [threading.Thread(target=r.stop, daemon=True) for r in runners]
        for thread in threads:
            thread.start()
        for thread in threads + pending:
            thread.join(timeout=15)


class PodRunner:
    """One pod: a thread that drives the containers and writes the pod status when it changes."""

    def __init__(self, kubelet: Kubelet, pod: dict):
        self.kubelet = kubelet
        self.store = kubelet.store
        self.namespace = pod["metadata"]["namespace"]
        self.name = pod["metadata"]["name"]
        self.uid = pod["metadata"]["uid"]
        self.pod = pod
        self.started_at = common.timestamp()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="lab-pod-%s" % self.name, daemon=True)

    def start(self):
        self._thread.start()

    def pids(self) -> List[int]:
        return []

    def stop(self):
        self._stop.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=15)

    def _loop(self):
        raise NotImplementedError

    # status -------------------------------------------------------------
    def write_status(self, containers: List[dict], phase: str = "Running", extra_metadata: Optional[dict] = None) -> bool:
        """Write the pod status from container statuses; False once the pod is gone."""
        for _ in range(5):
            pod = self.store.get("v1", "Pod", self.namespace, self.name)
            if pod is None or pod["metadata"]["uid"] != self.uid:
                return False
            if extra_metadata:
                annotations = pod["metadata"].setdefault("annotations", {})
                if any(annotations.get(k) != v for k, v in extra_metadata.items()):
                    annotations.update(extra_metadata)
                    try:
                        pod = self.store.update(pod)
                    except ApiError as error:
                        if error.code == 409:
                            continue
                        if error.code == 404:
                            return False
                        raise
            status = dict(pod.get("status") or {})
            all_ready = bool(containers) and all(c["ready"] for c in containers)
            conditions = status.get("conditions") or []
            for kind, value in (("PodReadyToStartContainers", "True"), ("Initialized", "True"), ("Ready", all_ready),
                                ("ContainersReady", all_ready), ("PodScheduled", "True")):
                value = value if isinstance(value, str) else ("True" if value else "False")
                reason = "" if value == "True" or kind not in ("Ready", "ContainersReady") else "ContainersNotReady"
                old = common.condition(conditions, kind)
                if old is None or old.get("status") != value:
                    new = {"type": kind, "status": value, "lastProbeTime": None, "lastTransitionTime": common.timestamp()}
                    if reason:
                        new["reason"] = reason
                        new["message"] = "containers with unready status: [%s]" % " ".join(c["name"] for c in containers if not c["ready"])
                    conditions = [c for c in conditions if c.get("type") != kind] + [new]
            order = ["PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled"]
            conditions.sort(key=lambda c: order.index(c["type"]) if c["type"] in order else len(order))
            status.update(
                phase=phase,
                conditions=conditions,
                hostIP=POD_IP,
                hostIPs=[{"ip": POD_IP}],
                podIP=POD_IP,
                podIPs=[{"ip": POD_IP}],
                startTime=self.started_at,
                containerStatuses=containers,
            )
            status.setdefault("qosClass", "BestEffort")
            if status == pod.get("status"):
                return True
            pod["status"] = status
            try:
                self.store.update_status(pod)
                return True
            except ApiError as error:
                if error.code == 404:
                    return False
                if error.code != 409:
                    raise
        return True


def _container_status(container: dict, ready: bool, state: dict, restarts: int = 0, last_state: Optional[dict] = None,
                      container_id: str = "") -> dict:
    return {
        "name": container["name"],
        "image": container.get("image", ""),
        "imageID": "",
        "containerID": container_id,
        "ready": ready,
        "started": "running" in state,
        "restartCount": restarts,
        "state": state,
        "lastState": last_state or {},
    }


class SimulatedPod(PodRunner):
    def _loop(self):
        containers = self.pod["spec"].get("containers") or []
        started = common.timestamp()
        delays = [((c.get("readinessProbe") or {}).get("initialDelaySeconds") or 0) for c in containers]
        running = [_container_status(c, False, {"running": {"startedAt": started}}, container_id="lab://simulated/%s" % self.uid)
                   for c in containers]
        if not self.write_status(running):
            return
        begin = time.monotonic()
        for index, delay in sorted(enumerate(delays), key=lambda item: item[1]):
            if self._stop.wait(max(0.0, begin + delay - time.monotonic())):
                return
            running[index] = dict(running[index], ready=True)
            if not self.write_status([dict(c) for c in running]):
                return


class ProcessPod(PodRunner):
    """A pod whose containers are local processes of the sample app."""

    def __init__(self, kubelet, pod):
        super().__init__(kubelet, pod)
        self.containers = pod["spec"].get("containers") or []
        self.host_ports: Dict[int, int] = {}
        for container in self.containers:
            for port in container.get("ports") or []:
                number = port.get("containerPort")
                if isinstance(number, int) and number not in self.host_ports:
                    self.host_ports[number] = free_port()
        self._procs: Dict[str, subprocess.Popen] = {}
        self._proc_lock = threading.Lock()

    def pids(self) -> List[int]:
        with self._proc_lock:
            return [p.pid for p in self._procs.values() if p.poll() is None]

    def _named_port(self, container: dict, port) -> Optional[int]:
        if isinstance(port, int):
            return self.host_ports.get(port, port)
        for item in container.get("ports") or []:
            if item.get("name") == port:
                return self.host_ports.get(item["containerPort"])
        if isinstance(port, str) and port.isdigit():
            return self.host_ports.get(int(port), int(port))
        return None

    # environment --------------------------------------------------------
    def _lookup(self, kind: str, ref: dict) -> Optional[str]:
        obj = self.store.get("v1", kind, self.namespace, ref.get("name", ""))
        optional = ref.get("optional", False)
        if obj is None:
            if optional:
                return None
            raise ConfigError('%s "%s" not found' % (kind.lower(), ref.get("name")))
        data = obj.get("data") or {}
        if ref.get("key") not in data:
            if optional:
                return None
            raise ConfigError("couldn't find key %s in %s %s/%s" % (ref.get("key"), kind, self.namespace, ref.get("name")))
        value = data[ref["key"]]
        return base64.b64decode(value).decode() if kind == "Secret" else value

    def _env(self, container: dict) -> Dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "PYTHONPATH", "VIRTUAL_ENV")}
        for source in container.get("envFrom") or []:
            prefix = source.get("prefix", "")
            for kind, field in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
                ref = source.get(field)
                if not ref:
                    continue
                obj = self.store.get("v1", kind, self.namespace, ref.get("name", ""))
                if obj is None:
                    if ref.get("optional"):
                        continue
                    raise ConfigError('%s "%s" not found' % (kind.lower(), ref.get("name")))
                for key, value in (obj.get("data") or {}).items():
                    env[prefix + key] = base64.b64decode(value).decode() if kind == "Secret" else value
        for item in container.get("env") or []:
            if "value" in item:
                env[item["name"]] = _expand(item.get("value") or "", env)
                continue
            source = item.get("valueFrom") or {}
            value = None
            if "configMapKeyRef" in source:
                value = self._lookup("ConfigMap", source["configMapKeyRef"])
            elif "secretKeyRef" in source:
                value = self._lookup("Secret", source["secretKeyRef"])
            elif "fieldRef" in source:
                value = self._field(source["fieldRef"].get("fieldPath", ""))
            elif "resourceFieldRef" in source:
                value = "0"
            if value is not None:
                env[item["name"]] = value
        # Port settings given as PODINFO_* variables are mapped like the flags; a container that sets
        # no port at all gets the host port of podinfo's default 9898, so replicas never collide.
        for name in _PORT_VARIABLES:
            value = env.get(name, "")
            if value.isdigit() and int(value) in self.host_ports:
                env[name] = str(self.host_ports[int(value)])
        argv = list(container.get("command") or []) + list(container.get("args") or [])
        if "PODINFO_PORT" not in env and 9898 in self.host_ports and not any(re.match(r"^--?port(=|$)", a) for a in argv):
            env["PODINFO_PORT"] = str(self.host_ports[9898])
        env.update(
            PODINFO_VERSION=image_tag(container.get("image", "")),
            HOSTNAME=self.name,
            LAB_POD_NAME=self.name,
            LAB_POD_NAMESPACE=self.namespace,
            PYTHONUNBUFFERED="1",
        )
        return env

    def _field(self, path: str) -> str:
        meta = self.pod["metadata"]
        match = re.match(r"^metadata\.(labels|annotations)\['([^']*)'\]$", path)
        if match:
            return (meta.get(match.group(1)) or {}).get(match.group(2), "")
        return {
            "metadata.name": self.name,
            "metadata.namespace": self.namespace,
            "metadata.uid": self.uid,
            "spec.nodeName": self.pod["spec"].get("nodeName", ""),
            "spec.serviceAccountName": self.pod["spec"].get("serviceAccountName", ""),
            "status.podIP": POD_IP,
            "status.hostIP": POD_IP,
        }.get(path, "")

    def command(self, container: dict) -> List[str]:
        argv = list(container.get("command") or []) + list(container.get("args") or [])
        return [sys.executable, "-m", self.kubelet.app_module] + rewrite_args(argv, self.host_ports)

    # processes ----------------------------------------------------------
    def _spawn(self, container: dict, env: Dict[str, str]) -> subprocess.Popen:
        output = subprocess.DEVNULL
        path = self.kubelet.log_path(self.namespace, self.name, container["name"])
        if path:
            os.makedirs(self.kubelet.log_dir, exist_ok=True)
            output = open(path, "ab")
        try:
            return subprocess.Popen(self.command(container), cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=output,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        finally:
            if output is not subprocess.DEVNULL:
                output.close()

    def _terminate(self, proc: subprocess.Popen, grace: float) -> None:
        if proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=5)

    def _probe(self, container: dict, probe: dict) -> bool:
        timeout = probe.get("timeoutSeconds", 1)
        if "httpGet" in probe:
            get = probe["httpGet"]
            port = self._named_port(container, get.get("port"))
            return _http_ok("http://%s:%s%s" % (POD_IP, port, get.get("path", "/")), timeout)
        if "tcpSocket" in probe:
            port = self._named_port(container, probe["tcpSocket"].get("port"))
            try:
                with socket.create_connection((POD_IP, port), timeout=timeout):
                    return True
            except OSError:
                return False
        if "exec" in probe:
            command = probe["exec"].get("command") or []
            # The podinfo image probes itself with `podcli check http localhost:PORT/PATH`.
            if len(command) >= 4 and command[0].endswith("podcli") and command[1:3] == ["check", "http"]:
                match = re.match(r"^(?:https?://)?[^:/]+:(\d+)(/.*)?$", command[3])
                if match:
                    port = self.host_ports.get(int(match.group(1)), int(match.group(1)))
                    return _http_ok("http://%s:%d%s" % (POD_IP, port, match.group(2) or "/"), timeout)
            return False
        return True

    def _loop(self):
        meta = {HOST_PORTS_ANNOTATION: json.dumps({str(k): v for k, v in sorted(self.host_ports.items())}, separators=(", ", ": "))}
        grace = min(float(self.pod["spec"].get("terminationGracePeriodSeconds", 30)), 5.0)
        state = {c["name"]: {"restarts": 0, "ready": False, "proc": None, "started": None, "next_start": 0.0, "backoff": BACKOFF_START,
                             "last": {}, "waiting": None, "ok": 0, "fail": 0, "live_fail": 0, "next_probe": 0.0, "next_live": 0.0}
                 for c in self.containers}
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                statuses = []
                for container in self.containers:
                    statuses.append(self._drive(container, state[container["name"]], now))
                if not self.write_status(statuses, extra_metadata=meta):
                    return
                self._stop.wait(0.1)
        finally:
            with self._proc_lock:
                procs = list(self._procs.values())
            for proc in procs:
                self._terminate(proc, grace)

    def _drive(self, container: dict, st: dict, now: float) -> dict:
        name = container["name"]
        proc = st["proc"]
        if proc is not None and proc.poll() is not None:
            code = proc.returncode
            st["last"] = {"terminated": {"exitCode": code, "reason": "Completed" if code == 0 else "Error",
                                         "startedAt": st["started"], "finishedAt": common.timestamp(),
                                         "containerID": "lab://%d" % proc.pid}}
            st.update(proc=None, ready=False, ok=0, fail=0, live_fail=0, next_start=now + st["backoff"],
                      waiting={"reason": "CrashLoopBackOff",
                               "message": "back-off %ds restarting failed container=%s pod=%s_%s(%s)"
                               % (int(st["backoff"]), name, self.name, self.namespace, self.uid)})
            st["backoff"] = min(st["backoff"] * 2, BACKOFF_MAX)
        if st["proc"] is None and now >= st["next_start"]:
            try:
                env = self._env(container)
            except ConfigError as error:
                st["waiting"] = {"reason": "CreateContainerConfigError", "message": str(error)}
                st["next_start"] = now + 1.0
            else:
                if st["started"] is not None:
                    st["restarts"] += 1
                st["proc"] = self._spawn(container, env)
                with self._proc_lock:
                    self._procs[name] = st["proc"]
                st["started"] = common.timestamp()
                st["started_mono"] = now
                st["waiting"] = None
                readiness = container.get("readinessProbe") or {}
                liveness = container.get("livenessProbe") or {}
                st["next_probe"] = now + (readiness.get("initialDelaySeconds") or 0)
                st["next_live"] = now + (liveness.get("initialDelaySeconds") or 0)
        proc = st["proc"]
        if proc is None:
            waiting = st["waiting"] or {"reason": "ContainerCreating"}
            return _container_status(container, False, {"waiting": waiting}, st["restarts"], st["last"])
        readiness = container.get("readinessProbe")
        if readiness is None:
            st["ready"] = True
        elif now >= st["next_probe"]:
            st["next_probe"] = now + readiness.get("periodSeconds", 10 if not st["ready"] else 10)
            if not st["ready"]:
                # Poll faster than periodSeconds until the first success, like a kubelet's first probe
                # right after the initial delay, so a rollout is not held up by a whole period.
                st["next_probe"] = now + min(readiness.get("periodSeconds", 10), 0.5)
            if self._probe(container, readiness):
                st["ok"] += 1
                st["fail"] = 0
                if st["ok"] >= readiness.get("successThreshold", 1):
                    st["ready"] = True
            else:
                st["fail"] += 1
                st["ok"] = 0
                if st["fail"] >= readiness.get("failureThreshold", 3) or not st["ready"]:
                    st["ready"] = False
        liveness = container.get("livenessProbe")
        if liveness is not None and now >= st["next_live"]:
            st["next_live"] = now + liveness.get("periodSeconds", 10)
            if self._probe(container, liveness):
                st["live_fail"] = 0
            else:
                st["live_fail"] += 1
                if st["live_fail"] >= liveness.get("failureThreshold", 3):
                    self._terminate(proc, 1.0)  # restarted with back-off on the next pass, like a liveness kill
        state = {"running": {"startedAt": st["started"]}}
        return _container_status(container, st["ready"], state, st["restarts"], st["last"], "lab://%d" % proc.pid)


def _http_ok(url: str, timeout: float) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return 200 <= response.status < 400
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _expand(value: str, env: Dict[str, str]) -> str:
    """$(VAR) references to earlier variables, as the kubelet expands them."""
    return re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: env.get(m.group(1), m.group(0)), value)
