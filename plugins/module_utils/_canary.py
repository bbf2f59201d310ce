# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The four cluster operations (init, route, promote, rollback) behind the modules of those names.

Each ``run_*`` takes a CanaryModule, reads what it needs, validates everything before the first
write, then writes object by object through ``Cluster.write`` (which only predicts in check mode).

Promote and rollback switch traffic in this order: route to the primary, wait until the mesh
serves that route (``_drain``), only then scale the canary down; the canary's pods never go away
while a proxy may still send them requests.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import time

from ansible_collections.progressive.delivery.plugins.module_utils._errors import CanaryError
from ansible_collections.progressive.delivery.plugins.module_utils.k8s import Changes, ClusterError, RolloutInterrupted, overlay, strip_object
from ansible_collections.progressive.delivery.plugins.module_utils._names import apex_name, is_managed, primary_name, status_name
from ansible_collections.progressive.delivery.plugins.module_utils import _options as options
from ansible_collections.progressive.delivery.plugins.module_utils.routing import get_router
from ansible_collections.progressive.delivery.plugins.module_utils.routing import drift as route_drift
from ansible_collections.progressive.delivery.plugins.module_utils.routing.services import build_services, service_port
from ansible_collections.progressive.delivery.plugins.module_utils.state import status as rollout_status
from ansible_collections.progressive.delivery.plugins.module_utils.state import watch
from ansible_collections.progressive.delivery.plugins.module_utils.analysis import checks as metric_checks
from ansible_collections.progressive.delivery.plugins.module_utils.analysis import fast_abort
from ansible_collections.progressive.delivery.plugins.module_utils.analysis.prometheus import PrometheusClient, PrometheusError
from ansible_collections.progressive.delivery.plugins.module_utils.workload import config as configs
from ansible_collections.progressive.delivery.plugins.module_utils.workload import primary as workload

DEPLOYMENT = ("apps/v1", "Deployment")
HPA = ("autoscaling/v2", "HorizontalPodAutoscaler")

# Seconds the canary keeps its pods after the route switch (Argo Rollouts' scaleDownDelaySeconds
# default): far above istiod's push debounce (at most 10 s by default) plus the push to every sidecar.
SCALE_DOWN_DELAY = 30
# Scaling the target takes its replica count over from whoever wrote it meanwhile (its HPA, the user):
# a 409 caused by their change of spec.replicas alone is sent again.
REPLICAS = ("spec.replicas",)

_REDACTED = "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"


def _get_target(cluster, namespace, name):
    cluster.require_namespace(namespace)
    target = cluster.get(DEPLOYMENT[0], DEPLOYMENT[1], namespace, name)
    if target is None:
        raise CanaryError("Deployment %s/%s (target) not found; check target and namespace, or create the Deployment first"
                          % (namespace, name), field="target")
    return target


def _redact(obj):
    if obj and obj.get("kind") == "Secret":
        obj = copy.deepcopy(obj)
        for key in ("data", "stringData"):
            if obj.get(key):
                obj[key] = dict((name, _REDACTED) for name in obj[key])
    return obj


class _Changes(Changes):
    def record(self, obj, action, before=None, after=None):
        super(_Changes, self).record(obj, action, _redact(before), _redact(after))


def _finish(module, changes, result):
    result["changed"] = changes.changed
    result["objects"] = changes.objects
    if module.diff_mode:
        result["diff"] = changes.diff()
    return result


# ---------------------------------------------------------------------------------------------
# Config tracking (init and promote)


def _tracked_configs(cluster, target, enabled):
    """The target's tracked ConfigMaps/Secrets (objects as read) and the renames for the primary."""
    if not enabled:
        return [], {}
    namespace = target["metadata"]["namespace"]
    pod_spec = ((target.get("spec") or {}).get("template") or {}).get("spec") or {}
    return configs.tracked_objects(pod_spec, lambda kind, name: cluster.get("v1", kind, namespace, name),
                                   owner="Deployment %s/%s" % (namespace, target["metadata"]["name"]), namespace=namespace)


