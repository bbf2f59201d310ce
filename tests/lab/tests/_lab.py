"""The lab's own tests drive a lab the way a user does: its CLI, lab.json, kubectl, HTTP."""

import json
import os
import subprocess
import sys
import time

import requests

from tests.lab.common import alive, listening
from tests.mesh import wait_for

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
MANIFESTS = os.path.join(REPO, "tests", "lab", "manifests", "podinfo")
NO_PROXY = {"http": None, "https": None}


def lab_cli(*args, env=None, timeout=240):
    return subprocess.run([sys.executable, "-m", "tests.lab"] + list(args), cwd=REPO, capture_output=True, text=True,
                          env=env, timeout=timeout)


def http():
    """A requests session that ignores the machine's proxy and CA variables."""
    session = requests.Session()
    session.trust_env = False
    return session


def wait(predicate, timeout, message, interval=0.5):
    return wait_for(predicate, timeout, message, interval=interval)


def netns_names():
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return [line.split()[0] for line in out.splitlines() if line.split()]


def link_names():
    out = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    return [line.split(":")[1].strip().split("@")[0] for line in out.splitlines() if ":" in line]


def assert_nothing_left(info):
    """No process, netns, link or listening port of the lab described by ``info`` (its lab.json) remains."""
    pids = info.get("pids") or {}
    every = ([pids.get("supervisor"), pids.get("prometheus")] + list(pids.get("envoys") or []) + list(pids.get("pods") or [])
             + list((pids.get("control_plane") or {}).values()))
    assert [pid for pid in every if pid and alive(pid)] == []
    number = (info.get("network") or {}).get("number")
    if number is not None:
        assert [n for n in netns_names() if n.startswith("pdl%d-" % number)] == []
        assert [n for n in link_names() if n == "pdl%dbr" % number or n.startswith("pdl%dv" % number)] == []
    assert [p for p in info.get("listen_ports") or [] if listening("127.0.0.1", p)] == []
    if info.get("mesh_address"):
        assert [p for p in info.get("mesh_ports") or [] if listening(info["mesh_address"], p)] == []


class Lab:
    """A running lab, known by its directory."""

    def __init__(self, directory):
        self.dir = str(directory)
        self.info = {}
        self.reload()

    def reload(self):
        with open(os.path.join(self.dir, "lab.json"), encoding="utf-8") as handle:
            self.info = json.load(handle)
        return self.info

    def status(self):
        return json.loads(lab_cli("status", "--dir", self.dir).stdout)

    def kubectl(self, *args, stdin=None, check=True):
        result = subprocess.run([self.info["kubectl"], "--kubeconfig", self.info["kubeconfig"]] + list(args), input=stdin,
                                capture_output=True, text=True, timeout=120)
        if check:
            assert result.returncode == 0, result.stderr
        return result.stdout

    def apply(self, *objects):
        return self.kubectl("apply", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": list(objects)}))

    def get(self, *args):
        return json.loads(self.kubectl("get", "-o", "json", *args))

    def ready_pods(self, namespace, selector):
        pods = self.get("pods", "-n", namespace, "-l", selector)["items"]
        return [p for p in pods if not p["metadata"].get("deletionTimestamp")
                and any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions", []))]

    def rolled_out(self, namespace, name, replicas):
        """The Deployment has ``replicas`` updated, ready pods and no others (terminating ones included)."""
        deployment = self.get("deployment", "-n", namespace, name)
        status = deployment.get("status") or {}
        selector = ",".join("%s=%s" % item for item in deployment["spec"]["selector"]["matchLabels"].items())
        pods = self.get("pods", "-n", namespace, "-l", selector)["items"]
        return (status.get("observedGeneration") == deployment["metadata"]["generation"]
                and status.get("updatedReplicas") == replicas and status.get("readyReplicas") == replicas
                and status.get("replicas") == replicas and len(pods) == replicas)

    def pod_versions(self, namespace, selector):
        """pod name -> the version its podinfo process reports (asked at the pod IP)."""
        session = http()
        return {p["metadata"]["name"]: session.get("http://%s:9898/version" % p["status"]["podIP"], timeout=5).json()["version"]
                for p in self.ready_pods(namespace, selector)}

    def through(self, url_key, host, path="/version", headers=None, session=None):
        """A request through the mesh proxy (``mesh``) or the ingress gateway (``ingress``)."""
        return (session or http()).get(self.info[url_key] + path, headers=dict(headers or {}, Host=host), timeout=5)

    def versions(self, url_key, host, count, headers=None):
        """How many of ``count`` requests each podinfo version answered (other statuses by their code)."""
        session = http()
        seen = {}
        for _ in range(count):
            response = self.through(url_key, host, headers=headers, session=session)
            key = response.json()["version"] if response.status_code == 200 else response.status_code
            seen[key] = seen.get(key, 0) + 1
        return seen

    def envoy_stat(self, admin_key, name):
        text = http().get(self.info[admin_key] + "/stats", params={"filter": "^%s$" % name.replace("|", "\\|").replace(".", "\\.")},
                          timeout=5).text
        for line in text.splitlines():
            key, _, value = line.partition(": ")
            if key == name:
                return int(value)
        return 0

    def query(self, expr):
        body = http().get(self.info["prometheus"] + "/api/v1/query", params={"query": expr}, timeout=5).json()
        assert body["status"] == "success", body
        return body["data"]["result"]

    def route_dump(self, admin_key="mesh_admin"):
        return http().get(self.info[admin_key] + "/config_dump", params={"resource": "dynamic_route_configs"}, timeout=5).json()


def up(directory, env=None):
    """``up`` in ``directory``; the Lab, with ``.up_seconds`` measured around the command."""
    started = time.monotonic()
    result = lab_cli("up", "--dir", str(directory), env=env)
    elapsed = time.monotonic() - started
    if result.returncode != 0:
        lab_cli("down", "--dir", str(directory))
        raise AssertionError("up failed: %s\n%s" % (result.stderr, result.stdout))
    lab = Lab(directory)
    lab.up_seconds = round(elapsed, 1)
    return lab


def podinfo_variant(name, image, labels=None, fast=True):
    """Flagger's tutorial Deployment renamed to ``name`` (selector app=name) with ``image``; fast probes."""
    import yaml
    with open(os.path.join(MANIFESTS, "deployment.yaml"), encoding="utf-8") as handle:
        deployment = yaml.safe_load(handle)
    deployment["metadata"]["name"] = name
    deployment["metadata"]["labels"] = {"app": name}
    deployment["spec"]["selector"]["matchLabels"] = {"app": name}
    deployment["spec"]["template"]["metadata"]["labels"] = dict({"app": name}, **(labels or {}))
    deployment["spec"]["replicas"] = 1
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["image"] = image
    if fast:
        deployment["spec"]["minReadySeconds"] = 0
        for probe in ("livenessProbe", "readinessProbe"):
            container[probe]["initialDelaySeconds"] = 0
            container[probe]["periodSeconds"] = 1
    return deployment


def service(name, namespace, selector, port=9898):
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": namespace},
            "spec": {"selector": selector, "ports": [{"name": "http", "port": port, "targetPort": 9898}]}}
