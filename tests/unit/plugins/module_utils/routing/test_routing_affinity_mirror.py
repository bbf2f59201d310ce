"""Session affinity (Flagger's sessionAffinity) and the mirror route (Argo Rollouts' setMirrorRoute): the pure spec edits."""

import copy
import re

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils._errors import CanaryError
from ansible_collections.progressive.delivery.plugins.module_utils.routing import istio

HOST = istio.route_target("podinfo", namespace="test")
QA = [{"headers": {"x-team": {"exact": "qa"}}}]
INSIDER = [{"headers": {"x-canary": {"exact": "insider"}}}]


def vs_spec(**kwargs):
    return istio.build_virtual_service("test", "podinfo", **kwargs)["spec"]


def affinity(name="canary-affinity", max_age=3600, revision="rev-1"):
    result = istio.validate_session_affinity({"cookie_name": name, "max_age": max_age})
    result["cookie_value"] = istio.session_cookie_value(revision, "test", "podinfo", "podinfo", name)
    return result


def names(spec):
    return [route["name"] for route in spec["http"]]


# --- session_affinity: the option ------------------------------------------------------------


def test_session_affinity_defaults_max_age_to_a_day():
    assert istio.validate_session_affinity({"cookie_name": "canary"}) == {"cookie_name": "canary", "max_age": 86400}
    assert istio.validate_session_affinity({"cookie_name": "c.1_x-y", "max_age": 5}) == {"cookie_name": "c.1_x-y", "max_age": 5}
    assert istio.validate_session_affinity(None) is None


@pytest.mark.parametrize("value, words", [
    ({"cookie_name": ""}, "cookie_name must name the cookie"),
    ({"cookie_name": None}, "cookie_name must name the cookie"),
    ({"cookie_name": "my cookie"}, "not a valid cookie name"),
    ({"cookie_name": "a=b"}, "not a valid cookie name"),
    ({"cookie_name": "a;b"}, "not a valid cookie name"),
    ({"cookie_name": "a,b"}, "not a valid cookie name"),
    ({"cookie_name": "c", "max_age": 0}, "max_age must be a number of seconds above 0"),
    ({"cookie_name": "c", "max_age": -5}, "max_age must be a number of seconds above 0"),
    ({"cookie_name": "c", "max_age": True}, "max_age"),
    ({"cookie_name": "c", "max_age": "60"}, "max_age"),
    ({"cookie_name": "c", "maxAge": 60}, "session_affinity.maxAge is not known"),
    ("canary", "must be a mapping"),
])
def test_bad_session_affinity_names_the_field(value, words):
    with pytest.raises(CanaryError) as err:
        istio.validate_session_affinity(value)
    assert err.value.field == "session_affinity"
    assert words in str(err.value)


def test_cookie_value_is_stable_per_revision_and_scope():
    one = istio.session_cookie_value("rev-1", "test", "podinfo", "podinfo", "c")
    assert re.match(r"^[0-9a-f]{16}$", one)
    assert istio.session_cookie_value("rev-1", "test", "podinfo", "podinfo", "c") == one
    assert istio.session_cookie_value("rev-2", "test", "podinfo", "podinfo", "c") != one
    assert istio.session_cookie_value("rev-1", "other", "podinfo", "podinfo", "c") != one


@pytest.mark.parametrize("header, matches", [
    ("canary.x=0123456789abcdef", True),
    ("a=1; canary.x=0123456789abcdef; b=2", True),
    ("a=1;canary.x=0123456789abcdef", True),
    ("canaryxx=0123456789abcdef", False),  # the dot is literal
    ("xcanary.x=0123456789abcdef", False),
    ("canary.x=0123456789abcdef0", False),
    ("canary.x=0123456789abcde", False),
])
def test_cookie_regex_finds_the_cookie_anywhere_in_the_header_and_nothing_else(header, matches):
    regex = istio.cookie_regex("canary.x", "0123456789abcdef")
    assert bool(re.match(regex, header)) is matches


# --- session_affinity: the spec edits --------------------------------------------------------


