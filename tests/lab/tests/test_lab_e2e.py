"""The whole lab through its CLI, as the Molecule scenario and the demo use it.

One lab for the module (``python -m tests.lab up``); the tests run in file order and build on each
other: Flagger's tutorial manifests applied unchanged with kubernetes.core (a real ansible-playbook
run), pods as podinfo processes that scaling and image changes roll, VirtualService weights,
DestinationRule subsets, header matches, mirroring and a Gateway-bound VirtualService translated by
istiod and followed by the traffic, injected errors in Flagger's success-rate query, and ``down``
leaving nothing behind.
"""

import json
import os
import subprocess
import sys
import time

import pytest

from tests.lab.common import alive

from ._lab import MANIFESTS, REPO, assert_nothing_left, http, lab_cli, podinfo_variant, service, up, wait

pytestmark = pytest.mark.lab

NS = "test"
HERE = os.path.dirname(os.path.abspath(__file__))
CANARY_CLUSTER = "outbound|9898||podinfo-canary.test.svc.cluster.local"
PRIMARY_CLUSTER = "outbound|9898||podinfo-primary.test.svc.cluster.local"
SUCCESS_RATE = ('sum(rate(istio_requests_total{reporter="destination",destination_workload_namespace="test",'
                'destination_workload=~"podinfo",response_code!~"5.*"}[30s])) / sum(rate(istio_requests_total{'
                'reporter="destination",destination_workload_namespace="test",destination_workload=~"podinfo"}[30s])) * 100')


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    running = up(tmp_path_factory.mktemp("lab"))
    yield running
    lab_cli("down", "--dir", running.dir)


def test_up_describes_the_lab(lab):
    info = lab.info
    for key in ("kubeconfig", "api", "token", "ca", "kubectl", "mesh", "ingress", "prometheus", "envoy_admin", "mesh_admin",
                "ingress_admin", "istiod", "pids", "network", "listen_ports", "versions"):
        assert info.get(key), key
    assert info["state"] == "running" and info["control_plane"] == "real"
    assert all(alive(info["pids"][k]) for k in ("supervisor", "prometheus"))
    status = lab_cli("status", "--dir", lab.dir)
    assert status.returncode == 0, status.stdout
    assert json.loads(status.stdout)["healthy"] is True
    # Nothing is routed yet: the client proxy's REGISTRY_ONLY policy answers an unknown host with 502
    # (istiod's block_all route), the ingress gateway with 404 (no virtual host).
    assert lab.through("mesh", "podinfo.test").status_code == 502
    assert lab.through("ingress", "podinfo.test.svc.cluster.local").status_code == 404
    print("\nup %.1f s (lab process: %.1f s) %s" % (lab.up_seconds, info["ready_seconds"], info["timings"]), file=sys.__stdout__)


