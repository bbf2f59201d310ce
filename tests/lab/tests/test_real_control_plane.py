"""The lab on a real control plane (``python -m tests.lab up --control-plane real``, preview).

One module-scoped lab: upstream kube-apiserver/etcd/controller-manager/scheduler, our node agent,
istiod and two Envoys it configures. Prints the measured ``up`` time and the control plane's RSS.
"""

import ipaddress
import json
import os
import subprocess
import sys
import time

import pytest
import requests
import yaml

pytestmark = pytest.mark.lab

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
MANIFEST = os.path.join(REPO, "tests", "lab", "manifests", "podinfo", "deployment.yaml")
NO_PROXY = {"http": None, "https": None}


def lab_cli(*args, env=None, timeout=240):
    return subprocess.run([sys.executable, "-m", "tests.lab"] + list(args), cwd=REPO, capture_output=True, text=True,
                          env=env, timeout=timeout)


def _netns():
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return [line.split()[0] for line in out.splitlines() if line.split()]


def _links():
    out = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    return [line.split(":")[1].strip().split("@")[0] for line in out.splitlines() if ":" in line]


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open("/proc/%d/stat" % pid, encoding="utf-8") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _listening(host, port):
    import socket
    try:
        socket.create_connection((host, port), timeout=0.3).close()
        return True
    except OSError:
        return False


def assert_nothing_left(info):
    """No process, netns, link or listening port of the lab described by ``info`` remains."""
    pids = info.get("pids") or {}
    every = [pids.get("supervisor")] + list(pids.get("envoys") or []) + list(pids.get("pods") or []) + list((pids.get("control_plane") or {}).values())
    assert [pid for pid in every if pid and _alive(pid)] == []
    number = (info.get("network") or {}).get("number")
    if number is not None:
        assert [n for n in _netns() if n.startswith("pdl%d-" % number)] == []
        assert [n for n in _links() if n in ("pdl%dbr" % number,) or n.startswith("pdl%dv" % number)] == []
    assert [p for p in info.get("listen_ports") or [] if _listening("127.0.0.1", p)] == []
    if info.get("mesh_address"):
        assert [p for p in info.get("mesh_ports") or [] if _listening(info["mesh_address"], p)] == []


class Lab:
    def __init__(self, directory):
        self.dir = str(directory)
        with open(os.path.join(self.dir, "lab.json"), encoding="utf-8") as handle:
            self.info = json.load(handle)

    def reload(self):
        with open(os.path.join(self.dir, "lab.json"), encoding="utf-8") as handle:
            self.info = json.load(handle)
        return self.info

    def kubectl(self, *args, stdin=None, check=True):
        result = subprocess.run([self.info["kubectl"], "--kubeconfig", self.info["kubeconfig"]] + list(args), input=stdin,
                                capture_output=True, text=True, timeout=120)
        if check:
            assert result.returncode == 0, result.stderr
        return result.stdout

    def get(self, *args):
        return json.loads(self.kubectl("get", "-o", "json", *args))


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    directory = tmp_path_factory.mktemp("reallab")
    started = time.monotonic()
    result = lab_cli("up", "--dir", str(directory), "--control-plane", "real")
    elapsed = time.monotonic() - started
    if result.returncode != 0:
        lab_cli("down", "--dir", str(directory))
        pytest.fail("up failed: %s\n%s" % (result.stderr, result.stdout))
    running = Lab(directory)
    rss = {}
    for name, pid in running.info["pids"]["control_plane"].items():
        with open("/proc/%d/status" % pid, encoding="utf-8") as handle:
            rss[name] = next(int(line.split()[1]) for line in handle if line.startswith("VmRSS:")) // 1024
    running.measured = {"up_seconds": round(elapsed, 1), "ready_seconds": running.info["ready_seconds"],
                        "timings": running.info["timings"], "rss_mib": rss, "rss_total_mib": sum(rss.values())}
    print("\nreal control plane: %s" % json.dumps(running.measured), file=sys.__stdout__)
    yield running
    lab_cli("down", "--dir", str(directory))


def test_up_time_and_memory(lab):
    assert lab.measured["up_seconds"] < 90, lab.measured  # goal 30 s warm (docs/lab.md has the numbers)
    assert lab.measured["rss_total_mib"] < 1536, lab.measured
    status = json.loads(lab_cli("status", "--dir", lab.dir).stdout)
    assert status["healthy"], status
    assert status["nacks"] == {}


