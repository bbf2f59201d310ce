"""canary_route against the lab's real API server."""

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils.k8s import strip_object
from ansible_collections.progressive.delivery.plugins.modules import canary_init, canary_route

from tests.modules.cluster.harness import podinfo_deployment, run_module, seed, snapshot, validate_object

VS = ("networking.istio.io/v1beta1", "VirtualService")


@pytest.fixture
def initialised(lab):
    seed(lab, podinfo_deployment())
    result = run_module(canary_init, lab, dict(target="podinfo", wait_timeout=30))
    assert not result.get("failed"), result
    return lab


def route(lab, check=False, **kwargs):
    args = dict(target="podinfo")
    args.update(kwargs)
    return run_module(canary_route, lab, args, check=check)


def stored_vs(lab, name="podinfo"):
    return lab.store.get(VS[0], VS[1], lab.namespace, name)


def test_weight_check_mode_diff_and_idempotency(initialised):
    lab = initialised
    before = snapshot(lab)
    predicted = route(lab, check=True, weight=20)
    assert not predicted.get("failed"), predicted
    assert snapshot(lab) == before
    real = route(lab, weight=20)
    for key in ("changed", "weights", "previous_weights", "virtual_service", "diff", "objects", "match", "mirror"):
        assert predicted[key] == real[key], key
    assert real["changed"] is True
    assert real["weights"] == {"primary": 80, "canary": 20}
    assert real["previous_weights"] == {"primary": 100, "canary": 0}
    assert real["diff"]["before"]["VirtualService/podinfo"]["spec"]["http"][0]["route"][1]["weight"] == 0
    assert real["diff"]["after"]["VirtualService/podinfo"]["spec"]["http"][0]["route"][1]["weight"] == 20
    assert real["virtual_service"]["spec"] == strip_object(stored_vs(lab))["spec"]
    validate_object(stored_vs(lab))

    rv = stored_vs(lab)["metadata"]["resourceVersion"]
    again = route(lab, weight=20)
    assert again["changed"] is False and again["weights"] == {"primary": 80, "canary": 20}
    assert again["previous_weights"] == again["weights"]
    assert stored_vs(lab)["metadata"]["resourceVersion"] == rv


def test_ab_match_then_mirror_then_back(initialised):
    lab = initialised
    match = [{"headers": {"x-canary": {"exact": "insider"}}}, {"headers": {"cookie": {"regex": r"^(.*?;\s*)?(canary=always)(;.*)?$"}}},
             {"sourceLabels": {"app": "frontend"}}, {"headers": {"user-agent": {"suffix": "Mobile"}}}]
    ab = route(lab, weight=0, match=match)
    assert not ab.get("failed"), ab
    http = stored_vs(lab)["spec"]["http"]
    assert [r["name"] for r in http] == ["podinfo-canary-match", "podinfo"]
    assert http[0]["match"][:3] == match[:3]
    assert http[0]["match"][3] == {"headers": {"user-agent": {"regex": ".*Mobile"}}}
    assert http[0]["route"][1] == {"destination": {"host": "podinfo-canary"}, "weight": 100}
    validate_object(stored_vs(lab))
    assert route(lab, weight=0, match=match)["changed"] is False

    # weight omitted: the split is kept, the match replaced by a mirror
    mirrored = route(lab, mirror=True, mirror_weight=50)
    assert not mirrored.get("failed"), mirrored
    http = stored_vs(lab)["spec"]["http"]
    assert [r["name"] for r in http] == ["podinfo"]
    assert http[0]["mirror"] == {"host": "podinfo-canary"} and http[0]["mirrorPercentage"] == {"value": 50.0}
    assert mirrored["mirror"] is True and mirrored["match"] is None
    validate_object(stored_vs(lab))

    plain = route(lab, weight=0)
    assert plain["changed"] is True and "mirror" not in stored_vs(lab)["spec"]["http"][0]


def test_other_routes_and_fields_stay_untouched(initialised):
    lab = initialised
    vs = stored_vs(lab)
    vs["spec"]["http"].insert(0, {"name": "static", "match": [{"uri": {"prefix": "/static"}}],
                                  "route": [{"destination": {"host": "podinfo-primary"}}]})
    vs["spec"]["tcp"] = [{"match": [{"port": 6379}], "route": [{"destination": {"host": "redis"}}]}]
    vs["spec"]["exportTo"] = ["."]
    lab.store.update(vs)
    result = route(lab, weight=35, match=[{"headers": {"x-canary": {"exact": "1"}}}])
    assert not result.get("failed"), result
    spec = stored_vs(lab)["spec"]
    assert [r["name"] for r in spec["http"]] == ["static", "podinfo-canary-match", "podinfo"]
    assert spec["http"][0] == vs["spec"]["http"][0]
    assert spec["tcp"] == vs["spec"]["tcp"] and spec["exportTo"] == ["."]
    assert result["weights"] == {"primary": 65, "canary": 35}
    validate_object(stored_vs(lab))


