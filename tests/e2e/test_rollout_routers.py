"""The rollout role through each router of the seed documents, with real traffic through the mesh Envoy that
istiod programs: a Gateway API HTTPRoute the user owns (seed 002, Argo Rollouts' Gateway API plugin) and Istio
subsets on a hand-written VirtualService with two Deployments (seed 001, Argo Rollouts' subset-level Istio).

Each rollout is held at weight 30 by a promotion gate while 1,000 requests are counted by the version that
answered them, then promoted by the gate playbook; a faulty revision is then rolled back."""

import pytest

from tests.mesh import podinfo_deployment, versions_served, wait_for

from .conftest import Canary, finish, kill_group

pytestmark = pytest.mark.lab

PRIMARY, CANARY, FAULTY = "6.0.0", "6.0.1", "6.0.2"
REQUESTS = 1000
HELD = {"interval": "2s", "step_weights": [30]}
FAILING = [{"name": "error-free", "query": "vector(42)", "threshold_range": {"min": 99}}]
HTTP_ROUTE = ("gateway.networking.k8s.io/v1", "HTTPRoute")
VS = ("networking.istio.io/v1beta1", "VirtualService")


def canary_share(lab, host):
    """The canary's share in percent of REQUESTS answered through the mesh, once the split is served."""
    wait_for(lambda: CANARY in versions_served(lab, host, 20), 30, "the canary answering through the mesh")
    split = versions_served(lab, host, REQUESTS)
    print("\n%s at weight 30: %s" % (host, split))
    assert set(split) <= {PRIMARY, CANARY}, split
    return 100.0 * split.get(CANARY, 0) / REQUESTS


def hold_then_promote(target, settings, weights, host):
    """A run held at weight 30 in WaitingPromotion: measure the split, open the gate, let it promote."""
    target.release(CANARY)
    run = target.start(rollout_analysis=HELD, rollout_gates=["promotion"], **settings)
    try:
        try:
            wait_for(lambda: target.status().get("phase") == "WaitingPromotion" or run.poll() is not None, 240,
                     "the run waiting for the promotion gate")
        except AssertionError:
            kill_group(run)
            raise
        if run.poll() is not None:
            raise AssertionError("the run ended before the promotion gate:\n%s" % run.stdout.read()[-6000:])
        assert weights() == (70, 30)
        share = canary_share(target.cluster, host)
        # binomial(1000, 0.3): sd 1.45 points, so 5 points is more than 3 sd
        assert 25 <= share <= 35, share
        rc, out = target.run("gate", rollout_gate="promotion", rollout_gate_action="open")
        assert rc == 0, out
        output = finish(run, 180)
    finally:
        kill_group(run)
    assert run.returncode == 0, output
    assert target.status()["phase"] == "Succeeded", output
    assert weights() == (100, 0)
    return share


def roll_back_faulty(target, settings, weights):
    target.release(FAULTY)
    rc, out = target.run(rollout_analysis={"interval": "1s", "metrics": FAILING}, **settings)
    assert rc != 0, out
    status = target.status()
    assert status["phase"] == "Failed" and "failed checks threshold reached 2" in status["reason"], status
    assert weights() == (100, 0)
    return out


def test_gateway_api_http_route_of_the_user(shared_lab, namespace, tmp_path):
    """Seed 002: the user's HTTPRoute with a rule of its own ahead of the weighted one; only the weighted rule's
    backendRefs weights change, through the rollout, the promotion and the rollback."""
    lab = shared_lab
    lab.store.create(podinfo_deployment(namespace, PRIMARY, replicas=1))
    other_rule = {"matches": [{"path": {"type": "PathPrefix", "value": "/healthz"}}],
                  "backendRefs": [{"group": "", "kind": "Service", "name": "podinfo-primary", "port": 9898, "weight": 1}]}
    lab.store.create({"apiVersion": HTTP_ROUTE[0], "kind": HTTP_ROUTE[1], "metadata": {"name": "podinfo", "namespace": namespace},
                      "spec": {"parentRefs": [{"group": "", "kind": "Service", "name": "podinfo", "port": 9898}],
                               "rules": [other_rule, {"backendRefs": [
                                   {"group": "", "kind": "Service", "name": "podinfo-primary", "port": 9898, "weight": 100},
                                   {"group": "", "kind": "Service", "name": "podinfo-canary", "port": 9898, "weight": 0}]}]}})
    target = Canary(lab, namespace, tmp_path)
    settings = {"rollout_router": "gatewayapi", "rollout_http_route": {"name": "podinfo", "rule": 1}}

    def route():
        return lab.store.get(HTTP_ROUTE[0], HTTP_ROUTE[1], namespace, "podinfo")

    def weights():
        refs = dict((ref["name"], ref.get("weight", 1)) for ref in route()["spec"]["rules"][1]["backendRefs"])
        return refs["podinfo-primary"], refs["podinfo-canary"]

    rc, out = target.run(**settings)
    assert rc == 0, out
    assert target.status()["phase"] == "Initialized", out
    assert lab.store.get(*VS, namespace, "podinfo") is None, "the Gateway API router creates no VirtualService"

    hold_then_promote(target, settings, weights, "podinfo.%s" % namespace)
    assert target.image("podinfo-primary").endswith(":" + CANARY)
    assert target.replicas("podinfo") == 0
    wait_for(lambda: versions_served(lab, "podinfo.%s" % namespace, 20) == {CANARY: 20}, 30, "the promoted primary")

    roll_back_faulty(target, settings, weights)
    assert target.image("podinfo-primary").endswith(":" + CANARY)
    spec = route()["spec"]
    assert spec["rules"][0] == other_rule and len(spec["rules"]) == 2, spec
    assert spec["parentRefs"] == [{"group": "", "kind": "Service", "name": "podinfo", "port": 9898}]


