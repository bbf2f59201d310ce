"""The lab's control plane itself: upstream kube-apiserver/etcd/controller-manager/scheduler, our node
agent, istiod and the two Envoys it configures; real podinfo in pod network namespaces; reliability
(a failed ``up`` names the component and its log and leaves nothing; two labs side by side).

One module-scoped lab. Prints the measured ``up`` time and the RSS of every component.
"""

import ipaddress
import json
import os
import sys

import pytest
import requests
import yaml

from tests.lab.common import alive as _alive

from ._lab import MANIFESTS, NO_PROXY, Lab, assert_nothing_left, http, lab_cli, podinfo_variant, up

pytestmark = pytest.mark.lab

MANIFEST = os.path.join(MANIFESTS, "deployment.yaml")


def _rss_mib(pid):
    with open("/proc/%d/status" % pid, encoding="utf-8") as handle:
        return next(int(line.split()[1]) for line in handle if line.startswith("VmRSS:")) // 1024


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    running = up(tmp_path_factory.mktemp("reallab"))
    pids = running.info["pids"]
    rss = {name: _rss_mib(pid) for name, pid in pids["control_plane"].items()}
    others = {"envoy (%d)" % pid: _rss_mib(pid) for pid in pids["envoys"]}
    others.update(prometheus=_rss_mib(pids["prometheus"]), lab_process=_rss_mib(pids["supervisor"]))
    running.measured = {"up_seconds": running.up_seconds, "ready_seconds": running.info["ready_seconds"],
                        "timings": running.info["timings"], "rss_mib": rss, "rss_total_mib": sum(rss.values()), "other_rss_mib": others}
    print("\nreal control plane: %s" % json.dumps(running.measured), file=sys.__stdout__)
    yield running
    lab_cli("down", "--dir", running.dir)


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
    from ._lab import wait
    return wait(predicate, timeout, message)


def _ready_pods(lab, selector):
    return lab.ready_pods("test", selector)


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
    targets = requests.get(lab.info["prometheus"] + "/api/v1/query", params={"query": 'up{job="kubernetes-pods"}'}, timeout=5, proxies=NO_PROXY).json()
    assert {r["metric"]["workload"] for r in targets["data"]["result"] if r["value"][1] == "1"} >= {"podinfo", "podinfo-canary"}


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


def test_podinfo_endpoints_and_readiness_toggle(podinfo):
    """The real podinfo's endpoints at its pod IP; /readyz/disable takes the pod out of its EndpointSlice."""
    lab = podinfo
    pod = _ready_pods(lab, "app=podinfo-canary")[0]
    base = "http://%s:9898" % pod["status"]["podIP"]
    session = http()
    info = session.get(base + "/", timeout=5).json()
    assert info["version"] == "6.0.1" and info["message"] == "greetings from podinfo v6.0.1"
    assert "PODINFO_UI_COLOR=#34577c" in session.get(base + "/env", timeout=5).json()  # from the Deployment's env
    assert session.get(base + "/headers", headers={"X-Canary": "insider"}, timeout=5).json()["X-Canary"] == ["insider"]
    assert session.get(base + "/status/418", timeout=5).status_code == 418
    metrics = session.get("http://%s:9797/metrics" % pod["status"]["podIP"], timeout=5).text
    assert 'http_requests_total{status="418"}' in metrics

    def ready_addresses():
        slices = lab.get("endpointslices", "-n", "test", "-l", "kubernetes.io/service-name=podinfo-canary")["items"]
        return sorted(a for s in slices for e in s.get("endpoints") or [] for a in e["addresses"] if (e.get("conditions") or {}).get("ready"))
    assert session.post(base + "/readyz/disable", timeout=5).status_code == 202
    try:
        _wait(lambda: ready_addresses() == [], 30, lambda: "the unready pod is still listed: %s" % ready_addresses())
        assert not _ready_pods(lab, "app=podinfo-canary")
    finally:
        assert session.post(base + "/readyz/enable", timeout=5).status_code == 202
    _wait(lambda: ready_addresses() == [pod["status"]["podIP"]], 30, lambda: "the pod is not listed again: %s" % ready_addresses())


def test_crash_looping_container_shows_in_pod_status_and_trips_the_deadline(podinfo):
    lab = podinfo
    broken = podinfo_variant("broken", "ghcr.io/stefanprodan/podinfo:6.0.1")
    broken["spec"]["progressDeadlineSeconds"] = 10
    broken["spec"]["template"]["spec"]["containers"][0]["command"] = ["./podinfo", "--port=not-a-port"]
    lab.apply(broken)

    def crash_looping():
        pods = lab.get("pods", "-n", "test", "-l", "app=broken")["items"]
        statuses = [c for p in pods for c in (p.get("status") or {}).get("containerStatuses") or []]
        looping = [c for c in statuses if c["restartCount"] >= 1 and c["state"].get("waiting", {}).get("reason") == "CrashLoopBackOff"]
        return looping and looping[0]
    container = _wait(crash_looping, 30, lambda: lab.kubectl("get", "pods", "-n", "test", "-l", "app=broken", "-o", "yaml"))
    assert container["ready"] is False
    assert container["lastState"]["terminated"]["exitCode"] != 0

    def progressing():
        deployment = lab.get("deployment", "-n", "test", "broken")
        return next((c for c in deployment["status"].get("conditions") or [] if c["type"] == "Progressing"), {})
    condition = _wait(lambda: progressing().get("reason") == "ProgressDeadlineExceeded" and progressing(), 60,
                      lambda: "Progressing: %s" % progressing())
    assert condition["status"] == "False"
    lab.kubectl("delete", "deployment", "-n", "test", "broken", "--wait=true")