def test_kubectl_reports_the_pinned_server_version(lab):
    version = json.loads(lab.kubectl("version", "-o", "json"))
    assert version["serverVersion"]["gitVersion"] == "v1.36.3"
    assert lab.info["versions"]["kubernetes"] == "v1.36.3"


def test_istio_and_gateway_api_crds_are_installed(lab):
    names = set(lab.kubectl("get", "crd", "-o", "name").split())
    for crd in ("virtualservices.networking.istio.io", "destinationrules.networking.istio.io", "gateways.networking.istio.io",
                "sidecars.networking.istio.io", "httproutes.gateway.networking.k8s.io"):
        assert "customresourcedefinition.apiextensions.k8s.io/%s" % crd in names


def _wait(predicate, timeout, message):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(message() if callable(message) else message)
        time.sleep(0.5)


def _ready_pods(lab, selector):
    pods = lab.get("pods", "-n", "test", "-l", selector)["items"]
    ready = [p for p in pods if not p["metadata"].get("deletionTimestamp")
             and any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions", []))]
    return ready


@pytest.fixture(scope="module")
def podinfo(lab):
    """Flagger's tutorial Deployment (6.0.0) plus a canary copy (6.0.1) and their Services."""
    lab.kubectl("create", "namespace", "test")
    lab.kubectl("apply", "-f", MANIFEST)
    with open(MANIFEST, encoding="utf-8") as handle:
        canary = yaml.safe_load(handle)
    canary["metadata"]["name"] = "podinfo-canary"
    canary["metadata"]["labels"]["app"] = "podinfo-canary"
    canary["spec"]["selector"]["matchLabels"]["app"] = "podinfo-canary"
    canary["spec"]["template"]["metadata"]["labels"]["app"] = "podinfo-canary"
    canary["spec"]["template"]["spec"]["containers"][0]["image"] = "ghcr.io/stefanprodan/podinfo:6.0.1"
    services = [{"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "test"},
                 "spec": {"selector": {"app": app}, "ports": [{"name": "http", "port": 9898, "targetPort": 9898}]}}
                for name, app in (("podinfo", "podinfo"), ("podinfo-primary", "podinfo"), ("podinfo-canary", "podinfo-canary"))]
    lab.kubectl("apply", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": [canary] + services}))
    for selector in ("app=podinfo", "app=podinfo-canary"):
        _wait(lambda: _ready_pods(lab, selector), 90, lambda: lab.kubectl("get", "pods", "-A", "-o", "wide"))
    return lab


def test_deployment_gets_ready_pods_with_lab_ips_and_an_endpointslice(podinfo):
    lab = podinfo
    subnet = ipaddress.ip_network(lab.info["network"]["subnet"])
    pods = _ready_pods(lab, "app=podinfo")
    assert len(pods) == 1
    pod = pods[0]
    assert ipaddress.ip_address(pod["status"]["podIP"]) in subnet
    assert pod["spec"]["nodeName"] == lab.info["node"]
    assert pod["status"]["phase"] == "Running"
    assert pod["status"]["containerStatuses"][0]["ready"] is True

    def listed():
        slices = lab.get("endpointslices", "-n", "test", "-l", "kubernetes.io/service-name=podinfo")["items"]
        return sorted(a for s in slices for e in s.get("endpoints") or [] for a in e["addresses"]
                      if (e.get("conditions") or {}).get("ready"))
    _wait(lambda: listed() == [pod["status"]["podIP"]], 30, lambda: "EndpointSlice lists %s" % listed())


def test_podinfo_reports_the_image_tag(podinfo):
    for selector, tag in (("app=podinfo", "6.0.0"), ("app=podinfo-canary", "6.0.1")):
        ip = _ready_pods(podinfo, selector)[0]["status"]["podIP"]
        body = requests.get("http://%s:9898/version" % ip, timeout=5, proxies=NO_PROXY).json()
        assert body["version"] == tag


VS = {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService", "metadata": {"name": "podinfo", "namespace": "test"},
      "spec": {"hosts": ["podinfo"], "gateways": ["mesh", "istio-system/lab-ingress"],
               "http": [{"route": [{"destination": {"host": "podinfo-primary", "port": {"number": 9898}}, "weight": 90},
                                   {"destination": {"host": "podinfo-canary", "port": {"number": 9898}}, "weight": 10}]}]}}


def _weighted(admin):
    dump = requests.get(admin + "/config_dump", params={"resource": "dynamic_route_configs"}, timeout=5, proxies=NO_PROXY).json()
    for config in dump.get("configs", []):
        for host in config["route_config"].get("virtual_hosts", []):
            if host["name"].startswith("podinfo.test.svc.cluster.local"):
                clusters = (host["routes"][0].get("route") or {}).get("weighted_clusters", {}).get("clusters", [])
                return {c["name"]: c["weight"] for c in clusters}
    return {}


def test_virtualservice_weights_route_through_the_sidecar(podinfo):
    lab = podinfo
    lab.kubectl("apply", "-f", "-", stdin=json.dumps(VS))
    expected = {"outbound|9898||podinfo-primary.test.svc.cluster.local": 90, "outbound|9898||podinfo-canary.test.svc.cluster.local": 10}
    _wait(lambda: _weighted(lab.info["mesh_admin"]) == expected, 30, lambda: "routes: %s" % _weighted(lab.info["mesh_admin"]))
    session = requests.Session()
    session.trust_env = False
    versions = {}
    for _ in range(1000):
        response = session.get(lab.info["mesh"] + "/version", headers={"Host": "podinfo.test"}, timeout=5)
        assert response.status_code == 200
        version = response.json()["version"]
        versions[version] = versions.get(version, 0) + 1
    print("\n1,000 requests through the sidecar: %s" % versions, file=sys.__stdout__)
    assert set(versions) <= {"6.0.0", "6.0.1"}
    assert 50 <= versions.get("6.0.1", 0) <= 150, versions
    # the ingress gateway (router, selected by the lab's Istio Gateway) answers for the same route
    response = session.get(lab.info["ingress"] + "/version", headers={"Host": "podinfo.test.svc.cluster.local"}, timeout=5)
    assert response.status_code == 200 and response.json()["version"] in ("6.0.0", "6.0.1")
    status = json.loads(lab_cli("status", "--dir", lab.dir).stdout)
    assert status["nacks"] == {} and status["healthy"], status


def test_prometheus_has_istio_shaped_metrics_of_the_envoys(podinfo):
    """After the 1,000 requests above: Flagger's request-count query per workload, from istiod-configured Envoys."""
    lab = podinfo
    query = 'sum by (destination_workload) (istio_requests_total{reporter="destination",destination_workload_namespace="test",response_code="200"})'

    def counts():
        result = requests.get(lab.info["prometheus"] + "/api/v1/query", params={"query": query}, timeout=5, proxies=NO_PROXY).json()
        return {r["metric"]["destination_workload"]: float(r["value"][1]) for r in result["data"]["result"]}
    # the 1,000 mesh requests and the one through the ingress, once a scrape has seen them all
    _wait(lambda: (lambda c: c.get("podinfo-canary", 0) >= 50 and c.get("podinfo", 0) >= 800 and sum(c.values()) >= 1001)(counts()), 20,
          lambda: "istio_requests_total: %s" % counts())
    up = requests.get(lab.info["prometheus"] + "/api/v1/query", params={"query": 'up{job="kubernetes-pods"}'}, timeout=5, proxies=NO_PROXY).json()
    assert {r["metric"]["workload"] for r in up["data"]["result"] if r["value"][1] == "1"} >= {"podinfo", "podinfo-canary"}


def test_gateway_api_httproute_on_the_service_routes_through_the_sidecar(podinfo):
    """GAMMA: an HTTPRoute whose parent is the Service, translated by istiod for the mesh proxy."""
    lab = podinfo
    lab.kubectl("delete", "virtualservice", "-n", "test", "podinfo")
    route = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute", "metadata": {"name": "podinfo", "namespace": "test"},
             "spec": {"parentRefs": [{"group": "", "kind": "Service", "name": "podinfo", "port": 9898}],
                      "rules": [{"backendRefs": [{"name": "podinfo-primary", "port": 9898, "weight": 70},
                                                 {"name": "podinfo-canary", "port": 9898, "weight": 30}]}]}}
    lab.kubectl("apply", "-f", "-", stdin=json.dumps(route))
    expected = {"outbound|9898||podinfo-primary.test.svc.cluster.local": 70, "outbound|9898||podinfo-canary.test.svc.cluster.local": 30}
    _wait(lambda: _weighted(lab.info["mesh_admin"]) == expected, 30, lambda: "routes: %s" % _weighted(lab.info["mesh_admin"]))
    session = requests.Session()
    session.trust_env = False
    canary = sum(session.get(lab.info["mesh"] + "/version", headers={"Host": "podinfo.test"}, timeout=5).json()["version"] == "6.0.1"
                 for _ in range(500))
    print("\nHTTPRoute 70/30: %d of 500 to the canary" % canary, file=sys.__stdout__)
    assert 110 <= canary <= 190
    lab.kubectl("delete", "httproute", "-n", "test", "podinfo")


def test_deleted_pod_is_stopped_and_replaced(podinfo):
    lab = podinfo
    old = _ready_pods(lab, "app=podinfo")[0]
    pids_before = set(lab.reload()["pids"]["pods"])
    lab.kubectl("delete", "pod", "-n", "test", old["metadata"]["name"], "--wait=true", "--timeout=60s")
    new = _wait(lambda: [p for p in _ready_pods(lab, "app=podinfo") if p["metadata"]["uid"] != old["metadata"]["uid"]], 60,
                "no replacement pod became ready")
    assert new[0]["status"]["podIP"] != "" and lab.get("pods", "-n", "test", "-l", "app=podinfo")["items"][0]["metadata"]["name"] != old["metadata"]["name"]
    _wait(lambda: len(set(lab.reload()["pids"]["pods"]) - pids_before) >= 1, 10, "lab.json lists no new pod process")
    gone = [pid for pid in pids_before if pid not in lab.info["pids"]["pods"]]
    assert gone and not any(_alive(pid) for pid in gone)


def test_killed_container_is_restarted(podinfo):
    lab = podinfo
    pod = _ready_pods(lab, "app=podinfo-canary")[0]
    pid = int(pod["status"]["containerStatuses"][0]["containerID"].split("://")[1])
    os.kill(pid, 9)

    def restarted():
        pods = _ready_pods(lab, "app=podinfo-canary")
        status = pods[0]["status"]["containerStatuses"][0] if pods else {}
        return status if status.get("restartCount") == 1 and status.get("ready") else None
    status = _wait(restarted, 30, lambda: lab.kubectl("get", "pods", "-n", "test", "-o", "yaml"))
    assert status["lastState"]["terminated"]["exitCode"] == 137
    assert _ready_pods(lab, "app=podinfo-canary")[0]["metadata"]["uid"] == pod["metadata"]["uid"]


def test_a_second_lab_runs_beside_the_first(lab, tmp_path):
    second = tmp_path / "second"
    result = lab_cli("up", "--dir", str(second), "--control-plane", "real")
    try:
        assert result.returncode == 0, result.stderr
        other = Lab(second)
        assert other.info["network"]["subnet"] != lab.info["network"]["subnet"]
        assert other.info["mesh"] != lab.info["mesh"]
        assert not set(other.info["listen_ports"]) & set(lab.info["listen_ports"])
        for directory in (lab.dir, str(second)):
            status = json.loads(lab_cli("status", "--dir", directory).stdout)
            assert status["healthy"], status
    finally:
        info = Lab(second).info if (second / "lab.json").exists() else {}
        assert lab_cli("down", "--dir", str(second)).returncode == 0
    assert_nothing_left(info)
    assert json.loads(lab_cli("status", "--dir", lab.dir).stdout)["healthy"]


def test_zz_down_leaves_nothing(lab):
    info = lab.reload()
    result = lab_cli("down", "--dir", lab.dir)
    assert result.returncode == 0, result.stderr
    assert_nothing_left(info)


def test_failed_up_names_the_component_and_leaves_nothing(tmp_path):
    from tests.lab.real.procs import load_manifest
    manifest = load_manifest()
    manifest["binaries"]["kube-scheduler"] = str(tmp_path / "no-such-kube-scheduler")
    path = tmp_path / "lab-binaries.json"
    path.write_text(json.dumps(manifest))
    directory = tmp_path / "lab"
    result = lab_cli("up", "--dir", str(directory), "--control-plane", "real", env=dict(os.environ, LAB_BINARIES_MANIFEST=str(path)))
    assert result.returncode == 1
    assert "kube-scheduler" in result.stderr and "no-such-kube-scheduler" in result.stderr, result.stderr
    with open(directory / "lab.json", encoding="utf-8") as handle:
        info = json.load(handle)
    assert lab_cli("down", "--dir", str(directory)).returncode == 0
    assert_nothing_left(info)
