# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""canary_finalize: give the service back to the user's Deployment and remove the canary (Flagger's revertOnDeletion).

Reads everything, asks ``workload.finalize.plan`` what to do, then carries the steps out in order:
the target scaled back and ready before any traffic moves to it, the primary deleted only after the
apex Service selects the target's pods (and ``scale_down_delay`` seconds for the proxies to follow).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import time

from ansible_collections.progressive.delivery.plugins.module_utils._errors import CanaryError
from ansible_collections.progressive.delivery.plugins.module_utils._canary import DEPLOYMENT, HPA, REPLICAS, _Changes, _finish, _get_target
from ansible_collections.progressive.delivery.plugins.module_utils.k8s import overlay
from ansible_collections.progressive.delivery.plugins.module_utils._names import (
    apex_name, canary_name, is_managed, lock_name, primary_name, status_name)
from ansible_collections.progressive.delivery.plugins.module_utils import _options as options
from ansible_collections.progressive.delivery.plugins.module_utils.routing import get_router
from ansible_collections.progressive.delivery.plugins.module_utils.routing import istio
from ansible_collections.progressive.delivery.plugins.module_utils.state import lock as lk
from ansible_collections.progressive.delivery.plugins.module_utils.workload import config as configs
from ansible_collections.progressive.delivery.plugins.module_utils.workload import finalize
from ansible_collections.progressive.delivery.plugins.module_utils.workload import primary as workload

LEASE = ("coordination.k8s.io/v1", "Lease")


def _check_lock(params, lease):
    """Refuse while another run holds the lock (a rollout under way), unless ``force``."""
    held = lk.summary(lease, datetime.datetime.now(datetime.timezone.utc)) if lease else None
    if not held or not held["holder"] or held["expired"] or params.get("force"):
        return
    fence = params.get("fence") or {}
    if fence.get("holder") == held["holder"]:
        return
    raise CanaryError("%s: a rollout is under way; wait for it to end, abort it (progressive.delivery.abort), or set force=true to "
                      "finalize anyway" % lk.describe(params["target"], params["namespace"], lease["spec"],
                                                      datetime.datetime.now(datetime.timezone.utc)), field="force")


def _owned(cluster, namespace, target, apex, primary):
    """The objects the collection may have created, in deletion order (None for the missing ones)."""
    objects = [cluster.get("v1", "Service", namespace, name) for name in (primary_name(apex), canary_name(apex))]
    objects += [cluster.get(istio.API_VERSION, istio.DESTINATION_RULE, namespace, name) for name in (primary_name(apex), canary_name(apex))]
    primary_name_ = primary_name(target)
    objects += [hpa for hpa in cluster.list(HPA[0], HPA[1], namespace)
                if ((hpa.get("spec") or {}).get("scaleTargetRef") or {}).get("name") == primary_name_]
    objects.append(primary)
    if primary is not None:
        pod_spec = ((primary.get("spec") or {}).get("template") or {}).get("spec") or {}
        objects += [cluster.get("v1", ref.kind, namespace, ref.name) for ref in configs.referenced_configs(pod_spec)
                    if ref.name.endswith("-primary")]
    objects.append(cluster.get("v1", "ConfigMap", namespace, status_name(target)))
    objects.append(cluster.get(LEASE[0], LEASE[1], namespace, lock_name(target)))
    return objects


def run_finalize(module):
    params = module.params
    options.validate_route_info(params)
    if params.get("router", "istio") != "istio" or params.get("mode") == "subset":
        raise CanaryError("finalize restores what canary_init creates with router=istio in mode=host; with router=gatewayapi or "
                          "mode=subset the routes and Deployments are the user's: set their weights with progressive.delivery.canary_route",
                          field="router" if params.get("router", "istio") != "istio" else "mode")
    if params["scale_down_delay"] < 0:
        raise CanaryError("scale_down_delay must be 0 or more seconds, got %s" % params["scale_down_delay"], field="scale_down_delay")
    cluster = module.cluster
    namespace, target_name = params["namespace"], params["target"]
    apex = apex_name(params)
    changes = _Changes()

    target = _get_target(cluster, namespace, target_name)
    lease = cluster.get(LEASE[0], LEASE[1], namespace, lock_name(target_name))
    _check_lock(params, lease)
    router = get_router(cluster, params)
    primary = cluster.get(DEPLOYMENT[0], DEPLOYMENT[1], namespace, primary_name(target_name))
    route = router.get()
    restored = router.restore(route) if route is not None else None
    apex_service = cluster.get("v1", "Service", namespace, apex)
    steps = finalize.plan(target, primary=primary, route=route, original_spec=restored["spec"] if restored else None,
                          annotation=istio.ORIGINAL_SPEC_ANNOTATION, apex_service=apex_service,
                          target_selector=workload.canary_selector(target),
                          owned=_owned(cluster, namespace, target_name, apex, primary if primary is not None and is_managed(primary) else None))

    moved = False
    for step in steps:
        obj = step["object"]
        if step["action"] == finalize.SCALE:
            cluster.write(obj, overlay(obj, {"spec": {"replicas": step["replicas"]}}), changes, claimed=REPLICAS)
            if not module.check_mode:
                done, message, _now = cluster.wait_ready(DEPLOYMENT[0], DEPLOYMENT[1], namespace, target_name, params["timeout"])
                if not done:
                    module.fail("the target did not become ready within timeout=%ss: %s; the route, the Services and the primary were "
                                "not touched, the primary still serves" % (params["timeout"], message), objects=changes.objects)
        elif step["action"] in (finalize.RESTORE, finalize.SELECT):
            cluster.write(obj, step["new"], changes)
            moved = True
        else:
            if moved and obj["kind"] == "Deployment" and not module.check_mode and params["scale_down_delay"]:
                # The proxies follow the apex Service's new endpoints some time after the write: the primary keeps its pods meanwhile.
                time.sleep(params["scale_down_delay"])
            if not cluster.check_mode:
                if cluster.fence is not None and not cluster.dry_run and not changes.changed:
                    cluster.fence()
                cluster.delete(obj["apiVersion"], obj["kind"], namespace, obj["metadata"]["name"])
            changes.record(obj, "deleted", obj, None)
    return _finish(module, changes, {
        "plan": finalize.summary(steps),
        "replicas": next((s["replicas"] for s in steps if s["action"] == finalize.SCALE), (target.get("spec") or {}).get("replicas")),
        "restored": any(s["action"] == finalize.RESTORE for s in steps),
    })
