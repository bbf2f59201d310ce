import copy
import json

from ansible_collections.progressive.delivery.plugins.module_utils.routing import istio
from ansible_collections.progressive.delivery.plugins.module_utils.routing.services import build_services
from ansible_collections.progressive.delivery.plugins.module_utils._names import target_labels
from ansible_collections.progressive.delivery.plugins.module_utils.workload import finalize
from ansible_collections.progressive.delivery.plugins.module_utils.workload import primary as wl

USER_SPEC = {"hosts": ["podinfo"], "http": [{"route": [{"destination": {"host": "podinfo"}}], "timeout": "5s"}]}
PORT = {"name": "http", "port": 9898, "targetPort": 9898}


def target(replicas=0):
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "podinfo", "namespace": "test", "labels": {"app": "podinfo"}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "podinfo"}},
                 "template": {"metadata": {"labels": {"app": "podinfo"}}, "spec": {"containers": [{"name": "c", "image": "i:1"}]}}},
    }


def primary(replicas=3):
    result = wl.build_primary_deployment(target(replicas), {})
    result["spec"]["replicas"] = replicas
    return result


def adopted_route():
    user = {"apiVersion": istio.API_VERSION, "kind": "VirtualService",
            "metadata": {"name": "podinfo", "namespace": "test", "labels": {"team": "a"}}, "spec": copy.deepcopy(USER_SPEC)}
    desired = istio.build_virtual_service("test", "podinfo")
    adopted = istio.adopt_virtual_service(user, desired)
    adopted["metadata"]["labels"] = dict(user["metadata"]["labels"], **adopted["metadata"]["labels"])
    return adopted


def services():
    return build_services("test", "podinfo", wl.primary_selector(target()), wl.canary_selector(target()), PORT)


def owned():
    apex, primary_svc, canary_svc = services()
    return [primary_svc, canary_svc, istio.build_destination_rule("test", "podinfo-primary", None), None, primary()]


def test_after_a_promotion_the_plan_scales_restores_selects_then_deletes_in_that_order():
    route = adopted_route()
    steps = finalize.plan(target(0), primary=primary(3), route=route, original_spec=istio.original_spec(route),
                          annotation=istio.ORIGINAL_SPEC_ANNOTATION, apex_service=services()[0],
                          target_selector=wl.canary_selector(target()), owned=owned())
    assert [(s["action"], s["kind"], s["name"]) for s in steps] == [
        ("scale", "Deployment", "podinfo"),
        ("restore", "VirtualService", "podinfo"),
        ("select", "Service", "podinfo"),
        ("delete", "Service", "podinfo-primary"),
        ("delete", "Service", "podinfo-canary"),
        ("delete", "DestinationRule", "podinfo-primary"),
        ("delete", "Deployment", "podinfo-primary"),
    ]
    assert steps[0]["replicas"] == 3 and steps[0]["previous_replicas"] == 0
    restored = steps[1]["new"]
    assert restored["spec"] == USER_SPEC
    assert restored["metadata"]["labels"] == {"team": "a"}, "the collection's label goes, the user's stays"
    assert "annotations" not in restored["metadata"]
    assert steps[2]["new"]["spec"]["selector"] == {"app": "podinfo"}
    assert steps[2]["object"]["spec"]["selector"] == {"app": "podinfo-primary"}, "the object as read is not changed"
    lines = finalize.summary(steps)
    assert lines[0] == "scale Deployment/podinfo from 0 to 3 replicas (the primary's)"
    assert lines[-1] == "delete Deployment/podinfo-primary"


def test_a_route_the_collection_created_is_deleted_not_restored():
    route = istio.build_virtual_service("test", "podinfo")
    steps = finalize.plan(target(0), primary=primary(1), route=route, original_spec=None, apex_service=None, owned=[])
    assert [(s["action"], s["kind"]) for s in steps] == [("scale", "Deployment"), ("delete", "VirtualService")]


def test_a_user_route_never_adopted_and_user_objects_are_left_alone():
    user_route = {"apiVersion": istio.API_VERSION, "kind": "VirtualService", "metadata": {"name": "podinfo", "namespace": "test"},
                  "spec": USER_SPEC}
    user_service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "podinfo-canary", "namespace": "test"},
                    "spec": {"selector": {"app": "x"}}}
    user_primary = dict(primary(2), metadata={"name": "podinfo-primary", "namespace": "test"})
    steps = finalize.plan(target(0), primary=user_primary, route=user_route, apex_service=dict(user_service, metadata={"name": "podinfo"}),
                          target_selector={"app": "podinfo"}, owned=[user_service, user_primary])
    assert steps == [], "nothing the collection did not create is scaled from, restored, selected or deleted"


def test_second_finalize_plans_nothing():
    route = adopted_route()
    first = finalize.plan(target(0), primary=primary(3), route=route, original_spec=istio.original_spec(route),
                          annotation=istio.ORIGINAL_SPEC_ANNOTATION, apex_service=services()[0],
                          target_selector={"app": "podinfo"}, owned=owned())
    restored = next(s["new"] for s in first if s["action"] == "restore")
    selected = next(s["new"] for s in first if s["action"] == "select")
    # Once done: the target at 3, the route restored (no saved spec left), the apex selecting the target, the rest gone.
    again = finalize.plan(target(3), primary=None, route=restored, original_spec=istio.original_spec(restored),
                          annotation=istio.ORIGINAL_SPEC_ANNOTATION, apex_service=selected, target_selector={"app": "podinfo"},
                          owned=[None, None, None])
    assert again == []


def test_status_and_lock_are_deleted_last_and_a_target_already_scaled_is_not_scaled():
    status = {"apiVersion": "v1", "kind": "ConfigMap",
              "metadata": {"name": "podinfo-canary-status", "namespace": "test", "labels": target_labels("podinfo")}}
    steps = finalize.plan(target(3), primary=primary(3), route=None, owned=[primary(3), status])
    assert [(s["action"], s["name"]) for s in steps] == [("delete", "podinfo-primary"), ("delete", "podinfo-canary-status")]


def test_primary_replicas_is_at_least_one():
    assert finalize.primary_replicas(primary(0)) == 1
    assert finalize.primary_replicas(primary(4)) == 4


def test_restored_route_keeps_other_metadata():
    route = adopted_route()
    route["metadata"]["annotations"]["note"] = "kept"
    new = finalize.restored_route(route, json.loads(json.dumps(USER_SPEC)), istio.ORIGINAL_SPEC_ANNOTATION)
    assert new["metadata"]["annotations"] == {"note": "kept"}
    assert istio.ORIGINAL_SPEC_ANNOTATION in route["metadata"]["annotations"], "the input is not changed"
