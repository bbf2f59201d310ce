# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""canary_semaphore: read the slot Leases of a scope, apply state/semaphore.py's decision, write it guarded."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime

from ansible_collections.progressive.delivery.plugins.module_utils.k8s import Conflict
from ansible_collections.progressive.delivery.plugins.module_utils.state import semaphore as sem

# A write that loses a race (409) decides again on what the winner wrote, this many times.
ATTEMPTS = 5


def _now():
    return datetime.datetime.now(datetime.timezone.utc)


def _read(module, slot_namespace, scope):
    items = module.cluster.list(sem.API_VERSION, sem.KIND, slot_namespace, label_selector="%s=%s" % (sem.SCOPE_LABEL, scope))
    return dict((item["metadata"]["name"], item) for item in items)


def run_semaphore(module):
    params = module.params
    scope = params["scope"]
    slot_namespace = params["slot_namespace"] or params["namespace"]
    target, namespace = params["target"], params["namespace"]
    leases = module.cluster.objects(sem.API_VERSION, sem.KIND)
    try:
        for attempt in range(ATTEMPTS):
            found = _read(module, slot_namespace, scope)
            try:
                if params["state"] == "released":
                    return _release(module, leases, found, target, namespace)
                return _acquire(module, leases, found, scope, slot_namespace, target, namespace)
            except Conflict:
                if attempt == ATTEMPTS - 1:
                    raise
    except sem.SemaphoreFull as exc:
        module.fail(str(exc), full=True, holders=exc.holders, limit=params["limit"], scope=scope, slot_namespace=slot_namespace)
    except sem.SemaphoreError as exc:
        module.fail(str(exc))
    return None


def _acquire(module, leases, found, scope, slot_namespace, target, namespace):
    params = module.params
    if params["limit"] is None:
        raise sem.SemaphoreError("limit is required with state=acquired: how many canaries of the scope may run at once")
    names = sem.slot_names(scope, params["limit"]) if isinstance(params["limit"], int) and 0 < params["limit"] <= sem.MAX_LIMIT else []
    slots = [found.get(name) for name in names]
    action, _index, lease = sem.acquire(scope, slot_namespace, params["limit"], slots, target, namespace,
                                        params["holder"], params["ttl"], _now())
    existing = found.get(lease["metadata"]["name"])
    if not module.check_mode:
        lease = leases.create(lease) if existing is None else leases.replace(lease)
    result = {
        "changed": True,
        "action": action,
        "slot": sem.summary(lease, _now()),
        "previous_holder": ((existing or {}).get("spec") or {}).get("holderIdentity") or None,
        "holders": [sem.slot_canary((slot or {}).get("spec")) for slot in slots],
    }
    if module.diff_mode:
        result["diff"] = {"before": (existing or {}).get("spec") or {}, "after": lease.get("spec") or {}}
    return result


def _release(module, leases, found, target, namespace):
    freed = sem.release([found[name] for name in sorted(found)], target, namespace, _now())
    written = []
    for _index, lease in freed:
        written.append(lease if module.check_mode else leases.replace(lease))
    result = {
        "changed": bool(freed),
        "action": sem.RELEASED if freed else sem.NONE,
        "released": [lease["metadata"]["name"] for lease in written],
    }
    if module.diff_mode and freed:
        result["diff"] = {"before": dict((name, found[name]["spec"]) for name in result["released"]),
                          "after": dict((lease["metadata"]["name"], lease["spec"]) for lease in written)}
    return result
