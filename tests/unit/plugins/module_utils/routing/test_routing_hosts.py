"""One Service, many spellings: short, ``name.ns``, ``name.ns.svc`` and fully qualified hosts are one
host wherever the Istio routing reads, checks or writes destinations (short names resolve in the
VirtualService's namespace, as istiod resolves them)."""

import copy

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils._errors import CanaryError
from ansible_collections.progressive.delivery.plugins.module_utils.routing import istio

SPELLINGS = ["backend", "backend.test", "backend.test.svc", "backend.test.svc.cluster.local", "backend.test.svc.cluster.local.",
             "Backend.Test.svc.cluster.local"]


@pytest.mark.parametrize("one", SPELLINGS)
@pytest.mark.parametrize("other", SPELLINGS)
def test_every_spelling_of_a_service_is_one_host(one, other):
    assert istio.same_host(one, other, "test")
    assert istio.qualified_host(one, "test") == "backend.test.svc.cluster.local"


@pytest.mark.parametrize("one, other", [
    ("backend", "backend.other.svc.cluster.local"),   # a short name is in the VirtualService's namespace
    ("backend.test", "backend.other"),
    ("backend", "frontend"),
    ("backend.test.svc.cluster.local", "backend-primary.test.svc.cluster.local"),
    ("backend", "backend.example.com"),
])
def test_different_services_are_different_hosts(one, other):
    assert not istio.same_host(one, other, "test")
    assert not istio.same_host(other, one, "test")


def test_a_short_name_is_only_comparable_with_a_namespace():
    assert istio.same_host("backend", "backend", None)
    assert not istio.same_host("backend", "backend.test.svc.cluster.local", None)
    assert istio.same_host("backend.test", "backend.test.svc.cluster.local", None)


def test_non_service_hosts_are_left_alone():
    assert istio.qualified_host("app.example.com", "test") == "app.example.com"
    assert istio.qualified_host("*.example.com", "test") == "*.example.com"
    assert istio.qualified_host("::1", "test") == "::1"


def fqdn(name, namespace="test"):
    return "%s.%s.svc.cluster.local" % (name, namespace)


HOST = istio.route_target("podinfo", namespace="test")
SUBSET = istio.route_target("backend", mode="subset", primary_subset="v1", canary_subset="v2", namespace="test")


def host_mode_spec(primary="podinfo-primary.test.svc.cluster.local", canary="podinfo-canary.test.svc.cluster.local"):
    return {"hosts": ["podinfo.test.svc.cluster.local"], "http": [{"name": "podinfo", "route": [
        {"destination": {"host": primary, "port": {"number": 9898}}, "weight": 70},
        {"destination": {"host": canary, "port": {"number": 9898}}, "weight": 30}]}]}


@pytest.mark.parametrize("primary, canary", [
    ("podinfo-primary.test.svc.cluster.local", "podinfo-canary.test.svc.cluster.local"),
    ("podinfo-primary.test", "podinfo-canary.test.svc"),
    ("podinfo-primary", "podinfo-canary.test"),
])
def test_host_mode_reads_and_writes_qualified_destinations_in_the_users_spelling(primary, canary):
    spec = host_mode_spec(primary, canary)
    assert istio.read_state(spec, HOST)["weights"] == {"primary": 70, "canary": 30}
    new = istio.set_routing(spec, HOST, istio.weights_for(10), match=[{"headers": {"x-beta": {"exact": "on"}}}], mirror=False)
    ab, weighted = new["http"]
    assert weighted["route"] == [{"destination": {"host": primary, "port": {"number": 9898}}, "weight": 90},
                                 {"destination": {"host": canary, "port": {"number": 9898}}, "weight": 10}]
    # the A/B route names the same destinations, in the same spelling and with the same port
    assert ab["route"] == [{"destination": {"host": primary, "port": {"number": 9898}}, "weight": 0},
                           {"destination": {"host": canary, "port": {"number": 9898}}, "weight": 100}]
    assert istio.read_state(new, HOST)["weights"] == {"primary": 90, "canary": 10}


