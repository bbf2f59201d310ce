"""Our kubelet for the real API server: one Node, its Lease, and the pods the scheduler binds to it.

Every pod gets a network namespace with its own address on the lab bridge (``network.py``); each
container is a process inside it (``images.py`` maps the image to a program). Probes (httpGet,
tcpSocket, and the podinfo image's ``podcli check http localhost:PORT/PATH`` as an HTTP GET) run
from the root namespace against the pod IP. Status goes through the pods/status subresource;
deletion is graceful (SIGTERM, then DELETE with gracePeriodSeconds=0).
"""

import datetime
import logging
import os
import socket
import subprocess
import threading
import time
from typing import Dict, Optional

import requests

from . import images, pki
from ..common import free_port, stop_processes
from .kubelet_api import KubeletApi, LogNotFound, log_file
from .kube import ApiError, Kube
from .network import Network

log = logging.getLogger("tests.lab.real.node")
KUBE_VERSION = "v1.36.3"


class ContainerConfigError(RuntimeError):
    """A container's env refers to a ConfigMap, Secret or key that does not exist (CreateContainerConfigError)."""


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_micro() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Container:
    def __init__(self, spec: dict):
        self.spec = spec
        self.name = spec["name"]
        self.process: Optional[subprocess.Popen] = None
        self.restarts = 0
        self.started_at: Optional[str] = None
        self.started_mono = 0.0
        self.ready = False
        self.live_failures = 0
        self.ready_failures = 0
        self.next_ready_probe = 0.0
        self.next_live_probe = 0.0
        self.last_terminated: Optional[dict] = None
        self.waiting: Optional[str] = None
        self.waiting_message = ""
        self.backoff_until = 0.0
        # where each instance's output begins in the container's log file (the kubelet API's previous=true)
        self.log_starts: list = []


class Pod:
    def __init__(self, obj: dict):
        self.obj = obj
        self.namespace = obj["metadata"]["namespace"]
        self.name = obj["metadata"]["name"]
        self.uid = obj["metadata"]["uid"]
        self.net: Optional[dict] = None
        self.containers = [Container(c) for c in obj["spec"].get("containers", [])]
        self.start_time = now()
        self.terminating = False
        self.stopped = threading.Event()
        self.last_status = None
        self.last_conditions = None
        self.condition_times: Dict[str, str] = {}

    @property
    def key(self) -> str:
        return "%s/%s" % (self.namespace, self.name)


