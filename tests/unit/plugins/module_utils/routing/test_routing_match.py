"""The A/B route's conditions: the weighted route's own conditions AND the A/B conditions.

Istio: a route's ``match`` list is an OR of conditions and all fields of one HTTPMatchRequest are
ANDed, so the A/B route matches (route condition i AND A/B condition j) for every i, j, with every
field of both combined. A pair that no request can satisfy is left out (the set of matching requests
is the same without it); no pair left, or a pair that one Istio condition cannot express, is an error
that names both conditions.
"""

import copy

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils._errors import CanaryError
from ansible_collections.progressive.delivery.plugins.module_utils.routing import istio

HOST = istio.route_target("podinfo", namespace="test")
BETA = {"headers": {"x-beta": {"exact": "on"}}}


def weighted_spec(own_match=None):
    spec = istio.build_virtual_service("test", "podinfo")["spec"]
    if own_match is not None:
        spec["http"][0]["match"] = copy.deepcopy(own_match)
    return spec


def ab_conditions(own_match, ab_match):
    new = istio.set_routing(weighted_spec(own_match), HOST, istio.weights_for(0), match=istio.normalise_match(ab_match))
    assert new["http"][0]["name"] == "podinfo-canary-match"
    assert new["http"][1].get("match") == own_match, "the weighted route keeps its own conditions"
    return new["http"][0]["match"]


def test_the_ab_route_keeps_the_weighted_routes_own_header_condition():
    # The reported bug: {headers: x-api} AND {headers: x-beta} became {headers: x-beta}, so x-beta alone reached the canary.
    own = [{"uri": {"prefix": "/api"}}, {"headers": {"x-api": {"exact": "1"}}}]
    assert ab_conditions(own, [BETA]) == [
        {"uri": {"prefix": "/api"}, "headers": {"x-beta": {"exact": "on"}}},
        {"headers": {"x-api": {"exact": "1"}, "x-beta": {"exact": "on"}}},
    ]


def test_every_pair_is_combined_route_condition_first():
    own = [{"uri": {"prefix": "/api"}}, {"headers": {"x-api": {"exact": "1"}}}]
    ab = [BETA, {"queryParams": {"beta": {"exact": "1"}}}]
    assert ab_conditions(own, ab) == [
        {"uri": {"prefix": "/api"}, "headers": {"x-beta": {"exact": "on"}}},
        {"uri": {"prefix": "/api"}, "queryParams": {"beta": {"exact": "1"}}},
        {"headers": {"x-api": {"exact": "1"}, "x-beta": {"exact": "on"}}},
        {"headers": {"x-api": {"exact": "1"}}, "queryParams": {"beta": {"exact": "1"}}},
    ]


