"""Session affinity and the mirror route measured with traffic through the lab's mesh Envoy as istiod programs it.

The session's lab (``shared_lab``), one namespace for the module: podinfo 6.0.0 initialised by canary_init (the
primary keeps 6.0.0), then the target runs 6.0.1 as the canary. Every request is counted by the podinfo version
that answered (the ``version`` of its JSON answer); the mirrored copies, whose answers Envoy discards, by the
canary pods' own request counter (podinfo's /metrics, read on the pod's address).
"""

import collections
import http.client
import json
import time
import urllib.request
from urllib.parse import urlsplit

import pytest

from ansible_collections.progressive.delivery.plugins.modules import canary_route

from tests.cluster import Namespaces
from tests.mesh import wait_for
from tests.modules.cluster.harness import run_module

from ._initialized import initialized_with_canary

pytestmark = pytest.mark.lab

PRIMARY, CANARY = "6.0.0", "6.0.1"
REQUESTS = 50
COOKIE_NAME = "canary-affinity"
QA = {"x-team": "qa"}
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # no proxy between us and the pod network


class Routed:
    def __init__(self, lab, ns):
        self.lab, self.ns, self.host = lab, ns, "podinfo.%s" % ns

    def route(self, **args):
        result = run_module(canary_route, self.lab, dict(namespace=self.ns, target="podinfo", **args))
        assert not result.get("failed"), result
        return result


@pytest.fixture(scope="module")
def routed(shared_lab):
    namespaces = Namespaces(shared_lab.store)
    ns = namespaces.create("affinity-traffic")
    try:
        lab = shared_lab
        initialized_with_canary(lab, ns, PRIMARY, CANARY)
        routed = Routed(lab, ns)
        wait_for(lambda: answers(routed, "/version", {}, 1)[0] == {PRIMARY: 1}, 60, "the primary through the mesh")
        yield routed
    finally:
        namespaces.delete(ns)


def answers(routed, path, headers, count):
    """``count`` requests through the mesh on one kept-alive connection: ``(version -> requests, [Set-Cookie of each
    canary answer], [Set-Cookie of each primary answer])``."""
    url = urlsplit(routed.lab.info["mesh"])
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=5)
    seen = collections.Counter()
    cookies = {CANARY: [], PRIMARY: []}
    try:
        for _ in range(count):
            conn.request("GET", path, headers=dict(headers, Host=routed.host))
            response = conn.getresponse()
            body = response.read()
            try:
                version = json.loads(body).get("version") if response.status == 200 else None
            except ValueError:
                version = None
            seen[version or response.status] += 1
            if version in cookies:
                cookies[version].extend(response.msg.get_all("set-cookie") or [])
    finally:
        conn.close()
    return dict(seen), cookies[CANARY], cookies[PRIMARY]


def canary_served(routed, path="version"):
    """Requests the canary's podinfo processes served on ``path``, by their own /metrics (mirrored copies included)."""
    total = 0.0
    for pod in routed.lab.store.list("v1", "Pod", routed.ns):
        name = pod["metadata"]["name"]
        if name.startswith("podinfo-primary-") or not name.startswith("podinfo-") or pod["metadata"].get("deletionTimestamp"):
            continue
        if not (pod.get("status") or {}).get("podIP"):
            continue
        with _DIRECT.open("http://%s:9797/metrics" % pod["status"]["podIP"], timeout=5) as response:
            text = response.read().decode()
        total += sum(float(line.split()[-1]) for line in text.splitlines()
                     if line.startswith("http_request_duration_seconds_count") and 'path="%s"' % path in line)
    return total


def test_a_client_holding_the_affinity_cookie_stays_on_the_canary(routed):
    result = routed.route(weight=50, session_affinity={"cookie_name": COOKIE_NAME, "max_age": 600})
    value = result["session_affinity"]["cookie_value"]
    expected_cookie = "%s=%s; Max-Age=600" % (COOKIE_NAME, value)
    # Envoy serves the new routes once a canary answer carries the cookie
    wait_for(lambda: answers(routed, "/version", {}, 10)[1], 20, "a canary answer with Set-Cookie")
    time.sleep(0.2)  # one route configuration (RDS) holds every route of the port: once the probe sees the change, all of it is live

    # cookie-less clients: split about 50/50 (binomial, 100 requests: 5 standard deviations either side)
    split, canary_cookies, primary_cookies = answers(routed, "/version", {}, 2 * REQUESTS)
    print("\nwithout the cookie: %s" % split)
    assert set(split) == {PRIMARY, CANARY}, split
    assert 25 <= split[CANARY] <= 75, split
    assert canary_cookies == [expected_cookie] * split[CANARY], "every canary answer sets the cookie"
    assert primary_cookies == [], "the primary never sets it"

    # the client sends back what it got from the canary (the cookie's name=value), among cookies of its own
    sent_back = canary_cookies[0].split(";", 1)[0]
    sticky, _, _ = answers(routed, "/version", {"Cookie": "session=abc; %s; theme=dark" % sent_back}, REQUESTS)
    alone, _, _ = answers(routed, "/version", {"Cookie": sent_back}, REQUESTS)
    print("with the cookie: %s, alone: %s" % (sticky, alone))
    assert sticky == {CANARY: REQUESTS} and alone == {CANARY: REQUESTS}

    # a cookie of another value (another revision's) is split like no cookie
    other, _, _ = answers(routed, "/version", {"Cookie": "%s=%s" % (COOKIE_NAME, "0" * 16)}, 2 * REQUESTS)
    assert 25 <= other.get(CANARY, 0) <= 75, other

    # without session_affinity the cookie means nothing any more
    routed.route(weight=50)
    wait_for(lambda: not answers(routed, "/version", {}, 10)[1], 20, "canary answers without Set-Cookie")
    time.sleep(0.2)
    after, _, _ = answers(routed, "/version", {"Cookie": sent_back}, 2 * REQUESTS)
    assert 25 <= after.get(CANARY, 0) <= 75, after


def test_mirrored_requests_are_answered_by_the_primary_and_copied_to_the_canary(routed):
    routed.route(weight=50, mirror_match=[{"headers": {"x-team": {"exact": "qa"}}}])
    wait_for(lambda: answers(routed, "/version", QA, 10)[0] == {PRIMARY: 10}, 20, "the mirror route in Envoy")
    time.sleep(0.2)
    # the copies are fire-and-forget: wait until the probes' copies have arrived before counting
    time.sleep(1)
    before = canary_served(routed)
    mirrored, _, _ = answers(routed, "/version", QA, REQUESTS)
    split, _, _ = answers(routed, "/version", {}, 2 * REQUESTS)
    print("\nx-team: qa: %s, others: %s" % (mirrored, split))
    assert mirrored == {PRIMARY: REQUESTS}, "requests of the mirror route are answered by the primary alone"
    assert 25 <= split.get(CANARY, 0) <= 75, "the weighted route keeps its split: %s" % split
    expected = REQUESTS + split[CANARY]
    # the canary served the split's share plus one copy of every mirrored request
    wait_for(lambda: canary_served(routed) - before >= expected, 10,
             lambda: "the canary to serve %d requests (%d live + %d copies); it served %d"
             % (expected, split[CANARY], REQUESTS, canary_served(routed) - before))
    assert canary_served(routed) - before == expected

    routed.route(weight=50)
    wait_for(lambda: answers(routed, "/version", QA, 20)[0].get(CANARY), 20,
             "requests with x-team: qa split again once mirror_match is removed")
