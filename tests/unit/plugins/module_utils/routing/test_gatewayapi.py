import copy

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils import _options
from ansible_collections.progressive.delivery.plugins.module_utils._errors import CanaryError
from ansible_collections.progressive.delivery.plugins.module_utils.routing import PROVIDERS, get_router
from ansible_collections.progressive.delivery.plugins.module_utils.routing import gatewayapi as gw

NS = "test"


def user_route():
    """The user's HTTPRoute: a docs rule to another Service, then the app's rule with a filter."""
    return {
        "apiVersion": gw.API_VERSION, "kind": gw.HTTP_ROUTE,
        "metadata": {"name": "web", "namespace": NS, "resourceVersion": "7"},
        "spec": {
            "parentRefs": [{"name": "public", "namespace": "gateways", "sectionName": "http"}],
            "hostnames": ["web.example.com"],
            "rules": [
                {"name": "docs", "matches": [{"path": {"type": "PathPrefix", "value": "/docs"}}], "backendRefs": [{"name": "docs", "port": 80}]},
                {"name": "app", "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                 "filters": [{"type": "RequestHeaderModifier", "requestHeaderModifier": {"set": [{"name": "x-via", "value": "gw"}]}}],
                 "backendRefs": [{"name": "podinfo-primary", "port": 9898, "weight": 100}]},
            ],
        },
    }


class FakeCluster(object):
    """Objects by (kind, namespace, name); writes are recorded, so a test can say nothing was written."""

    def __init__(self, *objects):
        self.objects = dict(((o["kind"], o["metadata"]["namespace"], o["metadata"]["name"]), copy.deepcopy(o)) for o in objects)
        self.writes = []

    def get(self, api_version, kind, namespace, name):
        found = self.objects.get((kind, namespace, name))
        return copy.deepcopy(found)

    def write(self, existing, desired, changes):
        self.writes.append(desired)
        return desired


def service(name):
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": NS}}


def router(cluster, **params):
    params = dict(dict(namespace=NS, target="podinfo", service_name=None, http_route={"name": "web"}), **params)
    return get_router(cluster, params, "gatewayapi")


def test_gatewayapi_is_a_registered_provider():
    assert "gatewayapi" in PROVIDERS


def test_weights_are_set_in_the_named_rule_only():
    route = user_route()
    spec = gw.set_routing(route["spec"], 1, "podinfo", NS, {"primary": 70, "canary": 30})
    assert spec["rules"][1]["backendRefs"] == [{"name": "podinfo-primary", "port": 9898, "weight": 70},
                                               {"name": "podinfo-canary", "port": 9898, "weight": 30}]
    # Everything else as it was: the other rule, hostnames, parentRefs, the rule's filter and matches.
    assert spec["rules"][0] == route["spec"]["rules"][0]
    assert spec["hostnames"] == route["spec"]["hostnames"] and spec["parentRefs"] == route["spec"]["parentRefs"]
    assert spec["rules"][1]["filters"] == route["spec"]["rules"][1]["filters"]
    assert spec["rules"][1]["matches"] == route["spec"]["rules"][1]["matches"]
    assert route == user_route(), "the input is not modified"


def test_setting_the_same_weights_again_changes_nothing():
    once = gw.set_routing(user_route()["spec"], 1, "podinfo", NS, {"primary": 70, "canary": 30})
    assert gw.set_routing(once, 1, "podinfo", NS, {"primary": 70, "canary": 30}) == once
    assert gw.read_state(once, 1, "podinfo", NS)["weights"] == {"primary": 70, "canary": 30}


@pytest.mark.parametrize("rule", [1, "1", "app", None])
def test_the_rule_is_found_by_index_by_name_or_as_the_only_one_to_the_primary(rule):
    cluster = FakeCluster(user_route())
    r = router(cluster, http_route={"name": "web", "rule": rule})
    assert r.get_routes(r.read())["weights"] == {"primary": 100, "canary": 0}
    new = r.set_routes(r.read(), {"primary": 0, "canary": 100})
    assert [ref["weight"] for ref in new["spec"]["rules"][1]["backendRefs"]] == [0, 100]


def test_unset_backend_weights_count_as_gateway_apis_default_of_one():
    spec = {"rules": [{"backendRefs": [{"name": "podinfo-primary", "port": 80}, {"name": "podinfo-canary", "port": 80}]}]}
    assert gw.read_state(spec, 0, "podinfo", NS)["weights"] == {"primary": 50, "canary": 50}


