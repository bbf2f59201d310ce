import copy
import json

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils._errors import CanaryError
from ansible_collections.progressive.delivery.plugins.module_utils.routing import istio

HOST = istio.route_target("podinfo")
SUBSET = istio.route_target("backend", mode="subset", primary_subset="v1", canary_subset="v2")


def vs(**kwargs):
    return istio.build_virtual_service("test", "podinfo", **kwargs)


# --- route_target --------------------------------------------------------------------------


def test_host_mode_targets_the_primary_and_canary_services():
    assert HOST.primary == {"host": "podinfo-primary"}
    assert HOST.canary == {"host": "podinfo-canary"}
    assert HOST.route_name == "podinfo"
    assert HOST.match_route_name == "podinfo-canary-match"


def test_subset_mode_uses_one_host_and_two_subsets():
    assert SUBSET.primary == {"host": "backend", "subset": "v1"}
    assert SUBSET.canary == {"host": "backend", "subset": "v2"}
    target = istio.route_target("backend", mode="subset", host="backend.prod.svc.cluster.local", route_name="main")
    assert target.primary == {"host": "backend.prod.svc.cluster.local", "subset": "primary"}
    assert target.route_name == "main"


@pytest.mark.parametrize("kwargs, field", [
    (dict(mode="header"), "mode"),
    (dict(mode="host", host="backend"), "destination_host"),
    (dict(mode="subset", primary_subset="v1", canary_subset="v1"), "canary_subset"),
    (dict(mode="subset", primary_subset=""), "primary_subset"),
])
def test_route_target_rejects_inconsistent_options(kwargs, field):
    with pytest.raises(CanaryError) as err:
        istio.route_target("backend", **kwargs)
    assert err.value.field == field
    assert field in str(err.value)


# --- validation ----------------------------------------------------------------------------


@pytest.mark.parametrize("weight", [0, 1, 50, 100])
def test_valid_weights(weight):
    assert istio.validate_weight(weight) == weight


@pytest.mark.parametrize("weight, words", [
    (-1, "between 0 and 100"), (101, "between 0 and 100"), ("50", "integer"), (12.5, "integer"), (True, "integer"), (None, "integer"),
])
def test_invalid_weights_name_the_field_and_range(weight, words):
    with pytest.raises(CanaryError) as err:
        istio.validate_weight(weight)
    assert err.value.field == "weight"
    assert "weight" in str(err.value) and words in str(err.value)


def test_mirror_needs_weight_zero_and_says_why():
    istio.validate_mirror(0, True, None)
    istio.validate_mirror(0, True, 50)
    with pytest.raises(CanaryError) as err:
        istio.validate_mirror(10, True, None)
    assert err.value.field == "mirror"
    assert "weight 0" in str(err.value) and "counted" in str(err.value)


@pytest.mark.parametrize("mirror, mirror_weight, field", [(False, 50, "mirror_weight"), (True, 0, "mirror_weight"), (True, 101, "mirror_weight")])
def test_mirror_weight_errors(mirror, mirror_weight, field):
    with pytest.raises(CanaryError) as err:
        istio.validate_mirror(0, mirror, mirror_weight)
    assert err.value.field == field


def test_empty_match_is_refused_with_the_fix():
    with pytest.raises(CanaryError) as err:
        istio.normalise_match([])
    assert "omit match" in str(err.value)
    with pytest.raises(CanaryError) as err:
        istio.normalise_match([{}])
    assert "match[0] is empty" in str(err.value)


@pytest.mark.parametrize("match, words", [
    ([{"headers": {"x": {"exactly": "a"}}}], "exact, prefix, suffix or regex"),
    ([{"headers": {"x": {"exact": "a", "prefix": "b"}}}], "exactly one"),
    ([{"header": {"x": {"exact": "a"}}}], "not an Istio HTTPMatchRequest field"),
    ([{"headers": {}}], "non-empty mapping"),
    ([{"sourceLabels": {"app": 1}}], "sourceLabels"),
    ("x-canary", "non-empty list"),
])
def test_bad_match_conditions(match, words):
    with pytest.raises(CanaryError) as err:
        istio.normalise_match(match)
    assert err.value.field == "match"
    assert words in str(err.value)


