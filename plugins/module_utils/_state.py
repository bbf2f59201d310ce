# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The persisted status and the lock behind canary_state and canary_lock.

Both read one object and create it or replace it with the resourceVersion they read (the
Cluster's "fail on any 409" policy): a concurrent writer makes the write fail with Conflict
instead of being silently overwritten, and the run decides again on what the other one wrote.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import time

from ansible_collections.progressive.delivery.plugins.module_utils._names import managed_labels
from ansible_collections.progressive.delivery.plugins.module_utils._errors import CanaryError
from ansible_collections.progressive.delivery.plugins.module_utils.k8s import Conflict
from ansible_collections.progressive.delivery.plugins.module_utils.state import gates
from ansible_collections.progressive.delivery.plugins.module_utils.state import lock as lk
from ansible_collections.progressive.delivery.plugins.module_utils.state import status as st
from ansible_collections.progressive.delivery.plugins.module_utils.workload import revision

WRITE_ATTEMPTS = 3


# ---------------------------------------------------------------------------------------------
# canary_state


def record_events(module, events):
    """Create one Event per entry on the target Deployment; returns their names."""
    params = module.params
    if not events or module.check_mode:
        return []
    cluster = module.cluster
    target = cluster.get("apps/v1", "Deployment", params["namespace"], params["target"])
    involved = {"apiVersion": "apps/v1", "kind": "Deployment", "name": params["target"], "namespace": params["namespace"]}
    if target is not None:
        involved["uid"] = target["metadata"].get("uid")
        involved["resourceVersion"] = target["metadata"].get("resourceVersion")
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    names = []
    for index, event in enumerate(events):
        name = "%s.%x" % (params["target"], time.time_ns() + index)
        cluster.create({
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": params["namespace"], "labels": managed_labels()},
            "involvedObject": {k: v for k, v in involved.items() if v is not None},
            "reason": event["reason"],
            "message": event["text"],
            "type": event["type"],
            "count": 1,
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "source": {"component": "progressive.delivery"},
            "reportingComponent": "progressive.delivery/rollout",
        })
        names.append(name)
    return names


def run_state(module):
    params = module.params
    cluster = module.cluster
    target, namespace = params["target"], params["namespace"]
    name = st.status_name(target)
    configmaps = cluster.objects("v1", "ConfigMap")
    result = {"changed": False, "configmap": name, "events": []}

    existing = configmaps.get(namespace, name)
    previous = st.decode(existing)
    result["previous_status"] = previous

    if params["detect_revision"]:
        hash_now, promoted, _deployment = revision.current(cluster.get, target, namespace, params["config_tracking"])
        result["revision"] = {
            "hash": hash_now,
            "promoted_hash": promoted,
            "target_exists": hash_now is not None,
            "decision": st.revision_decision(previous, hash_now) if hash_now is not None else None,
        }

    if params["fence"] and (params["status"] is not None or params["events"] or params["state"] == "absent"):
        module.hold_lock()

    if params["state"] == "absent":
        result["status"] = {}
        result["exists"] = False
        if existing is not None:
            result["changed"] = True
            if not module.check_mode:
                configmaps.delete(namespace, name)
            if module.diff_mode:
                result["diff"] = {"before": previous, "after": {}}
        return result

    result.update(_write_status(module, configmaps, existing, previous))
    result["events"] = record_events(module, params["events"])
    if params["events"] and not module.check_mode:
        result["changed"] = True
    return result


def _write_status(module, configmaps, existing, previous, patch=None):
    params = module.params
    target, namespace = params["target"], params["namespace"]
    name = st.status_name(target)
    result = {"changed": False}
    patch = params["status"] if patch is None else patch
    updated = st.apply_update(previous, patch)
    result["status"] = updated
    result["exists"] = existing is not None
    if patch is None or (updated == previous and existing is not None):
        return result

    result["changed"] = True
    result["exists"] = True
    if module.diff_mode:
        result["diff"] = {"before": previous, "after": updated}
    if module.check_mode:
        return result

    for attempt in range(WRITE_ATTEMPTS):
        try:
            if existing is None:
                configmaps.create(st.build_configmap(target, namespace, updated))
            else:
                configmaps.replace(st.build_configmap(target, namespace, updated, existing))
            break
        except Conflict as exc:
            if attempt == WRITE_ATTEMPTS - 1:
                raise Conflict("ConfigMap %s/%s kept changing under us (%s); run the task again" % (namespace, name, exc))
            existing = configmaps.get(namespace, name)
            current = st.decode(existing)
            updated = st.apply_update(current, patch)
            result["status"] = updated
            if existing is not None and updated == current:
                result["changed"] = False
                break
    return result


# ---------------------------------------------------------------------------------------------
# canary_gate

GATE_NAMES = sorted(gates.GATES)
GATE_ACTIONS = list(gates.ACTIONS)


def run_gate(module):
    """An operator's action on a gate, or (``action`` omitted) a run passing it: an approval is used up."""
    params = module.params
    target, namespace, gate = params["target"], params["namespace"], params["gate"]
    configmaps = module.cluster.objects("v1", "ConfigMap")
    existing = configmaps.get(namespace, st.status_name(target))
    if existing is None:
        raise CanaryError("%s.%s has no rollout status (ConfigMap %s): a gate belongs to an initialized canary; run the playbook "
                          "progressive.delivery.rollout first" % (target, namespace, st.status_name(target)), field="target")
    previous = st.decode(existing)
    at = st.now_rfc3339()
    if params["action"]:
        # the gate already in that state: nothing to write (idempotent), its who and when kept
        wanted = gates.operate(gate, params["action"], params["by"], at)
        patch = None if gates.state(previous, gate) == wanted["gates"][gate]["state"] else wanted
        passed = None
    else:
        passed = gates.passes(previous, gate)
        patch = gates.pass_through(previous, gate, at) if passed else None
    result = {"changed": False, "gate": gate, "state": gates.state(previous, gate), "passed": passed,
              "message": gates.held_message("%s.%s" % (target, namespace), gate) if passed is False else ""}
    if patch is not None:
        written = _write_status(module, configmaps, existing, previous, patch)
        result.update(changed=written["changed"], state=gates.state(written["status"], gate))
        if "diff" in written:
            result["diff"] = written["diff"]
    return result


# ---------------------------------------------------------------------------------------------
# canary_lock


def _now():
    return datetime.datetime.now(datetime.timezone.utc)


def _decide(params, existing, now):
    target, namespace = params["target"], params["namespace"]
    if params["state"] == "released":
        return lk.release(target, namespace, existing, params["holder"], now, force=params["force"], lease_token=params["token"])
    if params["state"] == "renewed":
        return lk.renew(target, namespace, existing, params["holder"], params["token"], params["ttl"], now)
    return lk.acquire(target, namespace, existing, params["holder"], params["ttl"], now, force=params["force"])


def _holder(lease):
    return ((lease or {}).get("spec") or {}).get("holderIdentity") or None


def run_lock(module):
    params = module.params
    name = lk.lease_name(params["target"])
    leases = module.cluster.objects(lk.API_VERSION, lk.KIND)
    existing = leases.get(params["namespace"], name)
    previous_holder = _holder(existing)
    action, lease = _decide(params, existing, _now())
    if action != lk.NONE and not module.check_mode:
        try:
            lease = leases.create(lease) if existing is None else leases.replace(lease)
        except Conflict:
            # Somebody wrote the lease between our read and our write: decide again on what they wrote.
            existing = leases.get(params["namespace"], name)
            previous_holder = _holder(existing)
            action, lease = _decide(params, existing, _now())
            if action != lk.NONE:
                lease = leases.create(lease) if existing is None else leases.replace(lease)
    result = {
        "changed": action != lk.NONE,
        "action": action,
        "previous_holder": previous_holder,
        "lease": dict(lk.summary(lease, _now()), name=name),
    }
    if module.diff_mode and action != lk.NONE:
        result["diff"] = {"before": (existing or {}).get("spec") or {}, "after": (lease or {}).get("spec") or {}}
    return result
