# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The persisted status of a canary rollout.

Kept in a ConfigMap ``<target>-canary-status`` (key ``status.json``) beside the target rather than
in annotations on the target Deployment: writing it never touches the user's object (GitOps tools
re-applying the Deployment do not wipe it, and a status write cannot race the user's own edits),
it can be read with a single ``kubectl get configmap`` and it holds the last analysis results
without the 256 KiB annotation budget of the Deployment.

Updates are JSON merge patches (RFC 7386) validated against ``FIELDS``; ``last_transition_time``
moves only when ``phase`` changes, so writing the same status twice changes nothing.

Plain Python: no Ansible, no network.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import datetime

from ansible_collections.progressive.delivery.plugins.module_utils._names import status_name, target_labels
from ansible_collections.progressive.delivery.plugins.module_utils.state import gates as _gates
from ansible_collections.progressive.delivery.plugins.module_utils.state import history as _history
import json

STATUS_KEY = "status.json"

# Flagger's phases (same names, same meaning).
PHASES = (
    "Initializing",
    "Initialized",
    "Waiting",
    "Progressing",
    "WaitingPromotion",
    "Promoting",
    "Finalising",
    "Succeeded",
    "Failed",
    "Terminating",
    "Terminated",
)
# A run that stops in one of these left traffic or the primary in the middle of a change.
ACTIVE_PHASES = ("Progressing", "WaitingPromotion", "Promoting", "Finalising")
REQUESTS = ("promote", "abort")


def _non_negative_int(value):
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _weight(value):
    return _non_negative_int(value) and value <= 100


def _text(value):
    return isinstance(value, str)


def _phase(value):
    return value in PHASES


def _request(value):
    return value in REQUESTS


def _any(value):
    return True


def _list(value):
    return isinstance(value, list)


def _dict(value):
    return isinstance(value, dict)


# field -> (check, description used in error messages)
FIELDS = {
    "phase": (_phase, "one of " + ", ".join(PHASES)),
    "canary_weight": (_weight, "an integer between 0 and 100"),
    "failed_checks": (_non_negative_int, "an integer >= 0"),
    "iterations": (_non_negative_int, "an integer >= 0"),
    "step": (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= -1, "an integer >= -1 (-1 = before the first step)"),
    "last_applied_hash": (_text, "a string (the target's pod-template hash under analysis)"),
    "last_promoted_hash": (_text, "a string (the pod-template hash the primary runs)"),
    "last_transition_time": (_text, "an RFC 3339 time (set automatically when phase changes)"),
    "last_analysis": (_list, "a list of metric results (name, value, threshold_range, status, message)"),
    "message": (_text, "a string (the last event, in Flagger's words)"),
    "reason": (_text, "a string (why the last rollback happened)"),
    "requested": (_request, "one of " + ", ".join(REQUESTS) + " (a request to the running rollout)"),
    "strategy": (_text, "a string (canary)"),
    "started_at": (_text, "an RFC 3339 time"),
    "run": (_dict, "a dict describing the run (holder) and the last request to it (requested_by, requested_reason)"),
    "schedule": (lambda v: isinstance(v, list) and all(_weight(w) for w in v), "a list of canary weights (the analysis' steps)"),
    # the judge's counters beyond Flagger's (analysis/judge.py COUNTERS), kept so that a resumed run counts on
    "consecutive_failures": (_non_negative_int, "an integer >= 0 (failed checks in a row)"),
    "consecutive_errors": (_non_negative_int, "an integer >= 0 (query errors in a row)"),
    "inconclusive": (_non_negative_int, "an integer >= 0 (intervals without data)"),
    "held": (_non_negative_int, "an integer >= 0 (intervals spent in a pausing step)"),
    "waiting": (_non_negative_int, "an integer >= 0 (intervals in a row spent waiting for an approval)"),
    "reasserted": (_non_negative_int, "an integer >= 0 (intervals in a row whose route someone else changed, set again)"),
    "gates": (_gates.valid_gates, "a dict of gates (rollout, traffic, promotion, rollback) to {state: open, approved or closed}"),
    "history": (_history.valid_history, "a list of history entries (at, weight, phase, action, metrics, event), newest last"),
    "extra": (_any, "anything JSON (room for strategies that come next)"),
}