def test_match_suffix_becomes_an_anchored_regex_and_other_kinds_pass_through():
    match = istio.normalise_match([
        {"headers": {"user-agent": {"suffix": "(Mobile)"}, "x-canary": {"exact": "insider"}}},
        {"headers": {"cookie": {"regex": r"^(.*?;\s*)?(canary=always)(;.*)?$"}}},
        {"uri": {"prefix": "/api"}, "sourceLabels": {"app": "frontend"}},
    ])
    assert match[0]["headers"]["user-agent"] == {"regex": ".*\\(Mobile\\)"}
    assert match[0]["headers"]["x-canary"] == {"exact": "insider"}
    assert match[1]["headers"]["cookie"] == {"regex": r"^(.*?;\s*)?(canary=always)(;.*)?$"}
    assert match[2] == {"uri": {"prefix": "/api"}, "sourceLabels": {"app": "frontend"}}
    assert istio.normalise_match(None) is None


# --- builders ------------------------------------------------------------------------------


def test_virtual_service_defaults_to_mesh_and_100_0():
    obj = vs()
    assert obj["apiVersion"] == "networking.istio.io/v1beta1"
    assert obj["metadata"] == {"name": "podinfo", "namespace": "test", "labels": {"app.kubernetes.io/managed-by": "progressive.delivery"}}
    assert obj["spec"] == {
        "hosts": ["podinfo"],
        "gateways": ["mesh"],
        "http": [{"name": "podinfo", "route": [
            {"destination": {"host": "podinfo-primary"}, "weight": 100},
            {"destination": {"host": "podinfo-canary"}, "weight": 0},
        ]}],
    }


def test_virtual_service_passes_route_options_through_and_adds_the_apex_host_once():
    obj = vs(hosts=["app.example.com", "podinfo"], gateways=["public-gateway"], retries={"attempts": 3}, timeout="5s",
             cors_policy={"allowOrigins": [{"exact": "https://a"}]}, headers={"request": {"add": {"x-a": "1"}}})
    spec = obj["spec"]
    assert spec["hosts"] == ["app.example.com", "podinfo"]
    assert spec["gateways"] == ["public-gateway"]
    route = spec["http"][0]
    assert route["retries"] == {"attempts": 3}
    assert route["timeout"] == "5s"
    assert route["corsPolicy"] == {"allowOrigins": [{"exact": "https://a"}]}
    assert route["headers"] == {"request": {"add": {"x-a": "1"}}}


def test_destination_rule_copies_the_traffic_policy():
    obj = istio.build_destination_rule("test", "podinfo-canary", {"tls": {"mode": "ISTIO_MUTUAL"}})
    assert obj["kind"] == "DestinationRule"
    assert obj["spec"] == {"host": "podinfo-canary", "trafficPolicy": {"tls": {"mode": "ISTIO_MUTUAL"}}}
    assert istio.build_destination_rule("test", "podinfo-primary")["spec"] == {"host": "podinfo-primary"}


def test_adoption_saves_the_first_original_spec_only():
    user_vs = {"metadata": {"name": "podinfo", "annotations": {"team": "a"}}, "spec": {"hosts": ["podinfo"], "http": [{"route": []}]}}
    adopted = istio.adopt_virtual_service(user_vs, vs())
    assert istio.original_spec(adopted) == user_vs["spec"]
    assert adopted["metadata"]["annotations"]["team"] == "a"
    again = istio.adopt_virtual_service(adopted, vs(timeout="1s"))
    assert istio.original_spec(again) == user_vs["spec"]
    assert istio.original_spec(vs()) is None


# --- reading and editing routes ------------------------------------------------------------


def test_read_state_of_a_fresh_virtual_service():
    assert istio.read_state(vs()["spec"], HOST) == {"weights": {"primary": 100, "canary": 0}, "match": None, "mirror": False,
                                                    "mirror_weight": None, "mirror_match": None, "session_affinity": None}


def test_set_weight_changes_only_the_weights():
    spec = vs(retries={"attempts": 2})["spec"]
    new = istio.set_routing(spec, HOST, istio.weights_for(30))
    assert istio.read_state(new, HOST)["weights"] == {"primary": 70, "canary": 30}
    assert new["http"][0]["retries"] == {"attempts": 2}
    assert spec["http"][0]["route"][0]["weight"] == 100, "the input must not be modified"
    assert istio.set_routing(new, HOST, istio.weights_for(30)) == new


def test_weights_that_do_not_sum_to_100_are_refused():
    with pytest.raises(CanaryError) as err:
        istio.set_routing(vs()["spec"], HOST, {"primary": 60, "canary": 30})
    assert "sum to 100" in str(err.value)
    with pytest.raises(CanaryError):
        istio.set_routing(vs()["spec"], HOST, {"primary": 110, "canary": -10})