def test_affinity_at_weight_50_sets_the_cookie_on_the_canary_and_puts_the_sticky_route_first():
    spec = vs_spec(retries={"attempts": 2})
    sa = affinity()
    new = istio.set_routing(spec, HOST, istio.weights_for(50), session_affinity=sa)
    assert names(new) == ["podinfo-canary-sticky", "podinfo"]
    sticky, weighted = new["http"]
    cookie = "canary-affinity=%s; Max-Age=3600" % sa["cookie_value"]
    assert weighted["route"] == [{"destination": {"host": "podinfo-primary"}, "weight": 50},
                                 {"destination": {"host": "podinfo-canary"}, "weight": 50,
                                  "headers": {"response": {"add": {"Set-Cookie": cookie}}}}]
    assert sticky["match"] == [{"headers": {"cookie": {"regex": istio.cookie_regex("canary-affinity", sa["cookie_value"])}}}]
    assert sticky["route"] == [{"destination": {"host": "podinfo-primary"}, "weight": 0},
                               {"destination": {"host": "podinfo-canary"}, "weight": 100}]
    assert sticky["retries"] == {"attempts": 2}
    state = istio.read_state(new, HOST)
    assert state["session_affinity"] == {"cookie_name": "canary-affinity", "max_age": 3600, "cookie_value": sa["cookie_value"]}
    assert state["weights"] == {"primary": 50, "canary": 50}
    assert istio.set_routing(new, HOST, istio.weights_for(50), session_affinity=sa) == new, "not idempotent"
    # without the option (and as promotion / rollback route): back to the plain split
    assert istio.set_routing(new, HOST, istio.weights_for(50)) == istio.set_routing(spec, HOST, istio.weights_for(50))
    assert istio.set_routing(new, HOST, istio.weights_for(0)) == spec


def test_affinity_follows_a_changed_revision_or_max_age():
    first = istio.set_routing(vs_spec(), HOST, istio.weights_for(20), session_affinity=affinity())
    second = istio.set_routing(first, HOST, istio.weights_for(40), session_affinity=affinity(revision="rev-2", max_age=60))
    state = istio.read_state(second, HOST)["session_affinity"]
    assert state["cookie_value"] == affinity(revision="rev-2")["cookie_value"] and state["max_age"] == 60
    assert names(second) == ["podinfo-canary-sticky", "podinfo"]
    assert len(second["http"][1]["route"][1]["headers"]["response"]["add"]) == 1


def test_affinity_without_canary_traffic_writes_nothing():
    spec = vs_spec()
    assert istio.set_routing(spec, HOST, istio.weights_for(0), session_affinity=affinity()) == spec
    assert istio.read_state(spec, HOST)["session_affinity"] is None


def test_affinity_with_ab_match_sets_the_cookie_on_the_ab_route():
    sa = affinity()
    new = istio.set_routing(vs_spec(), HOST, istio.weights_for(0), match=istio.normalise_match(INSIDER), session_affinity=sa)
    assert names(new) == ["podinfo-canary-sticky", "podinfo-canary-match", "podinfo"]
    ab, weighted = new["http"][1], new["http"][2]
    assert ab["route"][1]["headers"]["response"]["add"]["Set-Cookie"].startswith("canary-affinity=%s;" % sa["cookie_value"])
    assert "headers" not in weighted["route"][1], "the canary gets no traffic from the weighted route"
    assert istio.read_state(new, HOST)["session_affinity"]["cookie_value"] == sa["cookie_value"]


def test_affinity_keeps_the_destinations_own_headers_and_refuses_to_replace_their_set_cookie():
    spec = vs_spec()
    spec["http"][0]["route"][1]["headers"] = {"response": {"add": {"x-served-by": "canary"}}, "request": {"set": {"x-a": "1"}}}
    new = istio.set_routing(spec, HOST, istio.weights_for(30), session_affinity=affinity())
    headers = new["http"][1]["route"][1]["headers"]
    assert headers["request"] == {"set": {"x-a": "1"}}
    assert headers["response"]["add"]["x-served-by"] == "canary" and "Set-Cookie" in headers["response"]["add"]
    back = istio.set_routing(new, HOST, istio.weights_for(30))
    assert back["http"][0]["route"][1]["headers"] == spec["http"][0]["route"][1]["headers"]

    spec["http"][0]["route"][1]["headers"]["response"]["add"]["set-cookie"] = "theirs=1"
    with pytest.raises(CanaryError) as err:
        istio.set_routing(spec, HOST, istio.weights_for(30), session_affinity=affinity())
    assert err.value.field == "session_affinity" and "theirs=1" in str(err.value)
    # a Set-Cookie this module did not write is never removed
    assert istio.set_routing(spec, HOST, istio.weights_for(30))["http"][0]["route"][1]["headers"]["response"]["add"]["set-cookie"] == "theirs=1"


def test_sticky_route_takes_only_requests_the_weighted_route_takes():
    spec = vs_spec()
    spec["http"][0]["match"] = [{"uri": {"prefix": "/api"}}]
    sa = affinity()
    new = istio.set_routing(spec, HOST, istio.weights_for(10), session_affinity=sa)
    assert new["http"][0]["match"] == [{"uri": {"prefix": "/api"}, "headers": {
        "cookie": {"regex": istio.cookie_regex("canary-affinity", sa["cookie_value"])}}}]


# --- mirror_match ----------------------------------------------------------------------------