class StatusError(ValueError):
    """A status update is invalid; the message names the field and what it must be."""


def now_rfc3339(now=None):
    now = now or datetime.datetime.now(datetime.timezone.utc)
    return now.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def merge_patch(document, patch):
    """RFC 7386 JSON merge patch: dicts merge recursively, ``None`` deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(document) if isinstance(document, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            result[key] = merge_patch(result.get(key), value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def validate(status):
    """Raise StatusError for the first unknown or ill-typed field of ``status``."""
    if not isinstance(status, dict):
        raise StatusError("status must be a dict of fields, got %r" % (status,))
    for key in sorted(status):
        if key not in FIELDS:
            raise StatusError("status.%s is not a status field; known fields: %s" % (key, ", ".join(sorted(FIELDS))))
        check, description = FIELDS[key]
        if not check(status[key]):
            raise StatusError("status.%s must be %s, got %r" % (key, description, status[key]))
    return status


def apply_update(current, patch, now=None):
    """Return the status after merging ``patch`` into ``current`` (neither is modified)."""
    if patch is None:
        return copy.deepcopy(current or {})
    if not isinstance(patch, dict):
        raise StatusError("status must be a dict (a JSON merge patch), got %r" % (patch,))
    if "last_transition_time" in patch and patch["last_transition_time"] is not None:
        raise StatusError("status.last_transition_time is set automatically when the phase changes; leave it out")
    updated = merge_patch(current or {}, patch)
    validate(updated)
    if updated.get("phase") != (current or {}).get("phase") and "phase" in updated:
        updated["last_transition_time"] = now_rfc3339(now)
    return updated


def decode(configmap):
    """The status stored in a ConfigMap object (a dict), ``{}`` when there is none."""
    if not configmap:
        return {}
    raw = (configmap.get("data") or {}).get(STATUS_KEY)
    if not raw:
        return {}
    try:
        status = json.loads(raw)
    except ValueError as exc:
        raise StatusError("ConfigMap %s: data.%s is not valid JSON (%s); delete it or fix it by hand"
                          % (configmap.get("metadata", {}).get("name"), STATUS_KEY, exc))
    if not isinstance(status, dict):
        raise StatusError("ConfigMap %s: data.%s must hold a JSON object" % (configmap.get("metadata", {}).get("name"), STATUS_KEY))
    return status


def encode(status):
    return json.dumps(status, sort_keys=True, separators=(",", ":"))


def build_configmap(target, namespace, status, existing=None):
    """The ConfigMap holding ``status``; keeps the existing object's metadata (resourceVersion guards the write)."""
    if existing:
        configmap = copy.deepcopy(existing)
        configmap.setdefault("data", {})
    else:
        configmap = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": status_name(target),
                "namespace": namespace,
                "labels": target_labels(target),
            },
            "data": {},
        }
    configmap["data"][STATUS_KEY] = encode(status)
    return configmap


# What a run does with the target's current pod-template hash (see revision_decision).
INITIALIZE = "initialize"
NEW = "new"
UNCHANGED = "unchanged"
ROLLED_BACK = "rolled_back"
RESUME = "resume"
RESTART = "restart"
REVERTED = "reverted"


def revision_decision(status, current_hash):
    """Compare the target's hash with the persisted status, the way Flagger detects revisions.

    - ``initialize``: no status yet (the canary objects may not exist).
    - ``unchanged``: the hash is the promoted one (also after a manual revert): nothing to do.
    - ``rolled_back``: the hash is the one the last failed analysis rolled back: not retried.
    - ``new``: a revision to analyse.
    - ``resume``: an analysis of this hash was interrupted (the run was killed): continue it.
    - ``restart``: a newer revision arrived while an analysis was running: start over with it.
    - ``reverted``: during an interrupted analysis the target went back to the promoted hash.
    """
    phase = (status or {}).get("phase")
    if not phase or phase == "Initializing":
        return INITIALIZE
    active = phase in ACTIVE_PHASES
    if current_hash == status.get("last_promoted_hash"):
        return REVERTED if active else UNCHANGED
    if active:
        return RESUME if current_hash == status.get("last_applied_hash") else RESTART
    if phase == "Failed" and current_hash == status.get("last_applied_hash"):
        return ROLLED_BACK
    return NEW