@pytest.mark.parametrize("own, ab, combined", [
    # maps: union of the names
    ({"headers": {"x-api": {"exact": "1"}}}, {"headers": {"x-beta": {"prefix": "o"}}},
     {"headers": {"x-api": {"exact": "1"}, "x-beta": {"prefix": "o"}}}),
    ({"queryParams": {"a": {"exact": "1"}}}, {"queryParams": {"b": {"regex": "[0-9]+"}}},
     {"queryParams": {"a": {"exact": "1"}, "b": {"regex": "[0-9]+"}}}),
    ({"withoutHeaders": {"x-legacy": {"exact": "1"}}}, {"withoutHeaders": {"x-bot": {"regex": "*"}}},
     {"withoutHeaders": {"x-legacy": {"exact": "1"}, "x-bot": {"regex": "*"}}}),
    ({"headers": {"x-api": {"exact": "1"}}}, {"withoutHeaders": {"x-api": {"exact": "2"}}},
     {"headers": {"x-api": {"exact": "1"}}, "withoutHeaders": {"x-api": {"exact": "2"}}}),
    # single string matchers from either side
    ({"uri": {"prefix": "/api"}}, {"method": {"exact": "GET"}}, {"uri": {"prefix": "/api"}, "method": {"exact": "GET"}}),
    ({"scheme": {"exact": "https"}}, {"authority": {"prefix": "shop."}}, {"scheme": {"exact": "https"}, "authority": {"prefix": "shop."}}),
    ({"method": {"exact": "GET"}}, {"uri": {"regex": "/v[0-9]+/.*"}}, {"method": {"exact": "GET"}, "uri": {"regex": "/v[0-9]+/.*"}}),
    # the same field, one matcher implies the other: the narrower one
    ({"uri": {"prefix": "/api"}}, {"uri": {"prefix": "/api/v2"}}, {"uri": {"prefix": "/api/v2"}}),
    ({"uri": {"prefix": "/api/v2"}}, {"uri": {"prefix": "/api"}}, {"uri": {"prefix": "/api/v2"}}),
    ({"uri": {"prefix": "/api"}}, {"uri": {"exact": "/api/beta"}}, {"uri": {"exact": "/api/beta"}}),
    ({"uri": {"regex": "/v[0-9]+"}}, {"uri": {"regex": "/v[0-9]+"}}, {"uri": {"regex": "/v[0-9]+"}}),
    ({"headers": {"x-api": {"prefix": "1"}}}, {"headers": {"x-api": {"exact": "12"}}}, {"headers": {"x-api": {"exact": "12"}}}),
    ({"headers": {"x-api": {}}}, {"headers": {"x-api": {"regex": "a|b"}}}, {"headers": {"x-api": {"regex": "a|b"}}}),
    ({"headers": {"x-api": {"regex": "*"}}}, {"headers": {"x-api": {"exact": "1"}}}, {"headers": {"x-api": {"exact": "1"}}}),
    ({"headers": {"x-api": {"exact": "1"}}}, {"headers": {"x-api": {"exact": "1"}}}, {"headers": {"x-api": {"exact": "1"}}}),
    ({"method": {"exact": "GET"}}, {"method": {"exact": "GET"}}, {"method": {"exact": "GET"}}),
    # withoutHeaders on one name: the broader negation implies the narrower one
    ({"withoutHeaders": {"x-old": {"prefix": "v1"}}}, {"withoutHeaders": {"x-old": {"exact": "v1.2"}}},
     {"withoutHeaders": {"x-old": {"prefix": "v1"}}}),
    ({"withoutHeaders": {"x-old": {"exact": "1"}}}, {"withoutHeaders": {"x-old": {"regex": "*"}}}, {"withoutHeaders": {"x-old": {"regex": "*"}}}),
    ({"withoutHeaders": {"x-old": {}}}, {"withoutHeaders": {"x-old": {"exact": "1"}}}, {"withoutHeaders": {"x-old": {}}}),
    # ignoreUriCase belongs to its own condition's uri
    ({"uri": {"prefix": "/API"}, "ignoreUriCase": True}, BETA,
     {"uri": {"prefix": "/API"}, "ignoreUriCase": True, "headers": {"x-beta": {"exact": "on"}}}),
    ({"ignoreUriCase": True}, {"uri": {"exact": "/Beta"}}, {"uri": {"exact": "/Beta"}}),
    ({"uri": {"prefix": "/api"}, "ignoreUriCase": True}, {"uri": {"exact": "/API/v2"}}, {"uri": {"exact": "/API/v2"}}),
    ({"uri": {"prefix": "/api"}, "ignoreUriCase": True}, {"uri": {"prefix": "/Api/V2"}, "ignoreUriCase": True},
     {"uri": {"prefix": "/Api/V2"}, "ignoreUriCase": True}),
    ({"uri": {"prefix": "/v1"}}, {"uri": {"prefix": "/V1/2"}, "ignoreUriCase": True}, {"uri": {"prefix": "/v1/2"}}),
    ({"uri": {"prefix": "/v1"}}, {"uri": {"exact": "/V1/2"}, "ignoreUriCase": True}, {"uri": {"exact": "/v1/2"}}),
    # everything else
    ({"port": 9898}, {"port": 9898}, {"port": 9898}),
    ({"port": 9898}, BETA, {"port": 9898, "headers": {"x-beta": {"exact": "on"}}}),
    ({"sourceLabels": {"app": "frontend"}}, {"sourceLabels": {"version": "v2"}}, {"sourceLabels": {"app": "frontend", "version": "v2"}}),
    ({"sourceNamespace": "web"}, {"sourceLabels": {"app": "frontend"}}, {"sourceNamespace": "web", "sourceLabels": {"app": "frontend"}}),
    ({"gateways": ["mesh", "public-gateway"]}, {"gateways": ["test/public-gateway"]}, {"gateways": ["public-gateway"]}),
    ({"gateways": ["mesh"]}, BETA, {"gateways": ["mesh"], "headers": {"x-beta": {"exact": "on"}}}),
    ({"gateways": ["mesh"], "sourceLabels": {"app": "a"}}, {"gateways": ["mesh"]}, {"gateways": ["mesh"], "sourceLabels": {"app": "a"}}),
    ({"name": "api"}, {"name": "beta", "statPrefix": "beta"}, {"name": "api-beta", "statPrefix": "beta"}),
    ({"futureField": {"a": 1}}, BETA, {"futureField": {"a": 1}, "headers": {"x-beta": {"exact": "on"}}}),
    ({}, BETA, BETA),
])
def test_every_field_of_both_conditions_is_kept(own, ab, combined):
    assert ab_conditions([own], [ab]) == [combined]


