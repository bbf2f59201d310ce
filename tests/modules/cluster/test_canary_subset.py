"""Istio subset mode end to end at module level (seed 001): the user's VirtualService, DestinationRule
subsets v1/v2 and two Deployments; canary_init creates nothing, canary_promote updates the stable
Deployment in place (Argo Rollouts' subset mode), on the lab's real API server and controllers."""

import copy

import pytest

from ansible_collections.progressive.delivery.plugins.modules import canary_init, canary_promote, canary_scale

from tests.modules.cluster.harness import podinfo_deployment, run_module, seed, snapshot, validate_object

VS = ("networking.istio.io/v1beta1", "VirtualService")
SUBSET = dict(target="backend-v2", service_name="backend", mode="subset", primary_subset="v1", canary_subset="v2",
              primary_deployment="backend-v1")


def backend(version, image_version, replicas):
    deployment = podinfo_deployment("backend-" + version, version=image_version, replicas=replicas)
    labels = {"app": "backend", "version": version}
    deployment["metadata"]["labels"] = dict(labels)
    deployment["spec"]["selector"]["matchLabels"] = dict(labels)
    deployment["spec"]["template"]["metadata"]["labels"] = dict(labels, team="payments" if version == "v1" else "checkout")
    return deployment


def seed_001(lab, subsets=("v1", "v2")):
    seed(lab,
         backend("v1", "6.0.0", 2),
         backend("v2", "6.0.1", 1),
         {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "backend"},
          "spec": {"selector": {"app": "backend"}, "ports": [{"name": "http", "port": 80, "targetPort": 9898}]}},
         {"apiVersion": "networking.istio.io/v1beta1", "kind": "DestinationRule", "metadata": {"name": "backend"},
          "spec": {"host": "backend", "subsets": [{"name": name, "labels": {"version": name}} for name in subsets]}},
         {"apiVersion": VS[0], "kind": "VirtualService", "metadata": {"name": "backend"},
          "spec": {"hosts": ["backend"], "http": [
              {"match": [{"headers": {"canary": {"exact": "yes"}}}], "route": [{"destination": {"host": "backend", "subset": "v2"}}]},
              {"route": [{"destination": {"host": "backend", "subset": "v1"}, "weight": 90},
                         {"destination": {"host": "backend", "subset": "v2"}, "weight": 10}]}]}})


def deployment(lab, name):
    return lab.store.get("apps/v1", "Deployment", lab.namespace, name)


def weighted_route(lab):
    return lab.store.get(VS[0], VS[1], lab.namespace, "backend")["spec"]["http"][1]["route"]


def test_init_creates_nothing_and_routes_everything_to_the_stable_subset(lab):
    seed_001(lab)
    before = snapshot(lab)
    predicted = run_module(canary_init, lab, dict(SUBSET, wait_timeout=30), check=True)
    assert not predicted.get("failed"), predicted
    assert snapshot(lab) == before

    result = run_module(canary_init, lab, dict(SUBSET, wait_timeout=30))
    assert not result.get("failed"), result
    assert predicted["diff"] == result["diff"]
    assert result["primary"] == "backend-v1"
    # the stable has never been promoted by the collection: the target is a revision to analyse, left running
    assert result["pod_template_hash"].startswith("stable-")
    assert deployment(lab, "backend-v2")["spec"]["replicas"] == 1
    assert weighted_route(lab) == [{"destination": {"host": "backend", "subset": "v1"}, "weight": 100},
                                   {"destination": {"host": "backend", "subset": "v2"}, "weight": 0}]
    # the header route of the testers is the user's and stays as it was
    assert lab.store.get(VS[0], VS[1], lab.namespace, "backend")["spec"]["http"][0]["match"] == [{"headers": {"canary": {"exact": "yes"}}}]
    created = [(o["kind"], o["name"]) for o in result["objects"] if o["action"] == "created"]
    assert created == [], created
    assert lab.store.get("apps/v1", "Deployment", lab.namespace, "backend-v2-primary") is None
    validate_object(lab.store.get(VS[0], VS[1], lab.namespace, "backend"))
    assert run_module(canary_init, lab, dict(SUBSET, wait_timeout=30))["changed"] is False