def backend(namespace, version, image_version, replicas):
    """Seed 001's backend-<version> Deployment: labels app=backend and version=<version>."""
    deployment = podinfo_deployment(namespace, image_version, replicas=replicas)
    labels = {"app": "backend", "version": version}
    deployment["metadata"].update(name="backend-" + version, labels=dict(labels))
    deployment["spec"]["selector"] = {"matchLabels": dict(labels)}
    deployment["spec"]["template"]["metadata"]["labels"] = dict(labels)
    return deployment


def test_istio_subsets_of_a_hand_written_virtual_service(shared_lab, namespace, tmp_path):
    """Seed 001: Deployments backend-v1 and backend-v2, DestinationRule subsets v1/v2, the user's VirtualService
    with a tester's header route. The promotion updates backend-v1 in place: it runs the new version and keeps
    its pods in subset v1; backend-v2 goes to 0."""
    lab = shared_lab
    for obj in (backend(namespace, "v1", PRIMARY, 1), backend(namespace, "v2", CANARY, 1),
                {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "backend", "namespace": namespace},
                 "spec": {"selector": {"app": "backend"}, "ports": [{"name": "http", "port": 9898, "targetPort": 9898}]}},
                {"apiVersion": "networking.istio.io/v1beta1", "kind": "DestinationRule", "metadata": {"name": "backend", "namespace": namespace},
                 "spec": {"host": "backend", "subsets": [{"name": "v1", "labels": {"version": "v1"}},
                                                         {"name": "v2", "labels": {"version": "v2"}}]}},
                {"apiVersion": VS[0], "kind": VS[1], "metadata": {"name": "backend", "namespace": namespace},
                 "spec": {"hosts": ["backend"], "http": [
                     {"match": [{"headers": {"canary": {"exact": "yes"}}}], "route": [{"destination": {"host": "backend", "subset": "v2"}}]},
                     {"route": [{"destination": {"host": "backend", "subset": "v1"}, "weight": 90},
                                {"destination": {"host": "backend", "subset": "v2"}, "weight": 10}]}]}}):
        lab.store.create(obj)
    target = Canary(lab, namespace, tmp_path, target="backend-v2")
    settings = {"rollout_service": {"name": "backend"},
                "rollout_subsets": {"stable_deployment": "backend-v1", "stable": "v1", "canary": "v2"}}
    host = "backend.%s" % namespace

    def virtual_service():
        return lab.store.get(VS[0], VS[1], namespace, "backend")

    def weights():
        route = dict((r["destination"]["subset"], r.get("weight", 0)) for r in virtual_service()["spec"]["http"][1]["route"])
        return route["v1"], route["v2"]

    def ready(name):
        return (lab.store.get("apps/v1", "Deployment", namespace, name).get("status") or {}).get("readyReplicas") == 1

    wait_for(lambda: ready("backend-v1") and ready("backend-v2"), 90, "both backends")
    # The first run finds backend-v2 newer than the stable subset: it initializes (100 % v1) and analyses it at once.
    share = hold_then_promote(target, settings, weights, host)
    stable = lab.store.get("apps/v1", "Deployment", namespace, "backend-v1")
    assert stable["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":" + CANARY)
    assert stable["spec"]["template"]["metadata"]["labels"] == {"app": "backend", "version": "v1"}
    assert target.replicas("backend-v2") == 0
    assert lab.store.get("apps/v1", "Deployment", namespace, "backend-v2-primary") is None
    assert virtual_service()["spec"]["http"][0]["match"] == [{"headers": {"canary": {"exact": "yes"}}}]
    wait_for(lambda: versions_served(lab, host, 20) == {CANARY: 20}, 60, "the stable subset answering the new version")
    print("subset mode: canary share %.1f %%" % share)

    rc, out = target.run(**settings)
    assert rc == 0 and "No new revision of backend-v2" in out, out

    roll_back_faulty(target, settings, weights)
    assert lab.store.get("apps/v1", "Deployment", namespace, "backend-v1")["spec"]["template"]["spec"]["containers"][0]["image"].endswith(
        ":" + CANARY)
    assert target.replicas("backend-v2") == 0
    assert versions_served(lab, host, 20) == {CANARY: 20}