def test_a_route_that_matches_everything_leaves_the_ab_conditions_alone():
    assert ab_conditions([{}], [BETA, {"uri": {"prefix": "/beta"}}]) == [BETA, {"uri": {"prefix": "/beta"}}]
    assert ab_conditions(None, [BETA]) == [BETA]


@pytest.mark.parametrize("own, ab", [
    ({"uri": {"prefix": "/api"}}, {"uri": {"exact": "/v2"}}),
    ({"uri": {"prefix": "/api"}}, {"uri": {"prefix": "/v2"}}),
    ({"uri": {"exact": "/api"}}, {"uri": {"exact": "/API"}}),
    ({"uri": {"prefix": "/api"}}, {"uri": {"exact": "/ap"}}),
    ({"headers": {"x-api": {"exact": "1"}}}, {"headers": {"x-api": {"exact": "2"}}}),
    ({"headers": {"x-api": {"prefix": "a"}}}, {"headers": {"x-api": {"prefix": "b"}}}),
    ({"headers": {"x-api": {"exact": "1"}}}, {"withoutHeaders": {"x-api": {"prefix": "1"}}}),
    ({"headers": {"x-api": {}}}, {"withoutHeaders": {"x-api": {"regex": "*"}}}),
    ({"queryParams": {"a": {"exact": "1"}}}, {"queryParams": {"a": {"exact": "2"}}}),
    ({"method": {"exact": "GET"}}, {"method": {"exact": "POST"}}),
    ({"port": 80}, {"port": 9898}),
    ({"sourceLabels": {"version": "v1"}}, {"sourceLabels": {"version": "v2"}}),
    ({"sourceNamespace": "a"}, {"sourceNamespace": "b"}),
    ({"gateways": ["mesh"]}, {"gateways": ["public-gateway"]}),
])
def test_an_impossible_pair_is_left_out_when_another_pair_remains(own, ab):
    own_match = [own, {"headers": {"x-other": {"exact": "1"}}}]
    combined = ab_conditions(own_match, [ab])
    assert len(combined) == 1
    assert combined[0]["headers"]["x-other"] == {"exact": "1"}


def test_when_no_pair_is_possible_nothing_is_written_and_both_conditions_are_named():
    own = [{"uri": {"prefix": "/api"}}, {"uri": {"prefix": "/v1"}}]
    with pytest.raises(CanaryError) as err:
        ab_conditions(own, [{"uri": {"exact": "/v2"}}])
    message = str(err.value)
    assert err.value.field == "match"
    assert "no request can match" in message
    assert 'match[0] {"uri": {"prefix": "/api"}}' in message and 'match[1] {"uri": {"prefix": "/v1"}}' in message
    assert 'A/B match[0] {"uri": {"exact": "/v2"}}' in message


