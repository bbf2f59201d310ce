"""Route drift: the split a router reads against the weight the run set, at each poll of a wait."""

import copy
import json

from ansible_collections.progressive.delivery.plugins.module_utils.routing import drift, get_router, istio
from ansible_collections.progressive.delivery.plugins.module_utils.routing import gatewayapi as gw
from ansible_collections.progressive.delivery.plugins.module_utils.state import status as st
from ansible_collections.progressive.delivery.plugins.module_utils.state import watch
from tests.unit.clock import FakeClock

HOST = istio.route_target("podinfo")
SUBSET = istio.route_target("backend", mode="subset", primary_subset="v1", canary_subset="v2")
MATCH = [{"headers": {"x-canary": {"exact": "insider"}}}]


def state_of(spec, target=HOST):
    return istio.read_state(spec, target)


def vs_spec(weight, **kwargs):
    spec = istio.build_virtual_service("test", "podinfo")["spec"]
    return istio.set_routing(spec, HOST, istio.weights_for(weight), **kwargs)


# --- compare -----------------------------------------------------------------------------------


def test_the_split_the_run_set_is_no_drift():
    assert drift.compare(30, state_of(vs_spec(30))) is None
    assert drift.compare(0, state_of(vs_spec(0))) is None
    assert drift.compare(100, state_of(vs_spec(100))) is None


def test_another_weight_is_a_drift_saying_what_was_found():
    found = drift.compare(30, state_of(vs_spec(0)), route="VirtualService podinfo")
    assert found == {"route": "VirtualService podinfo", "expected": 30, "found": 0, "weights": {"primary": 100, "canary": 0},
                     "reason": "found canary 0 %, expected 30 %"}
    assert drift.compare(30, state_of(vs_spec(31)))["found"] == 31


def test_a_missing_route_is_a_drift():
    answer = drift.compare(20, None)
    assert (answer["found"], answer["weights"]) == (None, None)
    assert answer["reason"] == "found no managed route (the managed route is missing), expected canary 20 %"
    assert "route_name" in drift.compare(20, "the VirtualService has no http route named 'podinfo'; set route_name")["reason"]


def test_a_split_sending_nothing_anywhere_is_a_drift():
    answer = drift.compare(0, {"weights": {"primary": 0, "canary": 0}})
    assert answer["found"] is None and answer["reason"] == "found no traffic to either side, expected 0 %"


def test_the_share_is_compared_not_the_raw_weights():
    # a route written elsewhere with other weights but the same split (Gateway API weights are relative)
    assert drift.compare(30, {"weights": {"primary": 7, "canary": 3}}) is None
    assert drift.compare(30, {"weights": {"primary": 1, "canary": 1}})["found"] == 50


def test_ab_match_and_mirror_routes_are_not_taken_for_the_split():
    # A/B testing: the match route sends everything to the canary, the weighted route stays 100/0
    ab = vs_spec(0, match=MATCH)
    assert [route["name"] for route in ab["http"]] == ["podinfo-canary-match", "podinfo"]
    assert drift.compare(0, state_of(ab)) is None
    assert drift.compare(100, state_of(ab))["found"] == 0
    # Blue/Green with mirroring: the mirror does not count as the canary's share
    mirrored = vs_spec(0, mirror=True, mirror_weight=50)
    assert mirrored["http"][-1].get("mirror")
    assert drift.compare(0, state_of(mirrored)) is None
    # a mirror route with its own match, beside a 20 % split
    mirror_match = vs_spec(20, mirror=True, mirror_match=MATCH)
    assert len(mirror_match["http"]) == 2
    assert drift.compare(20, state_of(mirror_match)) is None


def test_argo_cds_re_applied_manifest_drops_the_ab_route_too_but_the_split_decides():
    ab = vs_spec(0, match=MATCH)
    re_applied = copy.deepcopy(ab)
    re_applied["http"] = [route for route in re_applied["http"] if route["name"] == "podinfo"]
    assert drift.compare(0, state_of(re_applied)) is None


def test_istio_subsets_are_read_by_subset():
    spec = {"hosts": ["backend"], "http": [{"name": "backend", "route": [
        {"destination": {"host": "backend", "subset": "v1"}, "weight": 60},
        {"destination": {"host": "backend", "subset": "v2"}, "weight": 40}]}]}
    assert drift.compare(40, state_of(spec, SUBSET)) is None
    assert drift.compare(10, state_of(spec, SUBSET))["reason"] == "found canary 40 %, expected 10 %"


# --- RouteWatch through the routers' own read ------------------------------------------------