def _write_config_copies(cluster, tracked, changes):
    for obj in tracked:
        desired = configs.build_primary_config(obj)
        existing = cluster.get("v1", obj["kind"], obj["metadata"]["namespace"], desired["metadata"]["name"])
        new = desired if existing is None else overlay(existing, desired, replace=("data", "binaryData", "stringData"))
        if existing is not None:
            for key in ("data", "binaryData"):
                if key not in desired:
                    new.pop(key, None)
        cluster.write(existing, new, changes)


# ---------------------------------------------------------------------------------------------
# canary_init


def _primary_of(params):
    """The primary Deployment's name: the user's stable one in mode=subset, else ``<target>-primary``."""
    return params.get("primary_deployment") or primary_name(params["target"])


def _get_primary(cluster, params, field, hint=""):
    name = _primary_of(params)
    primary = cluster.get(DEPLOYMENT[0], DEPLOYMENT[1], params["namespace"], name)
    if primary is None:
        if params.get("primary_deployment"):
            raise CanaryError("Deployment %s/%s (primary_deployment, the stable subset's) not found; create it or fix primary_deployment"
                              % (params["namespace"], name), field="primary_deployment")
        raise CanaryError("Deployment %s/%s (the primary) not found: run progressive.delivery.canary_init first%s"
                          % (params["namespace"], name, hint), field=field)
    return primary


def _init_subset(module):
    """canary_init in mode=subset: nothing is created. The user's VirtualService, DestinationRule (both subsets) and
    stable Deployment must exist; all traffic goes to the primary subset, and a target that runs the promoted
    revision (or nothing newer) is scaled to 0, as in host mode."""
    params = module.params
    cluster = module.cluster
    changes = _Changes()
    target = _get_target(cluster, params["namespace"], params["target"])
    workload.app_label(target)
    stable = _get_primary(cluster, params, "primary_deployment")
    checksum = configs.config_checksum(_tracked_configs(cluster, target, params.get("config_tracking", True))[0])
    router = get_router(cluster, params)
    # Both subsets must exist before the first write: the route is checked against the DestinationRule.
    router.write_routes(router.read(), router.weights_for(0), None, False, None, changes, roles=("primary", "canary"))
    promoted = workload.promoted_hash(stable) or "stable-" + workload.pod_template_hash((stable.get("spec") or {}).get("template"))
    if promoted == workload.target_hash(target, checksum):
        _scale_to_zero(cluster, target, changes)
    return _finish(module, changes, {
        "primary": stable["metadata"]["name"],
        "virtual_service": apex_name(params),
        "pod_template_hash": promoted,
    })


def run_init(module):
    params = module.params
    options.validate_init(params)
    if params.get("mode") == "subset":
        return _init_subset(module)
    cluster = module.cluster
    namespace, apex = params["namespace"], apex_name(params)
    changes = _Changes()

    # Read and validate everything before the first write.
    target = _get_target(cluster, namespace, params["target"])
    workload.app_label(target)
    port = params.get("port") or workload.first_container_port(target)
    port_spec = service_port(port, params.get("port_name") or "http", params.get("target_port"))
    hpa = None
    if params.get("hpa"):
        hpa = cluster.get(HPA[0], HPA[1], namespace, params["hpa"])
        if hpa is None:
            raise CanaryError("HorizontalPodAutoscaler %s/%s (hpa) not found; fix hpa or omit it" % (namespace, params["hpa"]), field="hpa")
        workload.check_hpa_targets(hpa, params["target"])
    tracked, renames = _tracked_configs(cluster, target, params.get("config_tracking", True))
    checksum = configs.config_checksum(tracked)
    router = get_router(cluster, dict(params, port=port_spec["port"]))
    router.prepare_init()
    existing_primary = cluster.get(DEPLOYMENT[0], DEPLOYMENT[1], namespace, primary_name(params["target"]))
    if existing_primary is not None and not is_managed(existing_primary):
        raise CanaryError("Deployment %s/%s exists and was not created by progressive.delivery; rename or delete it, since the primary "
                          "of %s must have that name" % (namespace, primary_name(params["target"]), params["target"]), field="target")

    # Primary workload: created once; later template changes are promote's job.
    if existing_primary is None:
        _write_config_copies(cluster, tracked, changes)
        primary = cluster.write(None, workload.build_primary_deployment(target, renames, checksum), changes)
    else:
        primary = existing_primary
        changes.record(primary, "unchanged")
    if hpa is not None:
        desired_hpa = workload.build_primary_hpa(hpa, primary["metadata"]["name"])
        existing_hpa = cluster.get(HPA[0], HPA[1], namespace, desired_hpa["metadata"]["name"])
        cluster.write(existing_hpa, desired_hpa if existing_hpa is None else overlay(existing_hpa, desired_hpa, replace=("spec",)), changes)

    if not module.check_mode:
        done, message, primary_now = cluster.wait_ready(DEPLOYMENT[0], DEPLOYMENT[1], namespace, primary["metadata"]["name"],
                                                        params.get("wait_timeout", 300))
        if not done:
            module.fail("the primary did not become ready within wait_timeout=%ss: %s; the Services, DestinationRules and "
                        "VirtualService were not touched and the target still runs" % (params.get("wait_timeout"), message),
                        objects=changes.objects, primary=workload.status_summary(primary_now or primary))

    for desired in build_services(namespace, apex, workload.primary_selector(target), workload.canary_selector(target), port_spec):
        existing = cluster.get("v1", "Service", namespace, desired["metadata"]["name"])
        cluster.write(existing, desired if existing is None else overlay(existing, desired, replace=("spec.selector", "spec.ports")), changes)
    for existing, desired in router.owned_objects():
        cluster.write(existing, desired, changes)
    # A target running a newer revision than the primary is a canary under analysis: leave it running.
    if workload.promoted_hash(primary) in (None, workload.target_hash(target, checksum)):
        _scale_to_zero(cluster, target, changes)

    return _finish(module, changes, {
        "primary": primary["metadata"]["name"],
        "virtual_service": apex,
        "pod_template_hash": workload.promoted_hash(primary) or workload.target_hash(target, checksum),
    })