def test_ab_route_goes_ahead_of_the_weighted_route_and_inherits_its_options():
    spec = vs(retries={"attempts": 2}, timeout="3s")["spec"]
    match = istio.normalise_match([{"headers": {"x-canary": {"exact": "insider"}}}])
    new = istio.set_routing(spec, HOST, istio.weights_for(0), match=match)
    assert [r["name"] for r in new["http"]] == ["podinfo-canary-match", "podinfo"]
    ab = new["http"][0]
    assert ab["match"] == match
    assert ab["retries"] == {"attempts": 2} and ab["timeout"] == "3s"
    assert ab["route"] == [{"destination": {"host": "podinfo-primary"}, "weight": 0},
                           {"destination": {"host": "podinfo-canary"}, "weight": 100}]
    assert istio.read_state(new, HOST)["match"] == match
    # idempotent, and removing the match removes the route
    assert istio.set_routing(new, HOST, istio.weights_for(0), match=match) == new
    assert istio.set_routing(new, HOST, istio.weights_for(0)) == spec


def test_ab_match_is_combined_with_the_weighted_routes_own_match():
    spec = vs()["spec"]
    spec["http"][0]["match"] = [{"uri": {"prefix": "/api"}}, {"uri": {"prefix": "/v2"}}]
    new = istio.set_routing(spec, HOST, istio.weights_for(0), match=[{"headers": {"x": {"exact": "1"}}}])
    assert new["http"][0]["match"] == [
        {"uri": {"prefix": "/api"}, "headers": {"x": {"exact": "1"}}},
        {"uri": {"prefix": "/v2"}, "headers": {"x": {"exact": "1"}}},
    ]


def test_mirror_with_and_without_percentage():
    new = istio.set_routing(vs()["spec"], HOST, istio.weights_for(0), mirror=True, mirror_weight=25)
    route = new["http"][0]
    assert route["mirror"] == {"host": "podinfo-canary"}
    assert route["mirrorPercentage"] == {"value": 25.0}
    state = istio.read_state(new, HOST)
    assert state["mirror"] is True and state["mirror_weight"] == 25.0
    full = istio.set_routing(new, HOST, istio.weights_for(0), mirror=True)
    assert "mirrorPercentage" not in full["http"][0]
    cleared = istio.set_routing(new, HOST, istio.weights_for(0))
    assert "mirror" not in cleared["http"][0] and "mirrorPercentage" not in cleared["http"][0]


def test_other_routes_and_fields_are_left_untouched():
    spec = vs()["spec"]
    spec["exportTo"] = ["."]
    spec["tcp"] = [{"route": [{"destination": {"host": "db"}}]}]
    spec["http"].insert(0, {"name": "static", "match": [{"uri": {"prefix": "/static"}}], "route": [{"destination": {"host": "cdn"}}]})
    spec["http"].append({"name": "fallback", "route": [{"destination": {"host": "legacy"}}]})
    before = copy.deepcopy(spec)
    new = istio.set_routing(spec, HOST, istio.weights_for(40), match=[{"headers": {"x": {"exact": "1"}}}], mirror=False)
    assert [r["name"] for r in new["http"]] == ["static", "podinfo-canary-match", "podinfo", "fallback"]
    assert new["http"][0] == before["http"][0]
    assert new["http"][3] == before["http"][2]
    assert new["tcp"] == before["tcp"] and new["exportTo"] == ["."]


def test_destination_entries_keep_their_extra_fields():
    spec = vs()["spec"]
    spec["http"][0]["route"][1]["destination"]["port"] = {"number": 9898}
    spec["http"][0]["route"][1]["headers"] = {"response": {"add": {"x-served-by": "canary"}}}
    new = istio.set_routing(spec, HOST, istio.weights_for(10))
    assert new["http"][0]["route"][1] == {"destination": {"host": "podinfo-canary", "port": {"number": 9898}},
                                          "headers": {"response": {"add": {"x-served-by": "canary"}}}, "weight": 10}


def test_a_third_destination_in_the_managed_route_is_an_error():
    spec = vs()["spec"]
    spec["http"][0]["route"].append({"destination": {"host": "other"}, "weight": 0})
    with pytest.raises(CanaryError) as err:
        istio.set_routing(spec, HOST, istio.weights_for(10))
    assert "other" in str(err.value) and err.value.field == "route_name"