class FakeCluster(object):
    def __init__(self, *objects):
        self.objects = dict(((o["kind"], o["metadata"]["namespace"], o["metadata"]["name"]), copy.deepcopy(o)) for o in objects)

    def get(self, api_version, kind, namespace, name):
        if kind == "ConfigMap" or kind == "Deployment":
            return None
        return copy.deepcopy(self.objects.get((kind, namespace, name)))


def reader(router):
    return lambda: router.get_routes(router.read())


def test_route_watch_reads_the_virtual_service_at_each_look():
    vs = istio.build_virtual_service("test", "podinfo")
    vs["spec"] = vs_spec(30)
    cluster = FakeCluster(vs)
    router = get_router(cluster, {"namespace": "test", "target": "podinfo", "service_name": None}, "istio")
    looks = drift.RouteWatch(reader(router), 30, "VirtualService podinfo")
    assert looks.look() is None
    cluster.objects[("VirtualService", "test", "podinfo")]["spec"] = vs_spec(0)
    assert looks.look()["reason"] == "found canary 0 %, expected 30 %"
    del cluster.objects[("VirtualService", "test", "podinfo")]
    gone = looks.look()
    assert gone["found"] is None and "VirtualService test/podinfo not found" in gone["reason"]
    assert looks.looks == 3


def test_route_watch_reads_the_http_routes_backend_refs():
    route = {"apiVersion": gw.API_VERSION, "kind": gw.HTTP_ROUTE, "metadata": {"name": "web", "namespace": "test"},
             "spec": {"parentRefs": [{"name": "public"}], "rules": [{"name": "app", "backendRefs": [
                 {"name": "podinfo-primary", "port": 9898, "weight": 80}, {"name": "podinfo-canary", "port": 9898, "weight": 20}]}]}}
    cluster = FakeCluster(route)
    router = get_router(cluster, {"namespace": "test", "target": "podinfo", "service_name": None, "http_route": {"name": "web"}},
                        "gatewayapi")
    assert drift.RouteWatch(reader(router), 20).look() is None
    # re-applied from Git: the primary alone, without a weight (Gateway API's default of 1)
    cluster.objects[("HTTPRoute", "test", "web")]["spec"]["rules"][0]["backendRefs"] = [{"name": "podinfo-primary", "port": 9898}]
    assert drift.RouteWatch(reader(router), 20).look()["reason"] == "found canary 0 %, expected 20 %"


class Changing(object):
    """A split that someone else changes once ``at`` seconds have passed."""

    def __init__(self, clock, at, before, after):
        self.clock, self.at, self.before, self.after = clock, at, before, after

    def __call__(self):
        return state_of(vs_spec(self.after if self.clock() >= self.at else self.before))


def test_the_wait_ends_at_the_first_poll_that_sees_the_change():
    clock = FakeClock()
    looks = drift.RouteWatch(Changing(clock, 1.0, 30, 0), 30, "VirtualService podinfo")
    result = watch.watch(FakeCluster(), "podinfo", "test", 5.0, poll=0.25, clock=clock, sleep=clock.sleep, route=looks)
    assert result["interrupted"] == watch.ROUTE_DRIFT
    assert result["route_drift"]["found"] == 0 and 1.0 <= result["waited"] < 1.3
    assert looks.looks == 5


def test_a_wait_whose_split_stays_runs_out_and_reports_no_drift():
    clock = FakeClock()
    looks = drift.RouteWatch(Changing(clock, 99, 30, 0), 30)
    result = watch.watch(FakeCluster(), "podinfo", "test", 2.0, poll=0.5, clock=clock, sleep=clock.sleep, route=looks)
    assert result["interrupted"] is None and result["route_drift"] is None and result["waited"] >= 2.0


def test_an_abort_request_wins_over_a_drift_seen_in_the_same_poll():
    clock = FakeClock()

    class Aborting(FakeCluster):
        def get(self, api_version, kind, namespace, name):
            if kind == "ConfigMap":
                return {"metadata": {"name": name}, "data": {st.STATUS_KEY: json.dumps({"requested": "abort"})}}
            return None

    looks = drift.RouteWatch(Changing(clock, 0, 30, 0), 30)
    result = watch.watch(Aborting(), "podinfo", "test", 2.0, poll=0.5, clock=clock, sleep=clock.sleep, route=looks)
    assert result["interrupted"] == "abort" and result["route_drift"]["found"] == 0


def test_a_canary_ready_wait_does_not_watch_the_route():
    clock = FakeClock()
    looks = drift.RouteWatch(Changing(clock, 0, 30, 0), 30)
    result = watch.watch(FakeCluster(), "podinfo", "test", 1.0, until=watch.CANARY_READY, poll=0.5, clock=clock, sleep=clock.sleep,
                         route=looks)
    assert looks.looks == 0 and "route_drift" not in result