def seed_subset_mode(lab):
    """Seed 001's setup: one Service `backend`, DestinationRule subsets v1/v2, a hand-written VirtualService."""
    seed(lab,
         podinfo_deployment("backend-v2"),
         {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "backend"},
          "spec": {"selector": {"app": "backend"}, "ports": [{"name": "http", "port": 80, "targetPort": 9898}]}},
         {"apiVersion": "networking.istio.io/v1beta1", "kind": "DestinationRule", "metadata": {"name": "backend"},
          "spec": {"host": "backend", "subsets": [{"name": "v1", "labels": {"version": "v1"}}, {"name": "v2", "labels": {"version": "v2"}}]}},
         {"apiVersion": VS[0], "kind": "VirtualService", "metadata": {"name": "backend"},
          "spec": {"hosts": ["backend"], "http": [
              {"match": [{"headers": {"canary": {"exact": "yes"}}}], "route": [{"destination": {"host": "backend", "subset": "v2"}}]},
              {"route": [{"destination": {"host": "backend", "subset": "v1"}, "weight": 100},
                         {"destination": {"host": "backend", "subset": "v2"}, "weight": 0}]}]}})


SUBSET_ARGS = dict(target="backend-v2", service_name="backend", mode="subset", primary_subset="v1", canary_subset="v2")


def test_subset_mode_on_a_hand_written_virtual_service(lab):
    seed_subset_mode(lab)
    original = stored_vs(lab, "backend")
    predicted = route(lab, check=True, weight=10, **SUBSET_ARGS)
    assert stored_vs(lab, "backend") == original
    result = route(lab, weight=10, **SUBSET_ARGS)
    assert not result.get("failed"), result
    assert predicted["virtual_service"] == result["virtual_service"] and predicted["diff"] == result["diff"]
    spec = stored_vs(lab, "backend")["spec"]
    assert spec["http"][0] == original["spec"]["http"][0]
    assert spec["http"][1]["route"] == [{"destination": {"host": "backend", "subset": "v1"}, "weight": 90},
                                        {"destination": {"host": "backend", "subset": "v2"}, "weight": 10}]
    validate_object(stored_vs(lab, "backend"))
    assert route(lab, weight=10, **SUBSET_ARGS)["changed"] is False


def test_subset_mode_rollback_clears_match_and_split(lab):
    from ansible_collections.progressive.delivery.plugins.modules import canary_rollback

    seed_subset_mode(lab)
    assert not route(lab, weight=30, **SUBSET_ARGS).get("failed")
    assert not route(lab, weight=0, match=[{"headers": {"x-user": {"prefix": "beta-"}}}], **SUBSET_ARGS).get("failed")
    spec = stored_vs(lab, "backend")["spec"]
    assert [r.get("name") for r in spec["http"]] == [None, "backend-canary-match", None]
    args = dict(reason="manual abort", scale_down_delay=0, **SUBSET_ARGS)
    result = run_module(canary_rollback, lab, args)
    assert not result.get("failed"), result
    spec = stored_vs(lab, "backend")["spec"]
    assert [r.get("name") for r in spec["http"]] == [None, None]
    assert spec["http"][1]["route"] == [{"destination": {"host": "backend", "subset": "v1"}, "weight": 100},
                                        {"destination": {"host": "backend", "subset": "v2"}, "weight": 0}]
    assert lab.store.get("apps/v1", "Deployment", lab.namespace, "backend-v2")["spec"]["replicas"] == 0
    assert run_module(canary_rollback, lab, args)["changed"] is False


def test_no_diff_without_diff_mode(initialised):
    result = run_module(canary_route, initialised, dict(target="podinfo", weight=5), diff=False)
    assert result["changed"] is True and "diff" not in result


def fqdn(lab, name):
    return "%s.%s.svc.cluster.local" % (name, lab.namespace)


def seed_fqdn_subset_mode(lab):
    """Seed 001 as written there: FQDN host and destinations with port 80, `match: [{}]` on the split,
    a header route for testers, DestinationRule subsets v1/v2."""
    def destination(subset, weight):
        return {"destination": {"host": fqdn(lab, "backend"), "subset": subset, "port": {"number": 80}}, "weight": weight}
    seed(lab,
         podinfo_deployment("backend-v2"),
         {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "backend"},
          "spec": {"selector": {"app": "backend"}, "ports": [{"name": "http", "port": 80, "targetPort": 9898}]}},
         {"apiVersion": "networking.istio.io/v1beta1", "kind": "DestinationRule", "metadata": {"name": "backend"},
          "spec": {"host": fqdn(lab, "backend"), "subsets": [{"name": "v1", "labels": {"version": "v1"}}, {"name": "v2", "labels": {"version": "v2"}}]}},
         {"apiVersion": VS[0], "kind": "VirtualService", "metadata": {"name": "backend"},
          "spec": {"gateways": [], "hosts": [fqdn(lab, "backend")], "http": [
              {"match": [{"headers": {"canary": {"exact": "canary-tester"}}}], "route": [destination("v2", 100)]},
              {"match": [{}], "route": [destination("v1", 90), destination("v2", 10)]}]}})