def test_missing_config_map_blocks_the_container_until_it_exists(podinfo):
    lab = podinfo
    plain = podinfo_variant("plain", "ghcr.io/stefanprodan/podinfo:6.1.0")
    plain["spec"]["template"]["spec"]["containers"][0]["env"] = [
        {"name": "PODINFO_UI_MESSAGE", "valueFrom": {"configMapKeyRef": {"name": "ui", "key": "message"}}}]
    lab.apply(plain)

    def waiting():
        pods = lab.get("pods", "-n", "test", "-l", "app=plain")["items"]
        return [c["state"]["waiting"] for p in pods for c in (p.get("status") or {}).get("containerStatuses") or []
                if c["state"].get("waiting", {}).get("reason") == "CreateContainerConfigError"]
    state = _wait(waiting, 30, lambda: lab.kubectl("get", "pods", "-n", "test", "-l", "app=plain", "-o", "yaml"))
    assert state[0]["message"] == 'configmap "ui" not found'
    lab.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ui", "namespace": "test"}, "data": {"message": "hello lab"}})
    pod = _wait(lambda: _ready_pods(lab, "app=plain"), 60, "the pod to become ready once the ConfigMap exists")[0]
    assert http().get("http://%s:9898/" % pod["status"]["podIP"], timeout=5).json()["message"] == "hello lab"
    lab.kubectl("delete", "deployment", "-n", "test", "plain", "--wait=true")


def test_istio_series_carry_the_labels_flaggers_queries_use(podinfo):
    """The label set of the derived ``istio_requests_total`` (docs/lab.md lists how it differs from a sidecar's)."""
    lab = podinfo
    series = lab.query('istio_requests_total{destination_workload="podinfo-canary",response_code="200"}')
    assert series, "no istio_requests_total for podinfo-canary"
    labels = series[0]["metric"]
    assert {k: labels[k] for k in ("reporter", "destination_workload", "destination_workload_namespace", "destination_service",
                                   "destination_service_name", "destination_service_namespace", "destination_canonical_service",
                                   "source_workload", "request_protocol", "response_code")} == {
        "reporter": "destination", "destination_workload": "podinfo-canary", "destination_workload_namespace": "test",
        "destination_service": "podinfo-canary.test.svc.cluster.local", "destination_service_name": "podinfo-canary",
        "destination_service_namespace": "test", "destination_canonical_service": "podinfo-canary", "source_workload": "unknown",
        "request_protocol": "http", "response_code": "200"}
    assert labels["envoy_cluster_name"] == "outbound|9898||podinfo-canary.test.svc.cluster.local;"
    print("\nistio_requests_total labels: %s" % sorted(labels), file=sys.__stdout__)


def test_a_second_lab_runs_beside_the_first(lab, tmp_path):
    second = tmp_path / "second"
    result = lab_cli("up", "--dir", str(second))
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


def test_z_a_dead_envoy_is_reported_not_restarted(lab):
    envoy = lab.reload()["pids"]["envoy"]  # the mesh proxy
    os.kill(envoy, 9)
    info = _wait(lambda: (lambda i: i["state"] == "degraded" and i)(lab.reload()), 10, "the lab to report degraded")
    assert any(e.startswith("envoy (mesh) exited with code") and "envoy-mesh.log" in e for e in info["errors"]), info["errors"]
    assert info["pids"]["envoy"] == envoy and not _alive(envoy)
    status = lab_cli("status", "--dir", lab.dir)
    assert status.returncode == 1
    result = json.loads(status.stdout)
    assert result["checks"]["envoy_mesh"] is False and result["checks"]["mesh"] is False and result["checks"]["envoy_ingress"] is True


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
    result = lab_cli("up", "--dir", str(directory), env=dict(os.environ, LAB_BINARIES_MANIFEST=str(path)))
    assert result.returncode == 1
    assert "kube-scheduler" in result.stderr and "no-such-kube-scheduler" in result.stderr, result.stderr
    with open(directory / "lab.json", encoding="utf-8") as handle:
        info = json.load(handle)
    assert lab_cli("down", "--dir", str(directory)).returncode == 0
    assert_nothing_left(info)


def test_failed_up_names_a_component_that_never_becomes_ready_and_leaves_nothing(tmp_path):
    """istiod that starts but never answers /ready: up fails after the control plane, the pod network
    and the CRDs exist, names pilot-discovery and its log, and stops all of it."""
    from tests.lab.real.procs import load_manifest
    fake = tmp_path / "pilot-discovery"
    fake.write_text("#!/bin/sh\necho 'fake istiod: never ready'\nexec sleep 300\n")
    fake.chmod(0o755)
    manifest = load_manifest()
    manifest["binaries"]["pilot-discovery"] = str(fake)
    path = tmp_path / "lab-binaries.json"
    path.write_text(json.dumps(manifest))
    directory = tmp_path / "lab"
    result = lab_cli("up", "--dir", str(directory), env=dict(os.environ, LAB_BINARIES_MANIFEST=str(path), LAB_READY_TIMEOUT="pilot-discovery=5"))
    assert result.returncode == 1
    assert "pilot-discovery was not ready after 5 s" in result.stderr, result.stderr
    assert "%s/logs/istiod.log" % directory in result.stderr, result.stderr
    with open(directory / "lab.json", encoding="utf-8") as handle:
        info = json.load(handle)
    assert info["state"] == "failed" and info["network"]["number"] is not None
    assert "control plane ready" in info["timings"] and "CRDs established" in info["timings"]
    assert "fake istiod: never ready" in (directory / "logs" / "istiod.log").read_text()
    assert_nothing_left(info)  # up cleaned up by itself
    assert lab_cli("down", "--dir", str(directory)).returncode == 0
    assert_nothing_left(info)