def test_half_changed_route_is_repaired():
    spec = vs()["spec"]
    spec["http"][0]["route"] = [{"destination": {"host": "podinfo-primary"}, "weight": 60}]  # canary entry lost
    spec["http"][0]["mirror"] = {"host": "podinfo-canary"}
    assert istio.read_state(spec, HOST)["weights"] == {"primary": 60, "canary": 0}
    new = istio.set_routing(spec, HOST, istio.weights_for(0))
    assert new == vs()["spec"]


def test_lone_destination_without_weight_counts_as_100():
    spec = {"http": [{"name": "podinfo", "route": [{"destination": {"host": "podinfo-primary"}}]}]}
    assert istio.read_state(spec, HOST)["weights"] == {"primary": 100, "canary": 0}


def seed_001_spec():
    """The hand-written VirtualService of seed 001: a header route to v2, then an unnamed v1/v2 split."""
    return {
        "hosts": ["backend"],
        "http": [
            {"match": [{"headers": {"canary": {"exact": "yes"}}}], "route": [{"destination": {"host": "backend", "subset": "v2"}}]},
            {"route": [{"destination": {"host": "backend", "subset": "v1"}, "weight": 80},
                       {"destination": {"host": "backend", "subset": "v2"}, "weight": 20}]},
        ],
    }


def test_subset_mode_finds_the_unnamed_split_route_and_edits_it():
    spec = seed_001_spec()
    assert istio.find_weighted_route(spec, SUBSET) == 1
    assert istio.read_state(spec, SUBSET)["weights"] == {"primary": 80, "canary": 20}
    new = istio.set_routing(spec, SUBSET, istio.weights_for(50))
    assert new["http"][0] == spec["http"][0]
    assert new["http"][1]["route"] == [{"destination": {"host": "backend", "subset": "v1"}, "weight": 50},
                                       {"destination": {"host": "backend", "subset": "v2"}, "weight": 50}]
    assert "name" not in new["http"][1]


def test_missing_route_name_lists_the_routes_and_the_fix():
    spec = vs()["spec"]
    target = istio.route_target("podinfo", route_name="main")
    spec["http"][0]["name"] = "other"
    with pytest.raises(CanaryError) as err:
        istio.find_weighted_route(spec, target)
    message = str(err.value)
    assert "'main'" in message and "other" in message and "route_name" in message
    assert err.value.field == "route_name"


def test_carry_routing_state_keeps_split_match_and_mirror():
    current = istio.set_routing(vs()["spec"], HOST, istio.weights_for(0), match=[{"headers": {"x": {"exact": "1"}}}],
                                mirror=True, mirror_weight=50)
    desired = vs(timeout="9s")["spec"]
    carried = istio.carry_routing_state(current, desired, HOST)
    state = istio.read_state(carried, HOST)
    assert state["match"] == [{"headers": {"x": {"exact": "1"}}}]
    assert state["mirror"] and state["mirror_weight"] == 50.0
    assert carried["http"][-1]["timeout"] == "9s"
    broken = copy.deepcopy(current)
    broken["http"][1]["route"][0]["weight"] = 10
    assert istio.carry_routing_state(broken, desired, HOST) == desired


def test_check_subsets_names_the_missing_subset_and_rule():
    rules = [{"metadata": {"name": "backend"}, "spec": {"host": "backend.istio-test.svc.cluster.local",
                                                        "subsets": [{"name": "v1"}, {"name": "v3"}]}}]
    istio.check_subsets(rules, SUBSET, "istio-test", roles=("primary",))
    with pytest.raises(CanaryError) as err:
        istio.check_subsets(rules, SUBSET, "istio-test")
    assert "DestinationRule backend" in str(err.value) and "'v2'" in str(err.value) and "v1, v3" in str(err.value)
    assert err.value.field == "canary_subset"
    with pytest.raises(CanaryError) as err:
        istio.check_subsets([], SUBSET, "istio-test")
    assert "no DestinationRule" in str(err.value) and err.value.field == "destination_host"


def test_original_spec_annotation_is_compact_json():
    adopted = istio.adopt_virtual_service({"metadata": {}, "spec": {"b": 1, "a": [1]}}, vs())
    assert adopted["metadata"]["annotations"][istio.ORIGINAL_SPEC_ANNOTATION] == json.dumps({"a": [1], "b": 1}, separators=(",", ":"))


def test_destination_rule_host_spellings():
    for spelling in ("backend", "backend.prod", "backend.prod.svc", "backend.prod.svc.cluster.local"):
        assert istio.qualified_host(spelling, "prod") == "backend.prod.svc.cluster.local"
    assert istio.qualified_host("backend.other.svc.cluster.local", "prod") != istio.qualified_host("backend", "prod")
