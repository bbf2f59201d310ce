"""A/B routing measured with traffic through the lab's mesh Envoy as istiod programs it (RE2 regexes, Istio's match
semantics).

The session's lab (``shared_lab``), one namespace for the module: podinfo 6.0.0 initialised by canary_init (the primary keeps 6.0.0), then the
target runs 6.0.1 as the canary. The weighted route gets conditions of its own, canary_route adds
an A/B match, and requests for every combination are counted by the podinfo version that answered
(the ``version`` of its JSON answer): only requests that match the weighted route AND the A/B match may
reach the canary, requests that match neither of the weighted route's conditions fall through to a
fallback route that answers 418 itself.
"""

import time

import pytest
import yaml

from ansible_collections.progressive.delivery.plugins.modules import canary_route

from tests.cluster import Namespaces
from tests.mesh import REPO, versions_served, wait_for
from tests.modules.cluster.harness import run_module

from ._initialized import initialized_with_canary

pytestmark = pytest.mark.lab

PRIMARY, CANARY, FALLBACK = "6.0.0", "6.0.1", 418
REQUESTS = 50
VS = ("networking.istio.io/v1beta1", "VirtualService")
# The weighted route's own conditions: the API by path, or by header.
OWN_MATCH = [{"uri": {"prefix": "/api"}}, {"headers": {"x-api": {"exact": "1"}}}]
BETA = [{"headers": {"x-beta": {"exact": "on"}}}]


@pytest.fixture(scope="module")
def routed(shared_lab):
    """canary_init on podinfo 6.0.0, the target then at 6.0.1, and the weighted route given its own
    conditions plus a fallback route behind it (as a user edits the VirtualService), in a namespace of the module's own."""
    namespaces = Namespaces(shared_lab.store)
    ns = namespaces.create("routing-traffic")
    try:
        yield route(shared_lab, ns)
    finally:
        namespaces.delete(ns)


class Routed:
    def __init__(self, lab, ns):
        self.lab, self.ns, self.host = lab, ns, "podinfo.%s" % ns


def route(lab, ns):
    initialized_with_canary(lab, ns, PRIMARY, CANARY)

    vs = lab.read(VS[0], VS[1], ns, "podinfo")
    assert [route["name"] for route in vs["spec"]["http"]] == ["podinfo"]
    vs["spec"]["http"][0]["match"] = OWN_MATCH
    vs["spec"]["http"].append({"name": "fallback", "directResponse": {"status": FALLBACK, "body": {"string": "fallback"}}})
    lab.apply(vs)
    routed = Routed(lab, ns)
    wait_for(lambda: outcomes(routed, "/version", {}, 1) == {FALLBACK: 1}, 60, "the fallback route")
    wait_for(lambda: outcomes(routed, "/api/info", {}, 1) == {PRIMARY: 1}
             and outcomes(routed, "/", {}, 1, host="podinfo-canary.%s" % ns) == {CANARY: 1}, 60, "primary and canary")
    return routed


def outcomes(routed, path, headers, count, host=None):
    """``count`` requests through the mesh on one kept-alive connection: podinfo version (or status) -> requests.
    (Real podinfo reports its version in the JSON body of /, /api/info and /version; the fallback route answers a status.)"""
    return versions_served(routed.lab, host or routed.host, count, path=path, headers=headers)


def set_ab_match(routed, match, probe):
    """canary_route at weight 0 with ``match``; returns once Envoy serves it (``probe``: path, headers, expected)."""
    result = run_module(canary_route, routed.lab, dict(namespace=routed.ns, target="podinfo", weight=0, match=match))
    assert not result.get("failed"), result
    path, headers, expected = probe
    wait_for(lambda: outcomes(routed, path, headers, 1) == {expected: 1}, 10, "the A/B route in Envoy")
    time.sleep(0.2)  # one route configuration (RDS) holds every route of the port: once the probe sees the change, all of it is live
    return result


def measure(lab, cases):
    measured = {}
    for name, path, headers, _expected in cases:
        measured[name] = outcomes(lab, path, headers, REQUESTS)
    print("\n" + "\n".join("%-44s %s" % (name, counts) for name, counts in measured.items()))
    return measured


AB_CASES = [
    # name, path, headers, where every request must go
    ("x-beta + /api", "/api/info", {"x-beta": "on"}, CANARY),
    ("x-beta + x-api: 1 (on /version)", "/version", {"x-beta": "on", "x-api": "1"}, CANARY),
    ("x-beta alone (on /version)", "/version", {"x-beta": "on"}, FALLBACK),
    ("nothing (on /version)", "/version", {}, FALLBACK),
    ("/api without x-beta", "/api/info", {}, PRIMARY),
    ("x-api: 1 without x-beta (on /version)", "/version", {"x-api": "1"}, PRIMARY),
]


def test_only_requests_matching_the_route_and_the_ab_match_reach_the_canary(routed):
    lab = routed
    result = set_ab_match(lab, BETA, ("/api/info", {"x-beta": "on"}, CANARY))
    measured = measure(lab, AB_CASES)
    assert measured == dict((name, {expected: REQUESTS}) for name, _path, _headers, expected in AB_CASES)
    assert result["match"] == [{"uri": {"prefix": "/api"}, "headers": {"x-beta": {"exact": "on"}}},
                               {"headers": {"x-api": {"exact": "1"}, "x-beta": {"exact": "on"}}}]


def documented_cookie_regex():
    """The cookie regex canary_route's EXAMPLES document (what users copy)."""
    found = []
    for task in yaml.safe_load(canary_route.EXAMPLES):
        for condition in (task.get("progressive.delivery.canary_route") or {}).get("match") or []:
            regex = ((condition.get("headers") or {}).get("cookie") or {}).get("regex")
            if regex:
                found.append(regex)
    assert len(set(found)) == 1, found
    return found[0]


COOKIES = [
    # Cookie header as a browser sends it, reaches the canary
    ("canary=always", True),
    ("a=1; canary=always", True),
    ("canary=always; b=2", True),
    ("a=1; canary=always; b=2", True),
    ("xcanary=always", False),
    ("canary=alwaysx", False),
    ("a=1; notcanary=always", False),
]


def test_the_documented_cookie_regex_matches_real_cookie_headers_in_envoy(routed):
    lab = routed
    regex = documented_cookie_regex()
    set_ab_match(lab, [{"headers": {"cookie": {"regex": regex}}}], ("/api/info", {"Cookie": "canary=always"}, CANARY))
    cases = [("Cookie: " + cookie, "/api/info", {"Cookie": cookie}, CANARY if canary_cookie else PRIMARY)
             for cookie, canary_cookie in COOKIES]
    measured = measure(lab, cases)
    assert measured == dict((name, {expected: REQUESTS}) for name, _path, _headers, expected in cases), regex


def test_every_copy_of_the_cookie_regex_in_the_repository_is_the_documented_one():
    regex = documented_cookie_regex()
    stale = []
    for path in [REPO / "README.md", REPO / "plugins" / "modules" / "canary_route.py"] + sorted((REPO / "docs").glob("*.md")) \
            + sorted((REPO / "roles").rglob("*.yml")) + sorted((REPO / "molecule").rglob("*.yml")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if "canary=always" in line and "^(" in line and regex not in line:  # a copy of a cookie regex, not prose
                stale.append("%s:%d: %s" % (path.relative_to(REPO), number, line.strip()))
    assert not stale, "\n".join(stale)