def _scale_to_zero(cluster, target, changes):
    # spec.replicas only: nothing on the target's metadata, which its Git source would show as drift (Argo CD, Flux).
    return cluster.write(target, overlay(target, {"spec": {"replicas": 0}}), changes, claimed=REPLICAS)


def run_scale(module):
    """canary_scale: the target's replicas during an analysis (the primary's count by default)."""
    params = module.params
    cluster = module.cluster
    changes = _Changes()
    namespace = params["namespace"]
    target = _get_target(cluster, namespace, params["target"])
    replicas = params.get("replicas")
    if replicas is None:
        primary = _get_primary(cluster, params, "replicas", hint=", or give replicas")
        replicas = max(int((primary.get("spec") or {}).get("replicas") or 1), 1)
    elif replicas < 0:
        raise CanaryError("replicas must be 0 or more, got %d" % replicas, field="replicas")
    before = (target.get("spec") or {}).get("replicas")
    cluster.write(target, overlay(target, {"spec": {"replicas": replicas}}), changes, claimed=REPLICAS)
    return _finish(module, changes, {"replicas": replicas, "previous_replicas": before})


# ---------------------------------------------------------------------------------------------
# The switch of promote and rollback: route, drain, scale down


def _replicas(deployment):
    return ((deployment or {}).get("spec") or {}).get("replicas") or 0


def _validate_scale_down_delay(params):
    delay = params.get("scale_down_delay")
    if delay is not None and delay < 0:
        raise CanaryError("scale_down_delay must be 0 or more seconds, got %s" % delay, field="scale_down_delay")


def _drain(module, router, delay, read_status=True):
    """Wait until the mesh serves the VirtualService as it is now; return ``(seconds, reconciled)``.

    Kubernetes cannot say when every proxy serves a route. When the VirtualService carries Istio's
    distribution status, the wait ends once it reports the current generation reconciled
    (``reconciled`` True); otherwise the canary simply keeps its pods for ``delay`` seconds
    (Flagger's Finalising phase, Argo Rollouts' scaleDownDelaySeconds) and ``reconciled`` is None,
    or False when Istio still reported the route propagating at the end. Never longer than
    ``delay``; nothing is waited in check mode or with ``delay`` 0.
    """
    if module.check_mode or not delay:
        return 0.0, None
    started = time.monotonic()
    deadline = started + delay
    generation, reconciled, message = None, None, None
    while True:
        if read_status:
            vs = router.get()
            if generation is None:
                generation = ((vs or {}).get("metadata") or {}).get("generation")
            reconciled, message = router.distribution(vs, generation)
        remaining = deadline - time.monotonic()
        if reconciled or remaining <= 0:
            break
        # Without a status to follow there is nothing to poll: keep the pods for the whole delay.
        time.sleep(remaining if reconciled is None else min(router.cluster.poll_interval, remaining))
    if reconciled is False:
        module.module.warn("%s after scale_down_delay=%ss; the target was scaled down anyway" % (message, delay))
    return round(time.monotonic() - started, 3), reconciled


