# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The four cluster operations (init, route, promote, rollback) behind the modules of those names.

Each ``run_*`` takes a CanaryModule, reads what it needs, validates everything before the first
write, then writes object by object through ``Cluster.write`` (which only predicts in check mode).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

from ansible_collections.progressive.delivery.plugins.module_utils._errors import CanaryError
from ansible_collections.progressive.delivery.plugins.module_utils._k8s import Changes, overlay, strip_object
from ansible_collections.progressive.delivery.plugins.module_utils._names import ROLLBACK_REASON_ANNOTATION, is_managed, primary_name
from ansible_collections.progressive.delivery.plugins.module_utils import _options as options
from ansible_collections.progressive.delivery.plugins.module_utils.routing import istio
from ansible_collections.progressive.delivery.plugins.module_utils.routing.services import build_services, service_port
from ansible_collections.progressive.delivery.plugins.module_utils.workload import config as configs
from ansible_collections.progressive.delivery.plugins.module_utils.workload import primary as workload

DEPLOYMENT = ("apps/v1", "Deployment")
HPA = ("autoscaling/v2", "HorizontalPodAutoscaler")

_REDACTED = "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"


def _apex(params):
    return params.get("service_name") or params["target"]


def _route_target(params):
    return istio.route_target(_apex(params), mode=params.get("mode") or "host", host=params.get("destination_host"),
                              primary_subset=params.get("primary_subset") or "primary",
                              canary_subset=params.get("canary_subset") or "canary", route_name=params.get("route_name"))


def _get_target(cluster, namespace, name):
    cluster.require_namespace(namespace)
    target = cluster.get(DEPLOYMENT[0], DEPLOYMENT[1], namespace, name)
    if target is None:
        raise CanaryError("Deployment %s/%s (target) not found; check target and namespace, or create the Deployment first"
                          % (namespace, name), field="target")
    return target


def _get_virtual_service(cluster, namespace, apex):
    vs = cluster.get(istio.API_VERSION, istio.VIRTUAL_SERVICE, namespace, apex)
    if vs is None:
        raise CanaryError("VirtualService %s/%s not found; run progressive.delivery.canary_init first, or set service_name to "
                          "the name of the VirtualService" % (namespace, apex), field="service_name")
    return vs


def _check_destinations(cluster, namespace, target, roles=("primary", "canary")):
    """Refuse to route to a Service or DestinationRule subset that does not exist."""
    if target.mode == "host":
        for role in roles:
            name = getattr(target, role)["host"]
            if cluster.get("v1", "Service", namespace, name) is None:
                raise CanaryError("Service %s/%s (the %s destination) not found; run progressive.delivery.canary_init or fix service_name"
                                  % (namespace, name, role), field="service_name")
    else:
        rules = cluster.list(istio.API_VERSION, istio.DESTINATION_RULE, namespace)
        istio.check_subsets(rules, target, namespace, roles=roles)


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


def run_init(module):
    params = module.params
    options.validate_init(params)
    cluster = module.cluster
    namespace, apex = params["namespace"], _apex(params)
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
    route_target = istio.route_target(apex)
    desired_vs = istio.build_virtual_service(namespace, apex, hosts=params.get("hosts"), gateways=params.get("gateways"),
                                             retries=params.get("retries"), timeout=params.get("timeout"),
                                             cors_policy=params.get("cors_policy"), headers=params.get("headers"))
    existing_vs = cluster.get(istio.API_VERSION, istio.VIRTUAL_SERVICE, namespace, apex)
    if existing_vs is not None and not is_managed(existing_vs):
        if not params.get("adopt"):
            raise CanaryError("VirtualService %s/%s already exists and was not created by progressive.delivery; set adopt=true to take it "
                              "over (its spec is saved in the annotation %s so it can be restored) or choose another service_name"
                              % (namespace, apex, istio.ORIGINAL_SPEC_ANNOTATION), field="adopt")
        desired_vs = istio.adopt_virtual_service(existing_vs, desired_vs)
    elif existing_vs is not None:
        desired_vs["spec"] = istio.carry_routing_state(existing_vs.get("spec") or {}, desired_vs["spec"], route_target)
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
        done, message, primary_now = cluster.wait_for(DEPLOYMENT[0], DEPLOYMENT[1], namespace, primary["metadata"]["name"],
                                                      workload.rollout_status, params.get("wait_timeout", 300))
        if not done:
            module.fail("the primary did not become ready within wait_timeout=%ss: %s; the Services, DestinationRules and "
                        "VirtualService were not touched and the target still runs" % (params.get("wait_timeout"), message),
                        objects=changes.objects, primary=workload.status_summary(primary_now or primary))

    for desired in build_services(namespace, apex, workload.primary_selector(target), workload.canary_selector(target), port_spec):
        existing = cluster.get("v1", "Service", namespace, desired["metadata"]["name"])
        cluster.write(existing, desired if existing is None else overlay(existing, desired, replace=("spec.selector", "spec.ports")), changes)
    for name in (route_target.primary["host"], route_target.canary["host"]):
        desired = istio.build_destination_rule(namespace, name, params.get("traffic_policy"))
        existing = cluster.get(istio.API_VERSION, istio.DESTINATION_RULE, namespace, name)
        cluster.write(existing, desired if existing is None else overlay(existing, desired, replace=("spec",)), changes)
    cluster.write(existing_vs, desired_vs if existing_vs is None else overlay(existing_vs, desired_vs, replace=("spec",)), changes)
    # A target running a newer revision than the primary is a canary under analysis: leave it running.
    if workload.promoted_hash(primary) in (None, workload.target_hash(target, checksum)):
        _scale_to_zero(cluster, target, changes)

    return _finish(module, changes, {
        "primary": primary["metadata"]["name"],
        "virtual_service": apex,
        "pod_template_hash": workload.promoted_hash(primary) or workload.target_hash(target, checksum),
    })