def test_ab_match_adds_a_rule_ahead_combined_with_the_rules_own_path():
    match = gw.normalise_match([{"headers": {"x-canary": {"exact": "insider"}}, "queryParams": {"beta": {"regex": "^y"}}}])
    spec = gw.set_routing(user_route()["spec"], 1, "podinfo", NS, {"primary": 100, "canary": 0}, match=match)
    names = [rule.get("name") for rule in spec["rules"]]
    assert names == ["docs", "app-canary-match", "app"]
    ab = spec["rules"][1]
    assert ab["matches"] == [{"path": {"type": "PathPrefix", "value": "/"},
                              "headers": [{"name": "x-canary", "type": "Exact", "value": "insider"}],
                              "queryParams": [{"name": "beta", "type": "RegularExpression", "value": "^y"}]}]
    assert ab["backendRefs"] == [{"name": "podinfo-canary", "port": 9898, "weight": 1}]
    assert ab["filters"] == user_route()["spec"]["rules"][1]["filters"]
    # Read back as the conditions the A/B rule holds: the option's, within the weighted rule's path.
    assert gw.read_state(spec, 2, "podinfo", NS)["match"] == [dict(match[0], uri={"prefix": "/"})]
    # Removing the match removes the rule and nothing else.
    assert gw.set_routing(spec, 2, "podinfo", NS, {"primary": 100, "canary": 0}, match=None)["rules"] == \
        gw.set_routing(user_route()["spec"], 1, "podinfo", NS, {"primary": 100, "canary": 0})["rules"]


def test_ab_path_conflicting_with_the_rules_path_is_refused():
    match = gw.normalise_match([{"uri": {"exact": "/api"}}])
    with pytest.raises(CanaryError, match="path"):
        gw.set_routing(user_route()["spec"], 1, "podinfo", NS, {"primary": 100, "canary": 0}, match=match)


@pytest.mark.parametrize("match, text", [
    ([{"withoutHeaders": {"a": {"exact": "b"}}}], "cannot negate"),
    ([{"headers": {"a": {"prefix": "b"}}}], "regex"),
    ([{"sourceLabels": {"app": "x"}}], "labels"),
    ([{"method": {"regex": "G.*"}}], "exact"),
    ([{"bogus": 1}], "unknown key"),
    ([], "non-empty"),
])
def test_matches_gateway_api_cannot_express_are_refused(match, text):
    with pytest.raises(CanaryError, match=text) as err:
        gw.normalise_match(match)
    assert err.value.field == "match"


def test_mirror_adds_a_request_mirror_filter_with_percent_and_removes_it():
    spec = gw.set_routing(user_route()["spec"], 1, "podinfo", NS, {"primary": 100, "canary": 0}, mirror=True, mirror_weight=25)
    filters = spec["rules"][1]["filters"]
    assert filters[0]["type"] == "RequestHeaderModifier"
    assert filters[1] == {"type": "RequestMirror", "requestMirror": {"backendRef": {"name": "podinfo-canary", "port": 9898}, "percent": 25}}
    state = gw.read_state(spec, 1, "podinfo", NS)
    assert state["mirror"] is True and state["mirror_weight"] == 25
    back = gw.set_routing(spec, 1, "podinfo", NS, {"primary": 100, "canary": 0})
    assert back["rules"][1]["filters"] == user_route()["spec"]["rules"][1]["filters"]


def test_mirror_rules():
    with pytest.raises(CanaryError, match="weight 0"):
        gw.validate_mirror(30, True, None)
    with pytest.raises(CanaryError, match="mirror=true"):
        gw.validate_mirror(0, False, 20)
    with pytest.raises(CanaryError, match="mirror_match"):
        gw.validate_mirror(0, False, None, [{"headers": {"a": {"exact": "b"}}}])
    gw.validate_mirror(0, True, 20)


def test_missing_http_route_says_how_to_create_it_and_writes_nothing():
    cluster = FakeCluster()
    with pytest.raises(CanaryError, match="HTTPRoute test/web not found") as err:
        router(cluster).read()
    assert err.value.field == "http_route"
    assert cluster.writes == []


@pytest.mark.parametrize("rule, text", [
    (5, "has 2 rule"),
    ("nope", "no rule named 'nope'"),
    (0, r"spec.rules\[0\].backendRefs .* does not name the Service podinfo-primary"),
])
def test_missing_rule_or_a_rule_not_naming_the_services_is_a_clear_error(rule, text):
    cluster = FakeCluster(user_route(), service("podinfo-primary"), service("podinfo-canary"))
    r = router(cluster, http_route={"name": "web", "rule": rule})
    with pytest.raises(CanaryError, match=text) as err:
        r.write_routes(r.read(), r.weights_for(30), None, False, None, changes=None)
    assert err.value.field == "http_route"
    assert cluster.writes == []