def _drain_and_scale_down(module, router, target, changes, read_status=True):
    """Scale ``target`` to 0 once the route that took its traffic away is served; ``(scaled_down, seconds, reconciled)``.

    Waits only when there are pods to remove, so a second call with nothing to change neither
    writes nor waits. The route may have been switched by this call or just before it (the last
    step of a step-wise promotion), so the wait does not depend on who switched it.
    """
    params = module.params
    seconds, reconciled = 0.0, None
    if _replicas(target):
        seconds, reconciled = _drain(module, router, params["scale_down_delay"], read_status)
        if seconds:
            # Read again after the wait: an autoscaler or a user may have changed the target meanwhile.
            target = _get_target(router.cluster, params["namespace"], params["target"])
    scaled_down = bool(_replicas(target))
    _scale_to_zero(router.cluster, target, changes)
    return scaled_down, seconds, reconciled


# ---------------------------------------------------------------------------------------------
# canary_route and the routing part of promote / rollback


def route_to_primary(module):
    """All traffic to the primary, A/B route and mirror removed: the first half of a rollback, alone.

    Returns the weights before. Used where an abort must take effect before anything else runs.
    """
    router = get_router(module.cluster, module.params)
    previous, _obj = router.write_routes(router.read(), router.weights_for(0), None, False, None, _Changes(), roles=("primary",))
    return previous["weights"]


def _refuse_increase_on_request(cluster, params, current, weight):
    """A run under the lock never raises the canary's weight once an operator asked it to stop."""
    status = rollout_status.decode(cluster.get("v1", "ConfigMap", params["namespace"], status_name(params["target"])))
    request = status.get("requested")
    if request:
        raise RolloutInterrupted("canary weight of %s.%s not raised from %s to %s: %s was requested by %s"
                                 % (params["target"], params["namespace"], current, weight, request,
                                    (status.get("run") or {}).get("requested_by") or "an operator"), request, status.get("run"))


def run_route(module):
    params = module.params
    options.validate_route(params)
    cluster = module.cluster
    changes = _Changes()
    router = get_router(cluster, params)
    match = router.normalise_match(params.get("match"))
    mirror_match = router.normalise_match(params.get("mirror_match"), field="mirror_match")
    if params.get("weight") is not None:
        router.validate_weight(params["weight"])
    target = _get_target(cluster, params["namespace"], params["target"])
    # The affinity cookie's value follows the canary's revision (see istio.session_cookie_value).
    session_affinity = router.session_affinity(params.get("session_affinity"), workload.target_hash(target))
    obj = router.read()
    current = router.get_routes(obj)
    weight = params["weight"] if params.get("weight") is not None else current["weights"]["canary"]
    router.validate_weight(weight)
    router.validate_mirror(weight, params.get("mirror"), params.get("mirror_weight"), mirror_match)
    if params.get("fence") and weight > current["weights"]["canary"]:
        _refuse_increase_on_request(cluster, params, current["weights"]["canary"], weight)
    router.check_destinations()
    previous, result = router.write_routes(obj, router.weights_for(weight), match, params.get("mirror"), params.get("mirror_weight"),
                                           changes, roles=(), mirror_match=mirror_match, session_affinity=session_affinity)
    state = router.get_routes(result)
    return _finish(module, changes, {
        "weights": state["weights"],
        "previous_weights": previous["weights"],
        "match": state["match"],
        "mirror": state["mirror"],
        "mirror_match": state["mirror_match"],
        "session_affinity": state["session_affinity"],
        "virtual_service": strip_object(result),
    })