def test_mirror_match_adds_a_mirror_route_and_keeps_the_split():
    spec = vs_spec(timeout="3s")
    new = istio.set_routing(spec, HOST, istio.weights_for(30), mirror_match=istio.normalise_match(QA, field="mirror_match"),
                            mirror_weight=50)
    assert names(new) == ["podinfo-canary-mirror", "podinfo"]
    mirror, weighted = new["http"]
    assert mirror["match"] == QA and mirror["timeout"] == "3s"
    assert mirror["route"] == [{"destination": {"host": "podinfo-primary"}, "weight": 100}]
    assert mirror["mirror"] == {"host": "podinfo-canary"} and mirror["mirrorPercentage"] == {"value": 50.0}
    assert "mirror" not in weighted
    state = istio.read_state(new, HOST)
    assert state["weights"] == {"primary": 70, "canary": 30}
    assert state["mirror_match"] == QA and state["mirror_weight"] == 50.0 and state["mirror"] is False
    assert istio.set_routing(new, HOST, istio.weights_for(30), mirror_match=QA, mirror_weight=50) == new
    without_percentage = istio.set_routing(new, HOST, istio.weights_for(30), mirror_match=QA)
    assert "mirrorPercentage" not in without_percentage["http"][0]
    assert istio.set_routing(new, HOST, istio.weights_for(30)) == istio.set_routing(spec, HOST, istio.weights_for(30))


def test_every_managed_route_in_its_order_and_all_removed_by_routing_to_the_primary():
    spec = vs_spec()
    spec["http"].append({"name": "fallback", "directResponse": {"status": 418}})
    new = istio.set_routing(spec, HOST, istio.weights_for(20), match=INSIDER, mirror_match=QA, session_affinity=affinity())
    assert names(new) == ["podinfo-canary-sticky", "podinfo-canary-match", "podinfo-canary-mirror", "podinfo", "fallback"]
    state = istio.read_state(new, HOST)
    assert state["match"] == INSIDER and state["mirror_match"] == QA and state["session_affinity"]["cookie_name"] == "canary-affinity"
    assert istio.set_routing(new, HOST, istio.weights_for(0)) == spec


def test_mirror_match_is_combined_with_the_weighted_routes_conditions():
    spec = vs_spec()
    spec["http"][0]["match"] = [{"uri": {"prefix": "/api"}}]
    new = istio.set_routing(spec, HOST, istio.weights_for(0), mirror_match=QA)
    assert new["http"][0]["match"] == [{"uri": {"prefix": "/api"}, "headers": {"x-team": {"exact": "qa"}}}]


def test_carry_routing_state_keeps_the_mirror_route_and_the_affinity():
    current = istio.set_routing(vs_spec(), HOST, istio.weights_for(40), mirror_match=QA, mirror_weight=25, session_affinity=affinity())
    carried = istio.carry_routing_state(current, vs_spec(timeout="9s"), HOST)
    assert names(carried) == names(current)
    assert istio.read_state(carried, HOST) == istio.read_state(current, HOST)
    assert carried["http"][-1]["timeout"] == "9s"


@pytest.mark.parametrize("match, words", [
    ("x-team", "mirror_match must be a non-empty list"),
    ([], "omit mirror_match to remove the mirror route"),
    ([{}], "mirror_match[0] is empty"),
    ([{"headers": {"X-Team": {"exact": "qa"}}}], "mirror_match[0].headers"),
    ([{"headers": {"x-team": {"exactly": "qa"}}}], "mirror_match[0].headers.x-team"),
])
def test_bad_mirror_match_names_mirror_match(match, words):
    with pytest.raises(CanaryError) as err:
        istio.normalise_match(match, field="mirror_match")
    assert err.value.field == "mirror_match"
    assert words in str(err.value)


def test_mirror_options_together():
    istio.validate_mirror(50, False, None, QA)
    istio.validate_mirror(50, False, 10, QA)
    with pytest.raises(CanaryError) as err:
        istio.validate_mirror(0, True, None, QA)
    assert err.value.field == "mirror_match" and "set one of them" in str(err.value)
    with pytest.raises(CanaryError) as err:
        istio.validate_mirror(0, False, 10, None)
    assert err.value.field == "mirror_weight"
    assert "mirror=true" in str(err.value) and "mirror_match" in str(err.value)
    with pytest.raises(CanaryError) as err:
        istio.validate_mirror(20, True, None, None)
    assert err.value.field == "mirror" and "mirror_match" in str(err.value)


def test_inputs_are_not_modified():
    spec = vs_spec()
    frozen = copy.deepcopy(spec)
    istio.set_routing(spec, HOST, istio.weights_for(20), match=INSIDER, mirror_match=QA, session_affinity=affinity())
    assert spec == frozen