@pytest.mark.parametrize("change, field, words", [
    (dict(primary_deployment=None), "primary_deployment", "mode=subset needs primary_deployment"),
    (dict(primary_deployment="backend-v2"), "primary_deployment", "is the target"),
    (dict(hosts=["backend.example.com"]), "hosts", "in mode=subset your VirtualService"),
    (dict(primary_deployment="backend-v0"), "primary_deployment", "backend-v0 (primary_deployment, the stable subset's) not found"),
    (dict(dr_subsets=("v1",)), "canary_subset", "has no subset 'v2'"),
])
def test_bad_subset_init_names_the_option_and_writes_nothing(lab, change, field, words):
    change = dict(change)
    seed_001(lab, subsets=change.pop("dr_subsets", ("v1", "v2")))
    before = snapshot(lab)
    args = dict(SUBSET, wait_timeout=30)
    args.update(change)
    result = run_module(canary_init, lab, dict((k, v) for k, v in args.items() if v is not None))
    assert result.get("failed"), result
    assert words in result["msg"], result["msg"]
    assert field in result["msg"], result["msg"]
    assert snapshot(lab) == before


def test_primary_deployment_is_refused_in_host_mode(lab):
    seed(lab, podinfo_deployment())
    result = run_module(canary_promote, lab, dict(target="podinfo", primary_deployment="other"))
    assert result.get("failed") and "set mode=subset" in result["msg"], result


def test_promotion_updates_the_stable_deployment_in_place(lab):
    seed_001(lab)
    assert not run_module(canary_init, lab, dict(SUBSET, wait_timeout=30)).get("failed")
    scaled = run_module(canary_scale, lab, dict(target="backend-v2", primary_deployment="backend-v1"))
    assert not scaled.get("failed"), scaled
    assert scaled["replicas"] == 2, "the canary gets the stable's replica count"

    target = deployment(lab, "backend-v2")
    stable_before = deployment(lab, "backend-v1")
    predicted = run_module(canary_promote, lab, dict(SUBSET, timeout=90, scale_down_delay=0), check=True)
    assert not predicted.get("failed"), predicted
    assert deployment(lab, "backend-v1")["spec"] == stable_before["spec"]

    result = run_module(canary_promote, lab, dict(SUBSET, timeout=90, scale_down_delay=0))
    assert not result.get("failed"), result
    stable = deployment(lab, "backend-v1")
    template = stable["spec"]["template"]
    # the stable subset now runs the analysed version ...
    assert template["spec"]["containers"][0]["image"] == target["spec"]["template"]["spec"]["containers"][0]["image"]
    assert template["spec"]["containers"][0]["image"].endswith(":6.0.1")
    # ... with its own labels, so its pods stay in subset v1 and never join v2
    assert template["metadata"]["labels"] == {"app": "backend", "version": "v1", "team": "payments"}
    assert stable["spec"]["selector"] == stable_before["spec"]["selector"]
    assert stable["spec"]["replicas"] == 2
    assert stable["metadata"]["annotations"]["progressive.delivery/pod-template-hash"] == result["pod_template_hash"]
    assert result["primary"]["name"] == "backend-v1" and result["primary"]["ready_replicas"] == 2
    assert result["weights"] == {"primary": 100, "canary": 0}
    assert weighted_route(lab)[0] == {"destination": {"host": "backend", "subset": "v1"}, "weight": 100}
    assert deployment(lab, "backend-v2")["spec"]["replicas"] == 0

    again = run_module(canary_promote, lab, dict(SUBSET, timeout=90, scale_down_delay=0))
    assert again["changed"] is False, again
    # a later init sees the promoted revision on the stable: the target is not a new revision any more
    init = run_module(canary_init, lab, dict(SUBSET, wait_timeout=30))
    assert init["pod_template_hash"] == result["pod_template_hash"]
    assert copy.deepcopy(init["changed"]) is False
