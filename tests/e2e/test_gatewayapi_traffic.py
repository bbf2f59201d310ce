"""router=gatewayapi measured with traffic: the lab's mesh Envoy, programmed by istiod from the HTTPRoute
canary_init created (GAMMA: its parent is the apex Service), splits requests as canary_route set the weights.

podinfo 6.0.0 is initialised (the primary keeps it), then the target runs 6.0.1 as the canary; each answer
is counted by the version that gave it.
"""

import time

import pytest

from ansible_collections.progressive.delivery.plugins.modules import canary_route

from tests.cluster import Namespaces
from tests.mesh import versions_served, wait_for
from tests.modules.cluster.harness import run_module

from ._initialized import initialized_with_canary

pytestmark = pytest.mark.lab

PRIMARY, CANARY = "6.0.0", "6.0.1"
REQUESTS = 400


class Routed:
    def __init__(self, lab, ns):
        self.lab, self.ns, self.host = lab, ns, "podinfo.%s" % ns

    def route(self, weight):
        result = run_module(canary_route, self.lab, dict(namespace=self.ns, target="podinfo", router="gatewayapi", weight=weight))
        assert not result.get("failed"), result
        return result


def answers(routed, count):
    return versions_served(routed.lab, routed.host, count)


@pytest.fixture(scope="module")
def routed(shared_lab):
    namespaces = Namespaces(shared_lab.store)
    ns = namespaces.create("gatewayapi-traffic")
    try:
        lab = shared_lab
        initialized_with_canary(lab, ns, PRIMARY, CANARY, router="gatewayapi",
                                parent_refs=[{"group": "", "kind": "Service", "name": "podinfo", "port": 9898}])
        routed = Routed(lab, ns)
        wait_for(lambda: answers(routed, 5) == {PRIMARY: 5}, 60, "the primary through the mesh")
        yield routed
    finally:
        namespaces.delete(ns)


def test_weight_30_sends_about_30_percent_to_the_canary_and_0_none(routed):
    # 100 first: once every answer is the canary's, the HTTPRoute is live in Envoy.
    routed.route(100)
    wait_for(lambda: answers(routed, 10) == {CANARY: 10}, 30, "all traffic on the canary")

    routed.route(30)
    wait_for(lambda: PRIMARY in answers(routed, 20), 30, "the 30/70 split served")
    time.sleep(0.5)  # one route configuration holds the whole split: once it shows, all of it is live
    split = answers(routed, REQUESTS)
    print("\nHTTPRoute weight 30: %s of %d" % (split, REQUESTS))
    assert set(split) == {PRIMARY, CANARY}, split
    # binomial(400, 0.3): mean 120, sd 9.2; 70..170 is more than 5 sd either side
    assert 70 <= split[CANARY] <= 170, split

    routed.route(0)
    wait_for(lambda: answers(routed, 20) == {PRIMARY: 20}, 30, "all traffic back on the primary")
    time.sleep(0.5)
    back = answers(routed, REQUESTS)
    print("HTTPRoute weight 0: %s" % back)
    assert back == {PRIMARY: REQUESTS}, back
