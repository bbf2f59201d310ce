"""A test's view of a running lab, through its CLI and lab.json only (never the lab's internals):
start/stop, the Kubernetes API through the kubeconfig, requests through the mesh, and steady client
traffic that counts every failed request.

Used by every suite whose point is traffic (the lab's own end-to-end tests, the modules' switch and
routing tests, the role's safety tests), so they all drive the lab the way a user drives a cluster.
"""

import collections
import contextlib
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import quote, urlsplit

REPO = Path(__file__).resolve().parents[1]
MANIFESTS = REPO / "tests" / "lab" / "manifests" / "podinfo"


def cli(*args, timeout=240):
    return subprocess.run([sys.executable, "-m", "tests.lab", *args], cwd=REPO, capture_output=True, text=True, timeout=timeout,
                          check=False)


def wait_for(predicate, timeout=30.0, message="", interval=0.1, describe=None):
    """Poll ``predicate`` until it returns something truthy (returned); AssertionError on timeout naming
    ``message`` (text, or a callable giving it) and what ``describe()`` says."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            what = message() if callable(message) else (message or predicate)
            raise AssertionError("timed out after %.0f s waiting for %s%s" % (timeout, what, ("\n" + describe()) if describe else ""))
        time.sleep(interval)


def listening(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.3).close()
        return True
    except OSError:
        return False


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


class Lab:
    """A running lab, known by its directory (``lab.json``)."""

    def __init__(self, directory):
        self.directory = str(directory)
        self.up_seconds = None
        self._client = None

    @property
    def info(self):
        with open(os.path.join(self.directory, "lab.json")) as handle:
            return json.load(handle)

    @property
    def kubeconfig(self):
        return self.info["kubeconfig"]

    @property
    def store(self):
        """The lab's API server through ``tests.cluster.Store``."""
        if self._client is None:
            from tests.cluster import Store
            self._client = Store(self.kubeconfig)
        return self._client

    def resource(self, api_version, kind):
        return self.store.resource(api_version, kind)

    def read(self, api_version, kind, namespace, name):
        """The object as a dict, ``None`` when it does not exist."""
        return self.store.get(api_version, kind, namespace, name)

    def apply(self, obj):
        """Create ``obj``, or replace it when it exists (keeping nothing of the old one but its version).

        A controller writing the object between our read and our replace (409) makes us read it again.
        """
        from kubernetes.dynamic.exceptions import ConflictError
        resource = self.resource(obj["apiVersion"], obj["kind"])
        namespace = obj["metadata"].get("namespace")
        for attempt in range(5):
            existing = self.read(obj["apiVersion"], obj["kind"], namespace, obj["metadata"]["name"])
            if existing is None:
                return resource.create(body=obj, namespace=namespace).to_dict()
            versioned = dict(obj, metadata=dict(obj["metadata"], resourceVersion=existing["metadata"]["resourceVersion"]))
            try:
                return resource.replace(body=versioned, namespace=namespace).to_dict()
            except ConflictError:
                if attempt == 4:
                    raise
                time.sleep(0.1)
        return None

    def get(self, url_key, host, path="/", headers=None):
        url = urlsplit(self.info[url_key])
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=5)
        try:
            conn.request("GET", path, headers=dict(headers or {}, Host=host))
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def envoy_counter(self, name):
        url = urlsplit(self.info["envoy_admin"])
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=5)
        conn.request("GET", "/stats?filter=" + quote("^%s$" % re.escape(name)))
        text = conn.getresponse().read().decode()
        conn.close()
        match = re.search(r": (\d+)$", text.strip())
        return int(match.group(1)) if match else 0

    def query(self, expr):
        url = urlsplit(self.info["prometheus"])
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=5)
        conn.request("GET", "/api/v1/query?query=" + quote(expr))
        body = json.loads(conn.getresponse().read())
        conn.close()
        assert body["status"] == "success", body
        return body["data"]["result"]

    def pod_processes(self, workload="podinfo", namespace=None):
        """pod name -> (pid, version) of the workload's running pod processes the lab reports, checked against /proc.

        A pod's process is the podinfo binary the lab links per image tag
        (``~/.cache/progressive-delivery/podinfo-tags/<tag>/podinfo``: the tag is the version it reports), started by the
        node agent in the pod's network namespace with ``HOSTNAME`` = the pod's name and its working directory
        ``<namespace>_<pod>``; ``namespace`` (default: any) keeps the pods of one namespace.
        """
        result = {}
        for pid in self.info["pids"]["pods"]:
            try:
                with open("/proc/%d/environ" % pid, "rb") as handle:
                    env = dict(item.split(b"=", 1) for item in handle.read().split(b"\0") if b"=" in item)
                with open("/proc/%d/cmdline" % pid, "rb") as handle:
                    cmdline = handle.read().split(b"\0")
                work = os.path.basename(os.readlink("/proc/%d/cwd" % pid))
            except OSError:
                continue
            program = cmdline[0].decode(errors="replace")
            if os.path.basename(program) != "podinfo" or os.path.basename(os.path.dirname(os.path.dirname(program))) != "podinfo-tags":
                continue
            pod_namespace, _, name = work.partition("_")
            if name != env.get(b"HOSTNAME", b"").decode() or (namespace is not None and pod_namespace != namespace):
                continue
            # Pod names are <deployment>-<template hash>-<suffix>.
            if alive(pid) and name.rsplit("-", 2)[0] == workload:
                result[name] = (pid, os.path.basename(os.path.dirname(program)))
        return result

    def describe(self, name="podinfo", *, namespace):
        deployment = self.read("apps/v1", "Deployment", namespace, name) or {}
        lines = ["deployment %s: generation=%s spec.replicas=%s status=%s" % (
            name, (deployment.get("metadata") or {}).get("generation"), (deployment.get("spec") or {}).get("replicas"),
            json.dumps(deployment.get("status")))]
        for pod in self.resource("v1", "Pod").get(namespace=namespace).to_dict()["items"]:
            status = pod.get("status") or {}
            lines.append("pod %s phase=%s conditions=%s containers=%s deleting=%s" % (
                pod["metadata"]["name"], status.get("phase"), json.dumps(status.get("conditions")),
                json.dumps(status.get("containerStatuses")), pod["metadata"].get("deletionTimestamp")))
        lines.append("lab.json state=%s pods=%s processes=%s" % (self.info["state"], self.info["pids"]["pods"], self.pod_processes(name, namespace)))
        return "\n".join(lines)

    def rolled_out(self, name, replicas, namespace="test"):
        """The Deployment ``namespace/name`` runs ``replicas`` updated, ready pods and no other (``namespace``: give it
        in a shared lab; the default is for a lab of one's own, as tests/lab/tests use it)."""
        deployment = self.read("apps/v1", "Deployment", namespace, name)
        status = deployment.get("status") or {}
        pods = [p for p in self.resource("v1", "Pod").get(namespace=namespace).to_dict()["items"]
                if (p["metadata"].get("labels") or {}).get("app") == name]
        return (deployment["spec"]["replicas"] == replicas
                and status.get("observedGeneration") == deployment["metadata"]["generation"]
                and status.get("updatedReplicas") == replicas and status.get("readyReplicas") == replicas
                and status.get("replicas") == replicas and len(pods) == replicas)