class NodeAgent:
    def __init__(self, kube: Kube, name: str, network: Network, versions: dict, log_dir: str, work_dir: str,
                 pki_dir: Optional[str] = None):
        self.kube, self.name, self.network, self.versions = kube, name, network, versions
        self.log_dir, self.work_dir, self.pki_dir = log_dir, work_dir, pki_dir
        self.kubelet_api: Optional[KubeletApi] = None
        self.pods: Dict[str, Pod] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = []
        self.last_error: Optional[str] = None
        os.makedirs(log_dir, exist_ok=True)
        os.makedirs(work_dir, exist_ok=True)

    # ------------------------------------------------------------------ node and lease
    def _node_status(self) -> dict:
        stamp = now()
        resources = {"cpu": "8", "memory": "16Gi", "pods": "110", "ephemeral-storage": "100Gi"}
        return {
            "capacity": resources, "allocatable": resources,
            "addresses": [{"type": "InternalIP", "address": self.network.gateway}, {"type": "Hostname", "address": self.name}],
            "conditions": [
                {"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "lab node agent is posting ready status",
                 "lastHeartbeatTime": stamp, "lastTransitionTime": self._ready_since},
                {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory", "lastHeartbeatTime": stamp, "lastTransitionTime": self._ready_since},
                {"type": "DiskPressure", "status": "False", "reason": "KubeletHasNoDiskPressure", "lastHeartbeatTime": stamp, "lastTransitionTime": self._ready_since},
                {"type": "PIDPressure", "status": "False", "reason": "KubeletHasSufficientPID", "lastHeartbeatTime": stamp, "lastTransitionTime": self._ready_since},
            ],
            "nodeInfo": {"kubeletVersion": KUBE_VERSION, "kubeProxyVersion": "", "operatingSystem": "linux", "architecture": "amd64",
                         "containerRuntimeVersion": "lab://processes", "kernelVersion": os.uname().release, "osImage": "lab",
                         "machineID": "", "systemUUID": "", "bootID": ""},
            "daemonEndpoints": {"kubeletEndpoint": {"Port": self.kubelet_api.port if self.kubelet_api else 0}},
        }

    def register(self) -> None:
        self._ready_since = now()
        node = {"apiVersion": "v1", "kind": "Node",
                "metadata": {"name": self.name, "labels": {"kubernetes.io/hostname": self.name, "kubernetes.io/os": "linux",
                                                             "kubernetes.io/arch": "amd64", "node-role.kubernetes.io/lab": ""}},
                "spec": {}}
        try:
            self.kube.post("/api/v1/nodes", node)
        except ApiError as exc:
            if exc.code != 409:
                raise
        self.kube.patch("/api/v1/nodes/%s/status" % self.name, {"status": self._node_status()}, kind="strategic")
        lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": self.name, "namespace": "kube-node-lease"},
                 "spec": {"holderIdentity": self.name, "leaseDurationSeconds": 40, "renewTime": now_micro()}}
        self.kube.apply("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases", lease)

    def _heartbeat(self) -> None:
        while not self._stop.wait(10):
            try:
                self.kube.patch("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/%s" % self.name,
                                {"spec": {"renewTime": now_micro()}})
                self.kube.patch("/api/v1/nodes/%s/status" % self.name, {"status": self._node_status()}, kind="strategic")
            except Exception as exc:  # noqa: BLE001
                log.warning("heartbeat failed: %s", exc)

    # ------------------------------------------------------------------ pods
    def start(self) -> None:
        if self.pki_dir:
            self._serve_kubelet_api()
        self.register()
        for target in (self._heartbeat, self._sync_loop):
            thread = threading.Thread(target=target, daemon=True, name="node-%s" % target.__name__)
            thread.start()
            self._threads.append(thread)

    def _serve_kubelet_api(self) -> None:
        """The kubelet API's containerLogs on the bridge's address (the Node's InternalIP), as the API server expects."""
        address = self.network.gateway
        paths = pki.issue_node_certificate(self.pki_dir, self.name, address)
        self.kubelet_api = KubeletApi(address, free_port(address), paths["node.crt"], paths["node.key"],
                                      os.path.join(self.pki_dir, "ca.crt"), self.container_log)
        self.kubelet_api.start()

    def container_log(self, namespace: str, pod_name: str, container: str):
        """``(log file, instance offsets, running)`` of a pod's container on this node, for the kubelet API; LogNotFound
        for a pod or container it does not run."""
        with self._lock:
            pods = [p for p in self.pods.values() if p.namespace == namespace and p.name == pod_name]
        if not pods:
            raise LogNotFound('pod "%s" not found on node %s' % (pod_name, self.name))
        for c in pods[0].containers:
            if c.name == container:
                return (log_file(self.log_dir, namespace, pod_name, container), list(c.log_starts),
                        c.process is not None and c.process.poll() is None)
        raise LogNotFound("container is not valid")

    def _sync_loop(self) -> None:
        while not self._stop.wait(0.5):
            try:
                self.sync()
                self.last_error = None
            except Exception as exc:  # noqa: BLE001
                self.last_error = str(exc)
                log.warning("pod sync failed: %s", exc)

    def sync(self) -> None:
        listed = self.kube.get("/api/v1/pods", params={"fieldSelector": "spec.nodeName=%s" % self.name})["items"]
        seen = set()
        for obj in listed:
            uid = obj["metadata"]["uid"]
            seen.add(uid)
            with self._lock:
                pod = self.pods.get(uid)
                if pod is None and not obj["metadata"].get("deletionTimestamp"):
                    pod = self.pods[uid] = Pod(obj)
                    threading.Thread(target=self._run_pod, args=(pod,), daemon=True, name="pod-%s" % pod.name).start()
                elif pod is None:
                    threading.Thread(target=self._finish_delete, args=(obj,), daemon=True).start()
                    continue
            pod.obj = obj
            if obj["metadata"].get("deletionTimestamp") and not pod.terminating:
                pod.terminating = True
                threading.Thread(target=self._terminate, args=(pod, True), daemon=True, name="stop-%s" % pod.name).start()
        with self._lock:
            gone = [pod for uid, pod in self.pods.items() if uid not in seen and not pod.terminating]
        for pod in gone:
            pod.terminating = True
            threading.Thread(target=self._terminate, args=(pod, False), daemon=True).start()

    def _finish_delete(self, obj: dict) -> None:
        meta = obj["metadata"]
        self.kube.delete("/api/v1/namespaces/%s/pods/%s" % (meta["namespace"], meta["name"]),
                         {"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0, "preconditions": {"uid": meta["uid"]}})

    def _terminate(self, pod: Pod, delete: bool) -> None:
        grace = pod.obj["metadata"].get("deletionGracePeriodSeconds")
        if grace is None:
            grace = pod.obj["spec"].get("terminationGracePeriodSeconds", 30)
        pod.stopped.set()
        self._stop_containers(pod, min(float(grace), 10.0))
        if pod.net:
            self.network.remove_pod(pod.net)
        with self._lock:
            self.pods.pop(pod.uid, None)
        if delete:
            try:
                self._finish_delete(pod.obj)
            except Exception as exc:  # noqa: BLE001
                log.warning("final delete of %s failed: %s", pod.key, exc)

    def _stop_containers(self, pod: Pod, grace: float) -> None:
        stop_processes([c.process for c in pod.containers], grace)

    def _run_pod(self, pod: Pod) -> None:
        try:
            pod.net = self.network.add_pod(pod.key)
        except Exception as exc:  # noqa: BLE001
            log.error("network for %s failed: %s", pod.key, exc)
            for c in pod.containers:
                c.waiting, c.waiting_message = "CreateContainerError", str(exc)
            self._push_status(pod)
            return
        self._push_status(pod)
        while not pod.stopped.is_set() and not self._stop.is_set():
            for container in pod.containers:
                self._step(pod, container)
            self._push_status(pod)
            pod.stopped.wait(0.5)

    def _step(self, pod: Pod, c: Container) -> None:
        mono = time.monotonic()
        if c.process is not None and c.process.poll() is not None:
            code = c.process.returncode
            code = 128 - code if code < 0 else code  # killed by a signal: 128 + its number, as a kubelet reports
            c.last_terminated = {"terminated": {"exitCode": code, "reason": "Error" if code else "Completed",
                                                "startedAt": c.started_at, "finishedAt": now()}}
            c.process, c.ready = None, False
            c.restarts += 1
            c.backoff_until = mono + min(20.0, 2 ** min(c.restarts - 1, 5))
            c.waiting, c.waiting_message = "CrashLoopBackOff", "back-off restarting failed container %s" % c.name
            log.info("%s/%s exited with %s", pod.key, c.name, code)
        if c.process is None and not pod.stopped.is_set():
            if mono < c.backoff_until:
                return
            try:
                self._start_container(pod, c)
            except Exception as exc:  # noqa: BLE001
                reason = "CreateContainerConfigError" if isinstance(exc, ContainerConfigError) else "CreateContainerError"
                c.waiting, c.waiting_message = reason, str(exc)
                c.backoff_until = mono + 5
                log.error("starting %s/%s failed: %s", pod.key, c.name, exc)
            return
        self._probe(pod, c, mono)

    def _start_container(self, pod: Pod, c: Container) -> None:
        program = images.resolve(c.spec["image"], self.versions)
        command = list(c.spec.get("command") or [])
        if command and os.path.basename(command[0]) in ("podinfo", "./podinfo"):
            command = command[1:]
        args = [self._expand(a, pod, c) for a in command + list(c.spec.get("args") or [])]
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOSTNAME": pod.name, "HOME": "/tmp"}
        for item in c.spec.get("env") or []:
            env[item["name"]] = self._env_value(item, pod)
        work = os.path.join(self.work_dir, "%s_%s" % (pod.namespace, pod.name))
        os.makedirs(work, exist_ok=True)
        log_path = log_file(self.log_dir, pod.namespace, pod.name, c.name)
        with open(log_path, "ab") as output:
            c.log_starts.append(output.seek(0, os.SEEK_END))
            # Its own UTS namespace too, so the pod's hostname is its name as in a cluster (podinfo reports it);
            # ip, unshare and sh each exec the next, so the pid is the program's.
            c.process = subprocess.Popen(["ip", "netns", "exec", pod.net["netns"], "unshare", "--uts", "--", "/bin/sh", "-c",
                                          'hostname "$0" && exec "$@"', pod.name[:63], program] + args, cwd=work, env=env,
                                         stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
        c.started_at, c.started_mono = now(), time.monotonic()
        c.waiting, c.waiting_message = None, ""
        c.live_failures = c.ready_failures = 0
        c.next_ready_probe = c.started_mono + float((c.spec.get("readinessProbe") or {}).get("initialDelaySeconds", 0))
        c.next_live_probe = c.started_mono + float((c.spec.get("livenessProbe") or {}).get("initialDelaySeconds", 0))
        c.ready = not c.spec.get("readinessProbe")
        log.info("%s/%s started (pid %d) in %s at %s", pod.key, c.name, c.process.pid, pod.net["netns"], pod.net["ip"])

    def _expand(self, value: str, pod: Pod, c: Container) -> str:
        for item in c.spec.get("env") or []:
            value = value.replace("$(%s)" % item["name"], self._env_value(item, pod))
        return value

    def _env_value(self, item: dict, pod: Pod) -> str:
        if "value" in item:
            return str(item["value"])
        source = item.get("valueFrom") or {}
        if "fieldRef" in source:
            path = source["fieldRef"]["fieldPath"]
            return {"metadata.name": pod.name, "metadata.namespace": pod.namespace, "metadata.uid": pod.uid,
                    "status.podIP": (pod.net or {}).get("ip", ""), "spec.nodeName": self.name,
                    "status.hostIP": self.network.gateway}.get(path, "")
        for kind, ref_key, title in (("configmaps", "configMapKeyRef", "ConfigMap"), ("secrets", "secretKeyRef", "Secret")):
            if ref_key in source:
                ref = source[ref_key]
                obj = self.kube.get("/api/v1/namespaces/%s/%s/%s" % (pod.namespace, kind, ref["name"]), ok404=True)
                data = (obj or {}).get("data") or {}
                if ref.get("optional") and (obj is None or ref["key"] not in data):
                    return ""
                if obj is None:  # the kubelet's messages
                    raise ContainerConfigError('%s "%s" not found' % (kind[:-1], ref["name"]))
                if ref["key"] not in data:
                    raise ContainerConfigError("couldn't find key %s in %s %s/%s" % (ref["key"], title, pod.namespace, ref["name"]))
                value = data[ref["key"]]
                if kind == "secrets":
                    import base64
                    value = base64.b64decode(value).decode()
                return value
        return ""

    # ------------------------------------------------------------------ probes
    def _probe(self, pod: Pod, c: Container, mono: float) -> None:
        for kind in ("readinessProbe", "livenessProbe"):
            probe = c.spec.get(kind)
            if not probe:
                continue
            attr = "next_ready_probe" if kind == "readinessProbe" else "next_live_probe"
            if mono < getattr(c, attr):
                continue
            period = float(probe.get("periodSeconds", 10))
            if kind == "readinessProbe" and not c.ready and c.ready_failures == 0:
                period = 0.5  # quick until the first success (a kubelet waits periodSeconds)
            setattr(c, attr, mono + period)
            ok = self._check(pod, c, probe)
            if kind == "readinessProbe":
                if ok:
                    c.ready, c.ready_failures = True, 0
                else:
                    c.ready_failures += 1
                    if c.ready_failures >= int(probe.get("failureThreshold", 3)) or not c.ready:
                        c.ready = False
            else:
                c.live_failures = 0 if ok else c.live_failures + 1
                if c.live_failures >= int(probe.get("failureThreshold", 3)):
                    log.info("%s/%s failed its liveness probe: restarting", pod.key, c.name)
                    stop_processes([c.process], 5.0)

    def _port(self, c: Container, port) -> int:
        if isinstance(port, int) or str(port).isdigit():
            return int(port)
        for item in c.spec.get("ports") or []:
            if item.get("name") == port:
                return int(item["containerPort"])
        raise ValueError("no port named %s" % port)

    def _check(self, pod: Pod, c: Container, probe: dict) -> bool:
        timeout = float(probe.get("timeoutSeconds", 1))
        address = pod.net["ip"]
        try:
            if "httpGet" in probe:
                get = probe["httpGet"]
                url = "%s://%s:%d%s" % (get.get("scheme", "HTTP").lower(), get.get("host") or address, self._port(c, get["port"]), get.get("path", "/"))
                return 200 <= requests.get(url, timeout=timeout, verify=False, proxies={"http": None, "https": None}).status_code < 400
            if "tcpSocket" in probe:
                socket.create_connection((address, self._port(c, probe["tcpSocket"]["port"])), timeout=timeout).close()
                return True
            command = (probe.get("exec") or {}).get("command") or []
            if len(command) >= 4 and os.path.basename(command[0]) == "podcli" and command[1:3] == ["check", "http"]:
                target = command[3].split("://", 1)[-1]
                hostport, _, path = target.partition("/")
                port = int(hostport.rsplit(":", 1)[1]) if ":" in hostport else 80
                return 200 <= requests.get("http://%s:%d/%s" % (address, port, path), timeout=timeout,
                                           proxies={"http": None, "https": None}).status_code < 400
            return True  # other exec probes: not run, counted as passing
        except Exception:  # noqa: BLE001
            return False

    # ------------------------------------------------------------------ status
    def _push_status(self, pod: Pod) -> None:
        if pod.stopped.is_set():
            return
        statuses = []
        for c in pod.containers:
            running = c.process is not None and c.process.poll() is None
            state = {"running": {"startedAt": c.started_at}} if running else {"waiting": {"reason": c.waiting or "ContainerCreating"}}
            if not running and c.waiting_message:
                state["waiting"]["message"] = c.waiting_message
            status = {"name": c.name, "image": c.spec["image"], "imageID": "", "ready": bool(running and c.ready),
                      "started": running, "restartCount": c.restarts, "state": state,
                      "containerID": "lab://%d" % c.process.pid if running else ""}
            if not status["containerID"]:
                del status["containerID"]
            if c.last_terminated:
                status["lastState"] = c.last_terminated
            statuses.append(status)
        ready = bool(statuses) and all(s["ready"] for s in statuses)
        doc = {"phase": "Running" if pod.net and any(s["started"] for s in statuses) else "Pending",
               "hostIP": self.network.gateway, "hostIPs": [{"ip": self.network.gateway}], "startTime": pod.start_time,
               "containerStatuses": statuses}
        if pod.net:
            doc.update(podIP=pod.net["ip"], podIPs=[{"ip": pod.net["ip"]}])
        conditions = {"PodReadyToStartContainers": bool(pod.net), "Initialized": True, "ContainersReady": ready, "Ready": ready}
        if doc == pod.last_status and conditions == pod.last_conditions:
            return
        compared = dict(doc)
        previous = pod.last_conditions or {}
        stamp = now()
        doc["conditions"] = [{"type": k, "status": "True" if v else "False", "lastProbeTime": None,
                              "lastTransitionTime": stamp if previous.get(k) != v else pod.condition_times.get(k, stamp)}
                             for k, v in conditions.items()]
        pod.condition_times = {c["type"]: c["lastTransitionTime"] for c in doc["conditions"]}
        try:
            self.kube.patch("/api/v1/namespaces/%s/pods/%s/status" % (pod.namespace, pod.name), {"status": doc}, kind="strategic")
            pod.last_status, pod.last_conditions = compared, conditions
        except ApiError as exc:
            if exc.code != 404:
                log.warning("status of %s: %s", pod.key, exc)

    # ------------------------------------------------------------------ lifecycle
    def pids(self) -> list:
        with self._lock:
            return sorted(c.process.pid for p in self.pods.values() for c in p.containers if c.process is not None and c.process.poll() is None)

    def stop(self) -> None:
        self._stop.set()
        if self.kubelet_api:
            self.kubelet_api.stop()
        with self._lock:
            pods = list(self.pods.values())
        for pod in pods:
            pod.stopped.set()
        for pod in pods:
            self._stop_containers(pod, 3.0)
            if pod.net:
                self.network.remove_pod(pod.net)