def test_no_rule_to_the_primary_names_the_fix():
    route = user_route()
    route["spec"]["rules"][1]["backendRefs"] = [{"name": "web-stable", "port": 80}]
    with pytest.raises(CanaryError, match="set http_route.rule"):
        gw.find_rule(route["spec"], None, "podinfo", NS, "test/web")


def test_write_routes_writes_once_and_checks_the_services():
    cluster = FakeCluster(user_route(), service("podinfo-primary"))
    r = router(cluster)
    with pytest.raises(CanaryError, match="podinfo-canary"):
        r.write_routes(r.read(), r.weights_for(30), None, False, None, changes=None)
    assert cluster.writes == []
    cluster = FakeCluster(user_route(), service("podinfo-primary"), service("podinfo-canary"))
    r = router(cluster)
    previous, result = r.write_routes(r.read(), r.weights_for(30), None, False, None, changes=None)
    assert previous["weights"] == {"primary": 100, "canary": 0}
    assert r.get_routes(result)["weights"] == {"primary": 70, "canary": 30}


@pytest.mark.parametrize("params, field", [
    (dict(mode="subset"), "mode"),
    (dict(route_name="x"), "route_name"),
    (dict(http_route={"name": "web", "rule": -1}), "http_route"),
    (dict(http_route={"name": "Web"}), "http_route.name"),
])
def test_istio_options_and_bad_http_route_are_refused(params, field):
    with pytest.raises(CanaryError) as err:
        gw.GatewayAPIRouter.validate_options(dict(dict(namespace=NS, target="podinfo"), **params))
    assert err.value.field.startswith(field.split(".")[0])


def test_session_affinity_is_refused():
    with pytest.raises(CanaryError, match="session_affinity"):
        gw.validate_session_affinity({"cookie_name": "c"})


def test_the_collections_route_routes_everything_to_the_primary_and_is_labelled():
    route = gw.build_http_route(NS, "podinfo", "podinfo", [{"name": "public", "namespace": "gateways"}], ["app.example.com"], 9898)
    assert route["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "progressive.delivery"}
    assert route["spec"]["hostnames"] == ["app.example.com"]
    assert gw.read_state(route["spec"], 0, "podinfo", NS)["weights"] == {"primary": 100, "canary": 0}


def test_init_refuses_to_take_over_a_users_route_and_keeps_a_running_split():
    cluster = FakeCluster(user_route())
    r = router(cluster, parent_refs=[{"name": "public"}], port=9898, http_route={"name": "web"})
    with pytest.raises(CanaryError, match="not created by progressive.delivery") as err:
        r.prepare_init()
    assert err.value.field == "parent_refs"
    ours = gw.build_http_route(NS, "podinfo", "podinfo", [{"name": "public"}], None, 9898)
    ours["spec"] = gw.set_routing(ours["spec"], 0, "podinfo", NS, {"primary": 60, "canary": 40})
    r = router(FakeCluster(ours), parent_refs=[{"name": "public"}], port=9898, http_route=None)
    [(existing, desired)] = r.owned_objects()
    assert gw.read_state(desired["spec"], 0, "podinfo", NS)["weights"] == {"primary": 60, "canary": 40}


def test_distribution_reads_the_parents_accepted_condition():
    assert gw.distribution({}, 2)[0] is None
    obj = {"status": {"parents": [{"parentRef": {"name": "g"}, "conditions": [{"type": "Accepted", "status": "True", "observedGeneration": 1}]}]}}
    assert gw.distribution(obj, 2)[0] is False
    assert gw.distribution(obj, 1)[0] is True


@pytest.mark.parametrize("validate, field", [
    (_options.validate_route, "http_route"),
    (_options.validate_init, "parent_refs"),
])
def test_gatewayapi_options_are_refused_with_the_istio_router(validate, field):
    params = dict(namespace=NS, target="podinfo", router="istio", http_route=None, parent_refs=None)
    params[field] = {"name": "web"} if field == "http_route" else [{"name": "public"}]
    with pytest.raises(CanaryError, match="router=gatewayapi") as err:
        validate(params)
    assert err.value.field == field
    params["router"] = "gatewayapi"
    validate(params)
