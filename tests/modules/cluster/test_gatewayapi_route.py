"""router=gatewayapi against the lab's real API server, which holds the Gateway API CRDs: every
HTTPRoute written here was accepted by the CRD's own schema (dry run, strict field validation)."""

import copy

import pytest

from ansible_collections.progressive.delivery.plugins.modules import canary_init, canary_promote, canary_rollback, canary_route, canary_route_info

from tests.modules.cluster.harness import podinfo_deployment, run_module, seed, snapshot

ROUTE = ("gateway.networking.k8s.io/v1", "HTTPRoute")
VS = ("networking.istio.io/v1beta1", "VirtualService")
# GAMMA: the HTTPRoute's parent is the apex Service, so istiod programs the mesh's sidecars from it.
PARENT = {"group": "", "kind": "Service", "name": "podinfo", "port": 9898}


def stored(lab, name="podinfo"):
    return lab.store.get(ROUTE[0], ROUTE[1], lab.namespace, name)


def everything(lab):
    """snapshot() plus the HTTPRoutes, to prove check mode and a refused run write nothing."""
    result = snapshot(lab)
    for obj in lab.store.list(ROUTE[0], ROUTE[1], lab.namespace):
        result[("HTTPRoute", obj["metadata"]["name"])] = {k: v for k, v in obj.items() if k != "status"}
    return result


def weights_in(route_obj, rule=0):
    return dict((ref["name"], ref.get("weight", 1)) for ref in route_obj["spec"]["rules"][rule]["backendRefs"])


def route(lab, check=False, **kwargs):
    args = dict(target="podinfo", router="gatewayapi")
    args.update(kwargs)
    return run_module(canary_route, lab, args, check=check)


@pytest.fixture
def initialised(lab):
    seed(lab, podinfo_deployment())
    result = run_module(canary_init, lab, dict(target="podinfo", router="gatewayapi", parent_refs=[PARENT], hostnames=["podinfo.example"],
                                               wait_timeout=60))
    assert not result.get("failed"), result
    return lab