def _scale_to_zero(cluster, target, changes, annotations=None):
    desired = {"spec": {"replicas": 0}}
    if annotations:
        desired["metadata"] = {"annotations": annotations}
    return cluster.write(target, overlay(target, desired), changes)


# ---------------------------------------------------------------------------------------------
# canary_route and the routing part of promote / rollback


def _route(module, cluster, vs, weights, match, mirror, mirror_weight, changes, roles=("primary", "canary")):
    """Write the managed routes of ``vs``; return ``(previous_state, resulting_vs)``.

    The destinations named in ``roles`` are checked only when the routes change: an unchanged
    VirtualService stays valid whatever happened to the Services since.
    """
    params = module.params
    target = _route_target(params)
    spec = vs.get("spec") or {}
    previous = istio.read_state(spec, target)
    new_spec = istio.set_routing(spec, target, weights, match=match, mirror=mirror, mirror_weight=mirror_weight)
    if new_spec != spec and roles:
        _check_destinations(cluster, params["namespace"], target, roles)
    new_vs = copy.deepcopy(vs)
    new_vs["spec"] = new_spec
    return previous, cluster.write(vs, new_vs, changes)


def run_route(module):
    params = module.params
    options.validate_route(params)
    cluster = module.cluster
    changes = _Changes()
    target = _route_target(params)
    match = istio.normalise_match(params.get("match"))
    if params.get("weight") is not None:
        istio.validate_weight(params["weight"])
    _get_target(cluster, params["namespace"], params["target"])
    vs = _get_virtual_service(cluster, params["namespace"], _apex(params))
    current = istio.read_state(vs.get("spec") or {}, target)
    weight = params["weight"] if params.get("weight") is not None else current["weights"]["canary"]
    istio.validate_weight(weight)
    istio.validate_mirror(weight, params.get("mirror"), params.get("mirror_weight"))
    _check_destinations(cluster, params["namespace"], target)
    previous, result_vs = _route(module, cluster, vs, istio.weights_for(weight), match, params.get("mirror"),
                                 params.get("mirror_weight"), changes, roles=())
    state = istio.read_state(result_vs.get("spec") or {}, target)
    return _finish(module, changes, {
        "weights": state["weights"],
        "previous_weights": previous["weights"],
        "match": state["match"],
        "mirror": state["mirror"],
        "virtual_service": strip_object(result_vs),
    })


# ---------------------------------------------------------------------------------------------
# canary_promote


def run_promote(module):
    params = module.params
    options.validate_promote(params)
    cluster = module.cluster
    namespace = params["namespace"]
    changes = _Changes()
    _route_target(params)
    target = _get_target(cluster, namespace, params["target"])
    workload.app_label(target)
    primary = cluster.get(DEPLOYMENT[0], DEPLOYMENT[1], namespace, primary_name(params["target"]))
    if primary is None:
        raise CanaryError("Deployment %s/%s (the primary) not found; run progressive.delivery.canary_init first"
                          % (namespace, primary_name(params["target"])), field="target")
    if params.get("route"):
        # Fail on a missing VirtualService or managed route before the primary is touched.
        istio.read_state(_get_virtual_service(cluster, namespace, _apex(params)).get("spec") or {}, _route_target(params))
    tracked, renames = _tracked_configs(cluster, target, params.get("config_tracking", True))
    checksum = configs.config_checksum(tracked)

    _write_config_copies(cluster, tracked, changes)
    primary = cluster.write(primary, workload.promoted_deployment(primary, target, renames, checksum), changes)
    if not module.check_mode:
        done, message, primary = cluster.wait_for(DEPLOYMENT[0], DEPLOYMENT[1], namespace, primary["metadata"]["name"],
                                                  workload.rollout_status, params["timeout"])
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
        vs = _get_virtual_service(cluster, namespace, _apex(params))
        vs = _route(module, cluster, vs, istio.weights_for(0), None, False, None, changes, roles=("primary",))[1]
        weights = istio.read_state(vs["spec"], _route_target(params))["weights"]
    if params.get("scale_down"):
        _scale_to_zero(cluster, target, changes)
    return _finish(module, changes, {
        "pod_template_hash": workload.promoted_hash(primary),
        "primary": workload.status_summary(primary),
        "weights": weights,
    })


# ---------------------------------------------------------------------------------------------
# canary_rollback


def run_rollback(module):
    params = module.params
    options.validate_rollback(params)
    cluster = module.cluster
    changes = _Changes()
    _route_target(params)
    target = _get_target(cluster, params["namespace"], params["target"])
    vs = _get_virtual_service(cluster, params["namespace"], _apex(params))
    previous, vs = _route(module, cluster, vs, istio.weights_for(0), None, False, None, changes, roles=("primary",))
    replicas_before = (target.get("spec") or {}).get("replicas")
    annotations = {ROLLBACK_REASON_ANNOTATION: params["reason"]} if params.get("reason") else None
    _scale_to_zero(cluster, target, changes, annotations)
    return _finish(module, changes, {
        "weights": istio.read_state(vs["spec"], _route_target(params))["weights"],
        "previous_weights": previous["weights"],
        "reason": params.get("reason"),
        "scaled_down": bool(replicas_before),
    })