def test_subset_mode_with_fully_qualified_destinations(lab):
    seed_fqdn_subset_mode(lab)
    original = stored_vs(lab, "backend")
    result = route(lab, weight=20, **SUBSET_ARGS)  # destination_host defaults to `backend`
    assert not result.get("failed"), result
    assert result["previous_weights"] == {"primary": 90, "canary": 10} and result["weights"] == {"primary": 80, "canary": 20}
    spec = stored_vs(lab, "backend")["spec"]
    assert spec["http"][0] == original["spec"]["http"][0]
    assert spec["http"][1]["route"] == [
        {"destination": {"host": fqdn(lab, "backend"), "subset": "v1", "port": {"number": 80}}, "weight": 80},
        {"destination": {"host": fqdn(lab, "backend"), "subset": "v2", "port": {"number": 80}}, "weight": 20}]
    validate_object(stored_vs(lab, "backend"))
    assert route(lab, weight=20, **SUBSET_ARGS)["changed"] is False

    ab = route(lab, weight=0, match=[{"headers": {"x-beta": {"exact": "on"}}}], **SUBSET_ARGS)
    assert not ab.get("failed"), ab
    spec = stored_vs(lab, "backend")["spec"]
    assert [r.get("name") for r in spec["http"]] == [None, "backend-canary-match", None]
    assert spec["http"][1]["match"] == [{"headers": {"x-beta": {"exact": "on"}}}]  # `{}` (any request) AND x-beta
    assert spec["http"][1]["route"] == [
        {"destination": {"host": fqdn(lab, "backend"), "subset": "v1", "port": {"number": 80}}, "weight": 0},
        {"destination": {"host": fqdn(lab, "backend"), "subset": "v2", "port": {"number": 80}}, "weight": 100}]
    validate_object(stored_vs(lab, "backend"))

    from ansible_collections.progressive.delivery.plugins.modules import canary_rollback
    rolled_back = run_module(canary_rollback, lab, dict(reason="manual abort", **SUBSET_ARGS))
    assert not rolled_back.get("failed"), rolled_back
    spec = stored_vs(lab, "backend")["spec"]
    assert spec["http"][0] == original["spec"]["http"][0] and len(spec["http"]) == 2
    assert [entry["weight"] for entry in spec["http"][1]["route"]] == [100, 0]
    assert spec["http"][1]["route"][0]["destination"]["host"] == fqdn(lab, "backend")


def test_host_mode_on_a_virtual_service_with_qualified_destinations(initialised):
    lab = initialised
    vs = stored_vs(lab)
    for entry in vs["spec"]["http"][0]["route"]:
        entry["destination"]["host"] = fqdn(lab, entry["destination"]["host"])
    lab.store.update(vs)
    result = route(lab, weight=25)
    assert not result.get("failed"), result
    assert result["weights"] == {"primary": 75, "canary": 25}
    assert [entry["destination"]["host"] for entry in stored_vs(lab)["spec"]["http"][0]["route"]] == [
        fqdn(lab, "podinfo-primary"), fqdn(lab, "podinfo-canary")]
    rerun = run_module(canary_init, lab, dict(target="podinfo", wait_timeout=30))
    assert not rerun.get("failed"), rerun
    assert route(lab)["weights"] == {"primary": 75, "canary": 25}, "canary_init kept the split it read"


def test_ab_match_keeps_the_weighted_routes_conditions_or_fails_writing_nothing(initialised):
    lab = initialised
    vs = stored_vs(lab)
    vs["spec"]["http"][0]["match"] = [{"uri": {"prefix": "/api"}}, {"headers": {"x-api": {"exact": "1"}}}]
    lab.store.update(vs)
    result = route(lab, weight=0, match=[{"headers": {"x-beta": {"exact": "on"}}}])
    assert not result.get("failed"), result
    assert result["match"] == [{"uri": {"prefix": "/api"}, "headers": {"x-beta": {"exact": "on"}}},
                               {"headers": {"x-api": {"exact": "1"}, "x-beta": {"exact": "on"}}}]
    assert stored_vs(lab)["spec"]["http"][0]["match"] == result["match"]
    validate_object(stored_vs(lab))
    assert route(lab, weight=0, match=[{"headers": {"x-beta": {"exact": "on"}}}])["changed"] is False

    before = snapshot(lab)
    for match, words in (([{"uri": {"exact": "/v2"}, "headers": {"x-api": {"exact": "2"}}}], "no request can match"),
                         ([{"uri": {"regex": "/api/v[0-9]+"}}], "cannot combine")):
        failed = route(lab, weight=0, match=match)
        assert failed.get("failed") and words in failed["msg"] and failed.get("field") == "match", failed
        assert "the weighted route 'podinfo' match[0]" in failed["msg"], failed["msg"]
        assert snapshot(lab) == before