def run_route_info(module):
    """canary_route_info: the routing state as it is, read through the router (nothing is written)."""
    params = module.params
    options.validate_route_info(params)
    router = get_router(module.cluster, params)
    obj = router.read()
    state = router.get_routes(obj)
    return {
        "changed": False,
        "router": router.name,
        "route_object": {"apiVersion": obj.get("apiVersion"), "kind": obj.get("kind"), "name": obj["metadata"]["name"]},
        "weights": state["weights"],
        "match": state["match"],
        "mirror": state["mirror"],
        "mirror_weight": state["mirror_weight"],
        "mirror_match": state["mirror_match"],
        "session_affinity": state["session_affinity"],
        "destinations": router.describe_routes(state),
    }


# ---------------------------------------------------------------------------------------------
# canary_promote


def _promotion_phase(params):
    """Flagger's phase after this call: Promoting (traffic not moved), Finalising (canary still up), Succeeded."""
    if not params.get("route"):
        return "Promoting"
    return "Succeeded" if params.get("scale_down") else "Finalising"


def run_promote(module):
    params = module.params
    options.validate_promote(params)
    cluster = module.cluster
    namespace = params["namespace"]
    changes = _Changes()
    router = get_router(cluster, params)
    _validate_scale_down_delay(params)
    target = _get_target(cluster, namespace, params["target"])
    workload.app_label(target)
    primary = _get_primary(cluster, params, "target")
    if params.get("route"):
        # Fail on a missing VirtualService or managed route before the primary is touched.
        router.get_routes(router.read())
    tracked, renames = _tracked_configs(cluster, target, params.get("config_tracking", True))
    checksum = configs.config_checksum(tracked)
    current_hash = workload.target_hash(target, checksum)
    if params.get("expected_hash") and params["expected_hash"] != current_hash:
        raise CanaryError("Deployment %s/%s changed after its analysis: its pod template (with the tracked configs) now has hash %s, "
                          "the analysed revision has expected_hash=%s; nothing was promoted or written. Run the analysis of the new "
                          "revision and promote that one" % (namespace, params["target"], current_hash, params["expected_hash"]),
                          field="expected_hash")

    _write_config_copies(cluster, tracked, changes)
    promoted = workload.promoted_stable if params.get("primary_deployment") else workload.promoted_deployment
    primary = cluster.write(primary, promoted(primary, target, renames, checksum), changes)
    if not module.check_mode:
        done, message, primary = cluster.wait_ready(DEPLOYMENT[0], DEPLOYMENT[1], namespace, primary["metadata"]["name"],
                                                    params["timeout"])
        if not done:
            summary = workload.status_summary(primary or {})
            conditions = "; ".join("%s=%s (%s: %s)" % (c.get("type"), c.get("status"), c.get("reason"), c.get("message"))
                                   for c in summary["conditions"]) or "no conditions reported"
            module.fail("the primary rollout did not complete within timeout=%ss: %s. Conditions: %s. Traffic was not moved and the "
                        "target was not scaled down; roll back with progressive.delivery.canary_rollback"
                        % (params["timeout"], message, conditions), primary=summary, objects=changes.objects)
    weights = None
    if params.get("route"):
        # Read again: the VirtualService may have changed while the primary rolled out.
        obj = router.write_routes(router.read(), router.weights_for(0), None, False, None, changes, roles=("primary",))[1]
        weights = router.get_routes(obj)["weights"]
    scaled_down, drained, reconciled = False, 0.0, None
    if params.get("scale_down"):
        try:
            scaled_down, drained, reconciled = _drain_and_scale_down(module, router, target, changes, read_status=params.get("route"))
        except (CanaryError, ClusterError) as exc:
            module.fail("the primary runs the promoted revision%s, but scaling the target down failed: %s; run "
                        "progressive.delivery.canary_promote again (it is idempotent) or scale the target to 0"
                        % (" and the traffic is on the primary (weights 100/0)" if weights else "", exc),
                        pod_template_hash=workload.promoted_hash(primary), primary=workload.status_summary(primary), weights=weights,
                        scaled_down=False, objects=changes.objects)
    return _finish(module, changes, {
        "pod_template_hash": workload.promoted_hash(primary),
        "primary": workload.status_summary(primary),
        "weights": weights,
        "scaled_down": scaled_down,
        "drained_seconds": drained,
        "route_reconciled": reconciled,
        "phase": _promotion_phase(params),
    })


# ---------------------------------------------------------------------------------------------
# canary_rollback