@pytest.mark.parametrize("own, ab, words", [
    ({"uri": {"prefix": "/api"}}, {"uri": {"regex": "/api/v[0-9]+"}}, "uri"),
    ({"uri": {"regex": "/a.*"}}, {"uri": {"regex": ".*b"}}, "uri"),
    ({"headers": {"cookie": {"regex": "^(.*;\\s*)?session=.*$"}}}, {"headers": {"cookie": {"regex": "^(.*;\\s*)?canary=always(;.*)?$"}}},
     "headers.cookie"),
    ({"headers": {"x-api": {"regex": "1|2"}}}, {"headers": {"x-api": {"exact": "1"}}}, "headers.x-api"),
    ({"withoutHeaders": {"x-old": {"exact": "1"}}}, {"withoutHeaders": {"x-old": {"exact": "2"}}}, "withoutHeaders.x-old"),
    ({"uri": {"prefix": "/API"}}, {"uri": {"prefix": "/api/v2"}, "ignoreUriCase": True}, "uri"),
    ({"gateways": ["mesh"]}, {"sourceLabels": {"app": "frontend"}}, "sourceLabels"),
    ({"sourceNamespace": "web"}, {"gateways": ["mesh"]}, "sourceLabels"),
])
def test_a_pair_one_istio_condition_cannot_express_is_an_error_naming_both(own, ab, words):
    spec = weighted_spec([own])
    with pytest.raises(CanaryError) as err:
        istio.set_routing(spec, HOST, istio.weights_for(0), match=istio.normalise_match([ab]))
    message = str(err.value)
    assert err.value.field == "match"
    assert words in message
    assert "match[0]" in message and "A/B match[0]" in message
    assert "podinfo" in message


def test_a_field_unknown_to_us_on_both_sides_is_combined_only_when_equal():
    assert istio.combine_matches([{"futureField": {"a": 1}}], [{"futureField": {"a": 1}}], "podinfo") == [{"futureField": {"a": 1}}]
    with pytest.raises(CanaryError) as err:
        istio.combine_matches([{"futureField": {"a": 1}}], [{"futureField": {"a": 2}}], "podinfo")
    assert "futureField" in str(err.value) and "A/B match[0]" in str(err.value)


def test_identical_combinations_are_listed_once():
    own = [{"uri": {"prefix": "/api"}}, {"uri": {"prefix": "/api/v2"}}]
    assert ab_conditions(own, [{"uri": {"exact": "/api/v2/beta"}}]) == [{"uri": {"exact": "/api/v2/beta"}}]


def test_setting_the_same_match_again_changes_nothing():
    spec = weighted_spec([{"uri": {"prefix": "/api"}}, {"headers": {"x-api": {"exact": "1"}}}])
    match = istio.normalise_match([BETA])
    once = istio.set_routing(spec, HOST, istio.weights_for(10), match=match)
    assert istio.set_routing(once, HOST, istio.weights_for(10), match=match) == once
    assert istio.set_routing(once, HOST, istio.weights_for(10)) == istio.set_routing(spec, HOST, istio.weights_for(10))


def test_carry_routing_state_keeps_the_ab_route_as_it_is_when_the_routes_conditions_did_not_change():
    own = [{"uri": {"prefix": "/api"}}, {"headers": {"x-api": {"exact": "1"}}}]
    current = istio.set_routing(weighted_spec(own), HOST, istio.weights_for(0), match=istio.normalise_match([BETA]))
    desired = weighted_spec(own)
    desired["http"][0]["timeout"] = "9s"
    carried = istio.carry_routing_state(current, desired, HOST)
    assert carried["http"][0]["match"] == current["http"][0]["match"]
    assert carried["http"][1]["timeout"] == "9s"
    # The weighted route's conditions changed: the carried A/B conditions are combined with the new ones (never wider).
    desired = weighted_spec([{"uri": {"prefix": "/api/v2"}}])
    carried = istio.carry_routing_state(current, desired, HOST)
    assert carried["http"][0]["match"] == [{"uri": {"prefix": "/api/v2"}, "headers": {"x-beta": {"exact": "on"}}},
                                           {"uri": {"prefix": "/api/v2"}, "headers": {"x-api": {"exact": "1"}, "x-beta": {"exact": "on"}}}]


def test_subset_mode_combines_the_same_way():
    target = istio.route_target("backend", mode="subset", primary_subset="v1", canary_subset="v2", namespace="test")
    spec = {"hosts": ["backend"], "http": [{"match": [{"uri": {"prefix": "/api"}}, {"headers": {"x-api": {"exact": "1"}}}], "route": [
        {"destination": {"host": "backend", "subset": "v1"}, "weight": 100}, {"destination": {"host": "backend", "subset": "v2"}, "weight": 0}]}]}
    new = istio.set_routing(spec, target, istio.weights_for(0), match=istio.normalise_match([BETA]))
    assert new["http"][0]["match"] == [{"uri": {"prefix": "/api"}, "headers": {"x-beta": {"exact": "on"}}},
                                       {"headers": {"x-api": {"exact": "1"}, "x-beta": {"exact": "on"}}}]