@contextlib.contextmanager
def running_lab(directory):
    """``python -m tests.lab up`` in ``directory``; ``down`` on exit, whatever happened."""
    directory = str(directory)
    started = time.monotonic()
    up = cli("up", "--dir", directory)
    lab = Lab(directory)
    lab.up_seconds = time.monotonic() - started
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        yield lab
    finally:
        cli("down", "--dir", directory)


def podinfo_deployment(namespace, version="6.0.0", replicas=1, **container_changes):
    """Flagger's tutorial Deployment in ``namespace``, with short probe delays so pods are ready fast."""
    import yaml
    with open(MANIFESTS / "deployment.yaml") as handle:
        deployment = yaml.safe_load(handle)
    deployment["metadata"]["namespace"] = namespace
    deployment["spec"]["replicas"] = replicas
    deployment["spec"]["minReadySeconds"] = 0
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["image"] = "ghcr.io/stefanprodan/podinfo:" + version
    for probe in ("livenessProbe", "readinessProbe"):
        if probe in container:
            container[probe]["initialDelaySeconds"] = 0
            container[probe]["periodSeconds"] = 1
    container.update(container_changes)
    return deployment


def versions_served(lab, host, count, path="/version", headers=None):
    """``count`` requests through the mesh on one kept-alive connection: podinfo version (or HTTP status) -> answers."""
    url = urlsplit(lab.info["mesh"])
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=5)
    seen = collections.Counter()
    try:
        for _ in range(count):
            conn.request("GET", path, headers=dict(headers or {}, Host=host))
            response = conn.getresponse()
            body = response.read()
            try:
                version = json.loads(body).get("version") if response.status == 200 else None
            except ValueError:
                version = None
            seen[version or response.status] += 1
    finally:
        conn.close()
    return dict(seen)


class SteadyTraffic:
    """Clients sending requests through the lab's mesh without pause, on keep-alive connections, until
    stopped; every response is counted by status and by the podinfo version that answered, and every
    failed request (a 5xx, or no response at all) is kept with its time.

    ``with SteadyTraffic(lab, "podinfo.test:9898") as traffic: ...`` then ``traffic.failures``.
    Bounded: it stops by itself after ``max_seconds``.
    """

    def __init__(self, lab, host, path="/", clients=2, headers=None, url_key="mesh", max_seconds=300, pause=0.002):
        self.lab, self.host, self.path, self.clients = lab, host, path, clients
        self.headers = dict(headers or {}, Host=host)
        self.url = urlsplit(lab.info[url_key])
        self.max_seconds, self.pause = max_seconds, pause
        self.statuses = collections.Counter()
        self.versions = collections.Counter()
        self.last_seen = {}         # version -> wall-clock time of its last response
        self.failures = []          # (monotonic time, status or exception text)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = []

    @property
    def total(self):
        with self._lock:
            return sum(self.statuses.values())

    def _record(self, status, body):
        version = None
        if status == 200:
            try:
                version = json.loads(body).get("version")
            except ValueError:
                pass
        with self._lock:
            self.statuses[status] += 1
            if version:
                self.versions[version] += 1
                self.last_seen[version] = time.time()
            if not isinstance(status, int) or status >= 500:
                self.failures.append((time.monotonic(), status))

    def _client(self):
        deadline = time.monotonic() + self.max_seconds
        conn = None
        while not self._stop.is_set() and time.monotonic() < deadline:
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(self.url.hostname, self.url.port, timeout=5)
                conn.request("GET", self.path, headers=self.headers)
                response = conn.getresponse()
                body = response.read()
                self._record(response.status, body)
                if response.getheader("connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as exc:
                self._record("%s: %s" % (type(exc).__name__, exc), b"")
                if conn is not None:
                    conn.close()
                conn = None
            time.sleep(self.pause)
        if conn is not None:
            conn.close()

    def start(self):
        for _client in range(self.clients):
            thread = threading.Thread(target=self._client, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self):
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    def summary(self):
        with self._lock:
            return "%d requests, statuses %s, versions %s, failures %s" % (
                sum(self.statuses.values()), dict(self.statuses), dict(self.versions), self.failures[:10])