def run_rollback(module):
    params = module.params
    options.validate_rollback(params)
    cluster = module.cluster
    changes = _Changes()
    router = get_router(cluster, params)
    _validate_scale_down_delay(params)
    target = _get_target(cluster, params["namespace"], params["target"])
    obj = router.read()
    # The route first, always: whatever happens to the scale-down, the primary takes the traffic.
    previous, obj = router.write_routes(obj, router.weights_for(0), None, False, None, changes, roles=("primary",))
    weights = router.get_routes(obj)["weights"]
    # The reason is returned (the role records it in the status ConfigMap), never written on the user's target.
    try:
        scaled_down, drained, reconciled = _drain_and_scale_down(module, router, target, changes)
    except (CanaryError, ClusterError) as exc:
        module.fail("the traffic is on the primary (weights %d/%d), but scaling the target down failed: %s; run "
                    "progressive.delivery.canary_rollback again (it is idempotent) or scale the target to 0"
                    % (weights["primary"], weights["canary"], exc),
                    weights=weights, previous_weights=previous["weights"], reason=params.get("reason"), scaled_down=False,
                    objects=changes.objects)
    return _finish(module, changes, {
        "weights": weights,
        "previous_weights": previous["weights"],
        "reason": params.get("reason"),
        "scaled_down": scaled_down,
        "drained_seconds": drained,
        "route_reconciled": reconciled,
    })


# ---------------------------------------------------------------------------------------------
# canary_wait


def run_wait(module):
    """canary_wait: wait an interval (or until the canary is ready), ended early by a request, a revision or a lost lock."""
    params = module.params
    cluster = module.cluster
    hold, heartbeat = None, None
    if params["fence"]:
        hold = module.hold_lock
        heartbeat = int(hold()["spec"]["leaseDurationSeconds"]) / 3.0
    result = watch.watch(cluster, params["target"], params["namespace"], 0 if module.check_mode else params["seconds"],
                         until=params["until"], analysed_hash=params["revision"], config_tracking=params["config_tracking"],
                         poll=max(params["poll"], 0.05), hold=hold, heartbeat=heartbeat,
                         on_abort=(lambda: route_to_primary(module)) if params["on_abort"] == "route_to_primary" else None,
                         health=watch.HealthWatch(cluster, params["namespace"], grace=params["health_grace"],
                                                  restarts=params.get("previous_restarts"))
                         if params["watch_health"] else None,
                         probe=fast_abort_probe(params), route=route_watch(module))
    result["changed"] = False
    return result


def route_watch(module):
    """canary_wait's O(route_weight): a drift.RouteWatch on the router's managed split, or None.

    Not in check mode: a dry run did not write the weight it would compare with.
    """
    params = module.params
    if params.get("route_weight") is None or params["until"] != watch.ELAPSED or module.check_mode:
        return None
    router = get_router(module.cluster, params)
    router.validate_weight(params["route_weight"], field="route_weight")
    watcher = route_drift.RouteWatch(None, params["route_weight"], router.apex)

    def read():
        obj = router.read()
        watcher.route = "%s %s" % (obj.get("kind") or "route", (obj.get("metadata") or {}).get("name") or router.apex)
        return router.get_routes(obj)

    watcher.read = read
    return watcher


def fast_abort_probe(params):
    """canary_wait's fast abort (O(fast_abort)): a fast_abort.Probe on the canary's counters in Prometheus, or None."""
    given = params.get("fast_abort")
    if not given or params["until"] != watch.ELAPSED:
        return None
    try:
        test = fast_abort.settings(given["min_success_rate"], given["false_alarm_rate"], ratio=given["ratio"])
        variables = metric_checks.template_variables(given["provider"], params["target"], params["namespace"], "1m",
                                                     service=params.get("service_name"))
        queries = fast_abort.count_queries(given["provider"], variables)
        client = PrometheusClient.from_options(params["prometheus"])
    except (fast_abort.FastAbortError, metric_checks.CheckConfigError, PrometheusError) as exc:
        raise CanaryError("fast_abort: %s" % exc, field="fast_abort")
    return fast_abort.Probe(client.query, queries, test, given["started"], given["poll"],
                            expected_requests=given.get("expected_requests"), errors=(PrometheusError,))