def test_host_mode_mirror_uses_the_canary_destination_as_written():
    new = istio.set_routing(host_mode_spec(), HOST, istio.weights_for(0), mirror=True)
    assert new["http"][0]["mirror"] == {"host": fqdn("podinfo-canary"), "port": {"number": 9898}}


def test_a_destination_in_another_namespace_is_not_the_primary():
    spec = host_mode_spec(primary=fqdn("podinfo-primary", "other"))
    with pytest.raises(CanaryError) as err:
        istio.set_routing(spec, HOST, istio.weights_for(10))
    assert "podinfo-primary.other.svc.cluster.local" in str(err.value) and err.value.field == "route_name"


def test_a_missing_destination_is_added_in_the_spelling_of_the_other_one():
    spec = host_mode_spec()
    del spec["http"][0]["route"][1]
    new = istio.set_routing(spec, HOST, istio.weights_for(20))
    assert [entry["destination"]["host"] for entry in new["http"][0]["route"]] == [fqdn("podinfo-primary"), fqdn("podinfo-canary")]
    spec = seed_001_fqdn_spec()
    del spec["http"][1]["route"][1]
    new = istio.set_routing(spec, SUBSET, istio.weights_for(20))
    assert new["http"][1]["route"][1] == {"destination": {"host": fqdn("backend"), "subset": "v2", "port": {"number": 80}}, "weight": 20}


def seed_001_fqdn_spec():
    """Seed 001's VirtualService: FQDN host and destinations with a port, a header route to v2, `match: [{}]`."""
    def destination(subset, weight=None):
        entry = {"destination": {"host": fqdn("backend"), "subset": subset, "port": {"number": 80}}}
        if weight is not None:
            entry["weight"] = weight
        return entry
    return {"gateways": [], "hosts": [fqdn("backend")], "http": [
        {"match": [{"headers": {"canary": {"exact": "canary-tester"}}}], "route": [dict(destination("v2"), weight=100)]},
        {"match": [{}], "route": [destination("v1", 90), destination("v2", 10)]},
    ]}


@pytest.mark.parametrize("destination_host", [None, "backend.test", fqdn("backend")])
def test_subset_mode_on_seed_001_with_fqdn_destinations(destination_host):
    target = istio.route_target("backend", mode="subset", host=destination_host, primary_subset="v1", canary_subset="v2", namespace="test")
    spec = seed_001_fqdn_spec()
    assert istio.find_weighted_route(spec, target) == 1
    assert istio.read_state(spec, target)["weights"] == {"primary": 90, "canary": 10}
    new = istio.set_routing(spec, target, istio.weights_for(50))
    expected = copy.deepcopy(spec)
    expected["http"][1]["route"][0]["weight"] = expected["http"][1]["route"][1]["weight"] = 50
    assert new == expected


def test_check_subsets_finds_the_destination_rule_by_any_spelling():
    for rule_host in ("backend", "backend.test", fqdn("backend")):
        rules = [{"metadata": {"name": "backend", "namespace": "test"}, "spec": {"host": rule_host, "subsets": [{"name": "v1"}, {"name": "v2"}]}}]
        for destination_host in (None, "backend.test.svc", fqdn("backend")):
            target = istio.route_target("backend", mode="subset", host=destination_host, primary_subset="v1", canary_subset="v2",
                                        namespace="test")
            istio.check_subsets(rules, target, "test")
    other = [{"metadata": {"name": "backend", "namespace": "test"}, "spec": {"host": fqdn("backend", "other"), "subsets": [{"name": "v1"}]}}]
    with pytest.raises(CanaryError) as err:
        istio.check_subsets(other, SUBSET, "test")
    assert err.value.field == "destination_host"


def test_carry_routing_state_reads_a_managed_virtual_service_with_qualified_destinations():
    current = host_mode_spec()
    desired = istio.build_virtual_service("test", "podinfo")["spec"]
    carried = istio.carry_routing_state(current, desired, HOST)
    assert istio.read_state(carried, HOST)["weights"] == {"primary": 70, "canary": 30}