def test_init_creates_the_services_and_a_labelled_httproute_but_no_virtual_service(lab):
    seed(lab, podinfo_deployment())
    args = dict(target="podinfo", router="gatewayapi", parent_refs=[PARENT], wait_timeout=60)
    predicted = run_module(canary_init, lab, args, check=True)
    assert not predicted.get("failed"), predicted
    assert stored(lab) is None
    result = run_module(canary_init, lab, args)
    assert not result.get("failed"), result
    for name in ("podinfo", "podinfo-primary", "podinfo-canary"):
        assert lab.store.get("v1", "Service", lab.namespace, name) is not None, name
    assert lab.store.get(VS[0], VS[1], lab.namespace, "podinfo") is None
    obj = stored(lab)
    assert obj["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "progressive.delivery"
    assert obj["spec"]["parentRefs"][0]["name"] == "podinfo"
    assert weights_in(obj) == {"podinfo-primary": 100, "podinfo-canary": 0}
    assert obj["spec"]["rules"][0]["backendRefs"][0]["port"] == 9898
    rv = obj["metadata"]["resourceVersion"]
    again = run_module(canary_init, lab, args)
    assert again["changed"] is False, again.get("diff")
    assert stored(lab)["metadata"]["resourceVersion"] == rv


def test_weights_0_30_100_0_with_check_mode_diff_and_idempotence(initialised):
    lab = initialised
    for weight in (30, 100, 0):
        before = everything(lab)
        predicted = route(lab, check=True, weight=weight)
        assert not predicted.get("failed"), predicted
        assert everything(lab) == before, "check mode wrote something"
        real = route(lab, weight=weight)
        assert not real.get("failed"), real
        assert real["changed"] is True
        assert predicted["weights"] == real["weights"] == {"primary": 100 - weight, "canary": weight}
        assert predicted["diff"] == real["diff"]
        assert weights_in(stored(lab)) == {"podinfo-primary": 100 - weight, "podinfo-canary": weight}
        rv = stored(lab)["metadata"]["resourceVersion"]
        again = route(lab, weight=weight)
        assert again["changed"] is False and stored(lab)["metadata"]["resourceVersion"] == rv
    info = run_module(canary_route_info, lab, dict(target="podinfo", router="gatewayapi"))
    assert info["weights"] == {"primary": 100, "canary": 0} and info["router"] == "gatewayapi"


def test_users_route_only_the_named_rule_changes_and_ab_rule_is_accepted_by_the_crd(lab):
    seed(lab, podinfo_deployment())
    user = {"apiVersion": ROUTE[0], "kind": ROUTE[1], "metadata": {"name": "web", "namespace": lab.namespace},
            "spec": {"parentRefs": [PARENT], "hostnames": ["web.example"],
                     "rules": [{"name": "docs", "matches": [{"path": {"type": "PathPrefix", "value": "/docs"}}],
                                "backendRefs": [{"name": "podinfo", "port": 9898}]},
                               {"name": "app", "backendRefs": [{"name": "podinfo-primary", "port": 9898, "weight": 100}],
                                "filters": [{"type": "RequestHeaderModifier", "requestHeaderModifier": {"set": [{"name": "x-via", "value": "gw"}]}}]}]}}
    seed(lab, user)
    ref = {"name": "web", "rule": "app"}
    init = run_module(canary_init, lab, dict(target="podinfo", router="gatewayapi", http_route=ref, wait_timeout=60))
    assert not init.get("failed"), init
    before = copy.deepcopy(stored(lab, "web"))
    result = route(lab, weight=30, http_route=ref, match=[{"headers": {"x-canary": {"exact": "insider"}}}])
    assert not result.get("failed"), result
    after = stored(lab, "web")
    assert [r.get("name") for r in after["spec"]["rules"]] == ["docs", "app-canary-match", "app"]
    assert after["spec"]["rules"][0] == before["spec"]["rules"][0]
    assert after["spec"]["hostnames"] == before["spec"]["hostnames"] and after["spec"]["parentRefs"] == before["spec"]["parentRefs"]
    assert after["spec"]["rules"][2]["filters"] == before["spec"]["rules"][1]["filters"]
    assert weights_in(after, 2) == {"podinfo-primary": 70, "podinfo-canary": 30}
    assert route(lab, weight=30, http_route=ref, match=[{"headers": {"x-canary": {"exact": "insider"}}}])["changed"] is False

    # Mirroring with a percent: the installed CRD (v1.6.3) has requestMirror.percent.
    mirrored = route(lab, weight=0, http_route=ref, mirror=True, mirror_weight=40)
    assert not mirrored.get("failed"), mirrored
    filters = stored(lab, "web")["spec"]["rules"][1]["filters"]
    assert filters[-1]["requestMirror"]["percent"] == 40

    # Promotion and rollback route back to the primary, as with Istio.
    rolled = run_module(canary_rollback, lab, dict(target="podinfo", router="gatewayapi", http_route=ref, scale_down_delay=0))
    assert not rolled.get("failed"), rolled
    back = stored(lab, "web")
    assert weights_in(back, 1) == {"podinfo-primary": 100, "podinfo-canary": 0}
    assert [f["type"] for f in back["spec"]["rules"][1]["filters"]] == ["RequestHeaderModifier"]


def test_promote_routes_back_to_the_primary(initialised):
    lab = initialised
    assert not route(lab, weight=50).get("failed")
    promoted = run_module(canary_promote, lab, dict(target="podinfo", router="gatewayapi", scale_down_delay=0, timeout=120))
    assert not promoted.get("failed"), promoted
    assert weights_in(stored(lab)) == {"podinfo-primary": 100, "podinfo-canary": 0}


@pytest.mark.parametrize("args, field, text", [
    (dict(weight=30, http_route={"name": "missing"}), "http_route", "HTTPRoute .*/missing not found"),
    (dict(weight=30, http_route={"rule": 3}), "http_route", "has 1 rule"),
    (dict(weight=30, mode="subset"), "mode", "Istio option"),
    (dict(weight=0, match=[{"withoutHeaders": {"a": {"exact": "b"}}}]), "match", "cannot negate"),
    (dict(weight=0, mirror_match=[{"headers": {"a": {"exact": "b"}}}]), "mirror_match", "not supported"),
    (dict(weight=30, mirror=True), "mirror", "weight 0"),
])
def test_bad_input_is_refused_with_the_field_and_nothing_is_written(initialised, args, field, text):
    import re
    lab = initialised
    before = everything(lab)
    result = route(lab, **args)
    assert result.get("failed"), result
    assert re.search(text, result["msg"]), result["msg"]
    assert result.get("field") in (field, None) or field in result["msg"], result
    assert everything(lab) == before


def test_backend_refs_not_naming_the_services_is_a_clear_error(lab):
    seed(lab, podinfo_deployment())
    seed(lab, {"apiVersion": ROUTE[0], "kind": ROUTE[1], "metadata": {"name": "podinfo", "namespace": lab.namespace},
               "spec": {"parentRefs": [PARENT], "rules": [{"backendRefs": [{"name": "web-stable", "port": 9898}]}]}})
    before = everything(lab)
    result = run_module(canary_init, lab, dict(target="podinfo", router="gatewayapi", wait_timeout=60))
    assert result.get("failed") and "http_route.rule" in result["msg"], result
    assert everything(lab) == before
