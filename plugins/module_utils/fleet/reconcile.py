# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The reconcile playbook's decisions (playbooks/reconcile.yml): which canaries of a namespace were
left by a runner that died - the status says a rollout is active while nobody holds the lock any more
(the Lease ``<target>-canary-lock`` ran out, was given back, or is gone) - and what to do with each.

Plain Python: no Ansible, no network.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible_collections.progressive.delivery.plugins.module_utils._names import STATUS_SUFFIX, TARGET_LABEL, lock_name
from ansible_collections.progressive.delivery.plugins.module_utils.state import lock as _lock
from ansible_collections.progressive.delivery.plugins.module_utils.state.status import ACTIVE_PHASES

# A run is active in these phases; Waiting too (a run that waits for an approval holds the lock).
RUNNING_PHASES = ("Waiting",) + tuple(p for p in ACTIVE_PHASES if p != "Waiting")
ACTIONS = ("rollback", "resume")
SKIP = "skip"


class ReconcileError(ValueError):
    """Bad reconcile settings."""


def _status_of(configmap):
    data = configmap.get("data") or {}
    try:
        status = json.loads(data.get("status.json") or "{}")
    except ValueError:
        return None
    return status if isinstance(status, dict) else None


def _target_of(configmap):
    meta = configmap.get("metadata") or {}
    labels = meta.get("labels") or {}
    name = meta.get("name") or ""
    if labels.get(TARGET_LABEL):
        return labels[TARGET_LABEL]
    return name[:-len(STATUS_SUFFIX)] if name.endswith(STATUS_SUFFIX) else None


def plan(configmaps, leases, now, action="rollback", targets=None):
    """One entry per canary of the namespace, sorted by target.

    ``configmaps``: the status ConfigMaps (``<target>-canary-status``, as k8s_info lists them);
    ``leases``: the Leases of the namespace; ``now``: an aware datetime; ``action``: what to do with a
    canary whose runner died (``rollback`` or ``resume``); ``targets``: only these targets (all when
    empty). Each entry: ``{target, namespace, phase, weight, holder, lease_expired_at, action, why}``;
    ``action`` is ``rollback``, ``resume`` or ``skip``.
    """
    if action not in ACTIONS:
        raise ReconcileError("reconcile_action must be one of %s, got %r" % (", ".join(ACTIONS), action))
    if targets is not None and not isinstance(targets, (list, tuple)):
        raise ReconcileError("reconcile_targets must be a list of target names, got %r" % (targets,))
    wanted = set(targets or [])
    by_name = {}
    for lease in leases or []:
        by_name[(lease.get("metadata") or {}).get("name")] = lease
    entries = []
    for configmap in configmaps or []:
        meta = configmap.get("metadata") or {}
        if not (meta.get("name") or "").endswith(STATUS_SUFFIX):
            continue
        target = _target_of(configmap)
        if not target or (wanted and target not in wanted):
            continue
        status = _status_of(configmap)
        entry = {
            "target": target,
            "namespace": meta.get("namespace"),
            "phase": (status or {}).get("phase"),
            "weight": (status or {}).get("canary_weight", 0),
            "holder": None,
            "lease_expired_at": None,
            "action": SKIP,
        }
        entries.append(entry)
        if status is None:
            entry["why"] = "the status ConfigMap holds no readable status.json"
            continue
        if entry["phase"] not in RUNNING_PHASES:
            entry["why"] = "phase %s: no rollout is active" % (entry["phase"] or "-")
            continue
        lease = by_name.get(lock_name(target))
        spec = (lease or {}).get("spec") or {}
        entry["holder"] = spec.get("holderIdentity") or (status.get("run") or {}).get("holder")
        until = _lock.expires_at(spec)
        if lease is not None and spec.get("holderIdentity") and until is not None and until > now:
            entry["why"] = "phase %s and the lease of %s is live until %s: its run is alive" % (
                entry["phase"], spec.get("holderIdentity"), _lock.format_time(until))
            continue
        if lease is None:
            gone = "there is no Lease %s" % lock_name(target)
        elif not spec.get("holderIdentity"):
            gone = "nobody holds the Lease %s" % lock_name(target)
        else:
            entry["lease_expired_at"] = _lock.format_time(until)
            gone = "the lease of %s expired at %s (%ds ago)" % (
                spec.get("holderIdentity"), entry["lease_expired_at"], int(round((now - until).total_seconds())))
        entry["action"] = action
        entry["why"] = "phase %s at canary weight %s but %s: the runner died" % (entry["phase"], entry["weight"], gone)
    return sorted(entries, key=lambda e: e["target"])


def reason(entry):
    """The rollback reason recorded in the canary's status."""
    return "reconcile: %s" % entry["why"]


def report(entries, outcomes):
    """The reconcile run's outcome per canary.

    ``outcomes``: ``{target: {"failed": bool, "msg": str, "phase": str}}`` for the canaries acted on.
    Returns ``{result, failed, canaries, lines}``; ``result`` is ``reconciled`` (something acted on, all
    fine), ``nothing to do`` or ``failed``.
    """
    canaries = []
    failed = False
    for entry in entries:
        item = dict(entry)
        outcome = (outcomes or {}).get(entry["target"])
        if entry["action"] == SKIP:
            item["result"] = "left alone"
        elif outcome is None:
            item["result"] = "not done"
            failed = True
        elif outcome.get("failed"):
            item["result"] = "failed"
            item["why"] = "%s; %s failed: %s" % (entry["why"], entry["action"], " ".join(str(outcome.get("msg") or "").split()))
            failed = True
        elif entry["action"] == "rollback" and outcome.get("phase") != "Failed":
            # the abort entry point found a live run after all (it came back) and asked it to roll back
            item["result"] = "abort requested from the running run (phase %s)" % (outcome.get("phase") or "-")
        elif entry["action"] == "rollback":
            item["result"] = "rolled back"
        else:
            item["result"] = "resumed (phase %s)" % (outcome.get("phase") or "-")
        canaries.append(item)
    acted = [c for c in canaries if c["action"] != SKIP]
    lines = ["%s.%s: %s - %s" % (c["target"], c["namespace"], c["result"], c["why"]) for c in canaries] or ["no canaries found"]
    return {
        "result": "failed" if failed else ("reconciled" if acted else "nothing to do"),
        "failed": failed,
        "canaries": canaries,
        "lines": lines,
    }