def test_kubernetes_core_modules_through_ansible_playbook(lab, tmp_path):
    """kubernetes.core unchanged through the lab's kubeconfig: Flagger's manifests, k8s, k8s_scale, k8s_json_patch, k8s_info."""
    results = tmp_path / "results.json"
    bin_dir = os.path.dirname(sys.executable)
    env = dict(os.environ, PATH=bin_dir + os.pathsep + os.environ.get("PATH", ""), ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0",
               ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, ".build", "collections"))
    run = subprocess.run(
        [os.path.join(bin_dir, "ansible-playbook"), "-i", "localhost,", "-c", "local", os.path.join(HERE, "playbooks", "kubernetes_core.yml"),
         "-e", "kubeconfig=%s manifests=%s results=%s" % (lab.info["kubeconfig"], MANIFESTS, results)],
        env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    out = json.loads(results.read_text())

    # Flagger's tutorial manifests apply unchanged, become ready (the real HPA controller lifts the
    # replicas to its minReplicas, 2), and re-apply as no-ops.
    assert all(result["changed"] for result in out["podinfo"]["results"])
    assert not any(result["changed"] for result in out["podinfo_again"]["results"])
    assert out["web_created"]["changed"] and not out["web_again"]["changed"]
    assert out["scaled"]["changed"] and out["scaled"]["result"]["status"]["availableReplicas"] == 3
    assert out["patched"]["changed"]
    rollout = out["rollout"]["resources"][0]
    assert rollout["status"]["observedGeneration"] == rollout["metadata"]["generation"]
    assert {p["spec"]["containers"][0]["image"] for p in out["pods"]["resources"]} == {"ghcr.io/stefanprodan/podinfo:6.0.1"}
    assert out["vs_created"]["changed"] and out["vs_shifted"]["changed"]
    assert [r["weight"] for r in out["vs_shifted"]["result"]["spec"]["http"][0]["route"]] == [90, 10]
    assert out["left"]["resources"] == []
    wait(lambda: lab.rolled_out(NS, "podinfo", 2), 60, lambda: lab.kubectl("get", "pods", "-n", NS, "-o", "wide"))


def test_kubernetes_core_client_and_waiter_in_process(lab):
    """The client and waiter our modules build on (kubernetes.core's module_utils), against the real API server."""
    pytest.importorskip("ansible_collections.kubernetes.core")
    from ansible_collections.kubernetes.core.plugins.module_utils.k8s.client import get_api_client
    from ansible_collections.kubernetes.core.plugins.module_utils.k8s.waiter import get_waiter

    client = get_api_client(kubeconfig=lab.info["kubeconfig"])
    resource = client.resource("Deployment", "apps/v1")
    client.create(resource, podinfo_variant("api", "ghcr.io/stefanprodan/podinfo:6.0.0"), namespace=NS)
    ready, instance, _ = get_waiter(client, resource).wait(timeout=60, sleep=1, name="api", namespace=NS)
    assert ready, instance
    assert instance["status"]["readyReplicas"] == 1
    lab.kubectl("delete", "deployment", "-n", NS, "api", "--wait=true")


def _pod_pids(lab, selector):
    """containerID (lab://PID) of the ready pods -> pid, checked against lab.json and /proc."""
    pids = {}
    for pod in lab.ready_pods(NS, selector):
        pid = int(pod["status"]["containerStatuses"][0]["containerID"].split("://")[1])
        pids[pod["metadata"]["name"]] = pid
    listed = set(lab.reload()["pids"]["pods"])
    return pids if set(pids.values()) <= listed and all(alive(pid) for pid in pids.values()) else None


def test_scaling_starts_and_stops_processes(lab):
    before = wait(lambda: (lambda p: p if p and len(p) == 2 else None)(_pod_pids(lab, "app=podinfo")), 20, "2 pod processes")
    lab.kubectl("scale", "deployment", "-n", NS, "podinfo", "--replicas=3")
    wait(lambda: lab.rolled_out(NS, "podinfo", 3), 60, "3 ready replicas")
    scaled = wait(lambda: (lambda p: p if p and len(p) == 3 else None)(_pod_pids(lab, "app=podinfo")), 20, "3 pod processes")
    assert set(before) < set(scaled)
    lab.kubectl("scale", "deployment", "-n", NS, "podinfo", "--replicas=2")
    wait(lambda: lab.rolled_out(NS, "podinfo", 2), 60, "2 ready replicas")
    after = wait(lambda: (lambda p: p if p and len(p) == 2 else None)(_pod_pids(lab, "app=podinfo")), 20, "2 pod processes")
    [removed] = set(scaled) - set(after)
    wait(lambda: not alive(scaled[removed]), 15, "the removed pod's process to exit")


def test_image_change_rolls_the_processes(lab):
    """A new image (and a label the subsets below use) rolls every pod: podinfo reports the image tag."""
    old = _pod_pids(lab, "app=podinfo")
    patch = {"spec": {"template": {"metadata": {"labels": {"family": "podinfo"}},
                                   "spec": {"containers": [{"name": "podinfod", "image": "ghcr.io/stefanprodan/podinfo:6.0.1"}]}}}}
    lab.kubectl("patch", "deployment", "-n", NS, "podinfo", "--type=strategic", "-p", json.dumps(patch))
    wait(lambda: lab.rolled_out(NS, "podinfo", 2) and not set(lab.pod_versions(NS, "app=podinfo")) & set(old), 120, "the rollout to 6.0.1",
         interval=1)
    assert set(lab.pod_versions(NS, "app=podinfo").values()) == {"6.0.1"}
    wait(lambda: not any(alive(pid) for pid in old.values()), 15, "the old processes to exit")


def _vs(http_routes, name="podinfo", hosts=("podinfo",), gateways=None):
    spec = {"hosts": list(hosts), "http": http_routes}
    if gateways:
        spec["gateways"] = list(gateways)
    return {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService", "metadata": {"name": name, "namespace": NS}, "spec": spec}


def _split(primary, canary, **extra):
    return [dict({"route": [{"destination": {"host": "podinfo-primary"}, "weight": primary},
                            {"destination": {"host": "podinfo-canary"}, "weight": canary}]}, **extra)]


@pytest.fixture(scope="module")
def routing(lab):
    """Flagger's shape: podinfo-primary (6.0.0) beside the podinfo target (6.0.1), apex/primary/canary Services, VS at 100/0."""
    lab.apply(podinfo_variant("podinfo-primary", "ghcr.io/stefanprodan/podinfo:6.0.0", labels={"family": "podinfo"}),
              service("podinfo", NS, {"app": "podinfo-primary"}), service("podinfo-primary", NS, {"app": "podinfo-primary"}),
              service("podinfo-canary", NS, {"app": "podinfo"}), _vs(_split(100, 0)))
    wait(lambda: lab.rolled_out(NS, "podinfo-primary", 1), 60, "podinfo-primary")
    wait(lambda: lab.versions("mesh", "podinfo.test", 10) == {"6.0.0": 10}, 30, "the 100/0 route")
    wait(lambda: lab.versions("mesh", "podinfo-canary.test", 10) == {"6.0.1": 10}, 30, "the canary Service")
    return lab


def test_weight_change_shows_in_traffic_within_a_second(routing):
    lab = routing
    session = http()
    started = time.monotonic()
    lab.apply(_vs(_split(0, 100)))
    applied = time.monotonic() - started
    wait(lambda: lab.through("mesh", "podinfo.test", session=session).json()["version"] == "6.0.1", 1.0,
         "the canary to take the traffic within 1 s of the write", interval=0.01)
    print("\nweight change live %.3f s after kubectl apply started (%.3f s of it kubectl)" % (time.monotonic() - started, applied),
          file=sys.__stdout__)
    lab.apply(_vs(_split(90, 10)))
    time.sleep(1.0)
    seen = lab.versions("mesh", "podinfo.test", 2000)
    share = 100.0 * seen.get("6.0.1", 0) / 2000
    print("canary share at 90/10 over 2,000 requests: %.2f%% %s" % (share, seen), file=sys.__stdout__)
    assert set(seen) == {"6.0.0", "6.0.1"}
    assert 8.0 <= share <= 12.0, seen


def test_header_match_sends_everything_to_the_canary(routing):
    lab = routing
    lab.apply(_vs([{"match": [{"headers": {"x-canary": {"exact": "insider"}}}], "route": [{"destination": {"host": "podinfo-canary"}}]}]
                  + _split(100, 0)))
    wait(lambda: lab.versions("mesh", "podinfo.test", 5, {"x-canary": "insider"}) == {"6.0.1": 5}, 10, "the header route")
    assert lab.versions("mesh", "podinfo.test", 500, {"x-canary": "insider"}) == {"6.0.1": 500}
    assert lab.versions("mesh", "podinfo.test", 200, {"x-canary": "other"}) == {"6.0.0": 200}
    assert lab.versions("mesh", "podinfo.test", 200) == {"6.0.0": 200}


def test_destination_rule_subsets_route_by_pod_labels(routing):
    """One Service over both Deployments; a DestinationRule's subsets (by pod label) as istiod builds them."""
    lab = routing
    rule = {"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule", "metadata": {"name": "podinfo-family", "namespace": NS},
            "spec": {"host": "podinfo-family", "subsets": [{"name": "stable", "labels": {"app": "podinfo-primary"}},
                                                           {"name": "next", "labels": {"app": "podinfo"}}]}}
    routes = [{"match": [{"headers": {"x-canary": {"exact": "insider"}}}],
               "route": [{"destination": {"host": "podinfo-family", "subset": "next"}}]},
              {"route": [{"destination": {"host": "podinfo-family", "subset": "stable"}, "weight": 75},
                         {"destination": {"host": "podinfo-family", "subset": "next"}, "weight": 25}]}]
    lab.apply(service("podinfo-family", NS, {"family": "podinfo"}), rule, _vs(routes, name="podinfo-family", hosts=["podinfo-family"]))

    def clusters():
        dump = lab.route_dump()
        for config in dump.get("configs", []):
            for host in config["route_config"].get("virtual_hosts", []):
                if host["name"].startswith("podinfo-family.test.svc.cluster.local"):
                    last = host["routes"][-1]["route"].get("weighted_clusters", {}).get("clusters", [])
                    return {c["name"]: c["weight"] for c in last}
        return {}
    expected = {"outbound|9898|stable|podinfo-family.test.svc.cluster.local": 75, "outbound|9898|next|podinfo-family.test.svc.cluster.local": 25}
    wait(lambda: clusters() == expected, 30, lambda: "routes: %s" % clusters())
    wait(lambda: lab.versions("mesh", "podinfo-family.test", 5, {"x-canary": "insider"}) == {"6.0.1": 5}, 10, "the subset route")
    assert lab.versions("mesh", "podinfo-family.test", 200, {"x-canary": "insider"}) == {"6.0.1": 200}
    seen = lab.versions("mesh", "podinfo-family.test", 1000)
    print("\nsubsets 75/25 over 1,000 requests: %s" % seen, file=sys.__stdout__)
    assert set(seen) == {"6.0.0", "6.0.1"} and 200 <= seen["6.0.1"] <= 300, seen
    # The subset clusters are mapped to the workloads whose pods carry the subsets' labels.
    query = 'sum by (destination_workload) (istio_requests_total{destination_service_name="podinfo-family",response_code="200"})'

    def counts():
        return {r["metric"]["destination_workload"]: float(r["value"][1]) for r in lab.query(query)}
    wait(lambda: (lambda c: c.get("podinfo", 0) >= 200 + seen["6.0.1"] and c.get("podinfo-primary", 0) >= seen["6.0.0"])(counts()), 20,
         lambda: "istio_requests_total by subset workload: %s" % counts())


def _served(lab, selector, path="version"):
    """Requests the podinfo processes behind ``selector`` served on ``path`` (their own /metrics)."""
    total = 0.0
    for pod in lab.ready_pods(NS, selector):
        text = http().get("http://%s:9797/metrics" % pod["status"]["podIP"], timeout=5).text
        total += sum(float(line.split()[-1]) for line in text.splitlines()
                     if line.startswith("http_request_duration_seconds_count") and 'path="%s"' % path in line)
    return total


def test_mirroring_copies_requests_to_the_canary(routing):
    lab = routing
    lab.apply(_vs(_split(100, 0, mirror={"host": "podinfo-canary"}, mirrorPercentage={"value": 100.0})))

    def mirrored():
        dump = lab.route_dump()
        return any("request_mirror_policies" in (route.get("route") or {})
                   for config in dump.get("configs", []) for host in config["route_config"].get("virtual_hosts", [])
                   if host["name"].startswith("podinfo.test.svc.cluster.local") for route in host["routes"])
    wait(mirrored, 30, "istiod to push the mirror policy")
    canary_before, primary_before = _served(lab, "app=podinfo"), _served(lab, "app=podinfo-primary")
    assert lab.versions("mesh", "podinfo.test", 100) == {"6.0.0": 100}
    # The copies are fire-and-forget: give the last ones a moment.
    wait(lambda: _served(lab, "app=podinfo") - canary_before >= 100, 5,
         lambda: "the canary served %d copies" % (_served(lab, "app=podinfo") - canary_before))
    assert _served(lab, "app=podinfo-primary") - primary_before == 100
    lab.apply(_vs(_split(100, 0)))


def test_ingress_gateway_serves_virtual_services_bound_to_it(routing):
    lab = routing
    lab.apply(_vs([{"route": [{"destination": {"host": "podinfo-primary"}}]}], name="public", hosts=["app.example.com"],
                  gateways=["istio-system/lab-ingress"]))
    wait(lambda: lab.through("ingress", "app.example.com").status_code == 200, 30, "the ingress route")
    assert lab.versions("ingress", "app.example.com", 20) == {"6.0.0": 20}
    # The mesh VirtualService is not bound to the gateway, the gateway one not to the mesh.
    assert lab.through("ingress", "podinfo.test.svc.cluster.local").status_code == 404
    assert lab.through("mesh", "app.example.com").status_code == 502


def test_injected_random_error_shows_in_the_success_rate_query(routing):
    lab = routing
    # Steady load on the canary Service from before the change, as Flagger's load tester does
    # (a series' first sample never counts in rate()).
    load = subprocess.Popen(["hey", "-z", "90s", "-q", "25", "-c", "2", "-host", "podinfo-canary.test", lab.info["mesh"] + "/"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait(lambda: [s for s in lab.query(SUCCESS_RATE) if float(s["value"][1]) == 100.0], 30, "a 100% success rate")
        old = _pod_pids(lab, "app=podinfo")
        patch = [{"op": "test", "path": "/spec/template/spec/containers/0/command/7", "value": "--random-error=false"},
                 {"op": "replace", "path": "/spec/template/spec/containers/0/command/7", "value": "--random-error=true"}]
        lab.kubectl("patch", "deployment", "-n", NS, "podinfo", "--type=json", "-p", json.dumps(patch))
        # (not pod_versions: one request in three to these pods fails on purpose)
        wait(lambda: lab.rolled_out(NS, "podinfo", 2) and not {p["metadata"]["name"] for p in lab.ready_pods(NS, "app=podinfo")} & set(old),
             120, "the faulty rollout", interval=1)
        injected = time.monotonic()
        rate = wait(lambda: [s for s in lab.query(SUCCESS_RATE) if float(s["value"][1]) < 99.0], 20,
                    lambda: "the success rate to drop below 99%%: %s" % lab.query(SUCCESS_RATE))
        print("\nsuccess rate %.1f%% %.1f s after the faulty pods were ready" % (float(rate[0]["value"][1]), time.monotonic() - injected),
              file=sys.__stdout__)
    finally:
        load.terminate()
        load.wait(10)


def test_zz_down_stops_every_process_and_port(lab):
    info = lab.reload()
    assert len(info["pids"]["pods"]) >= 3
    started = time.monotonic()
    down = lab_cli("down", "--dir", lab.dir)
    assert down.returncode == 0, down.stdout + down.stderr
    print("\ndown in %.1f s" % (time.monotonic() - started), file=sys.__stdout__)
    assert_nothing_left(info)
    assert json.loads(lab_cli("status", "--dir", lab.dir).stdout)["healthy"] is False
    assert lab_cli("down", "--dir", lab.dir).returncode == 0  # idempotent
