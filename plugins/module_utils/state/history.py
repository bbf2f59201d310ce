# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The bounded history of a rollout: one entry per interval, kept in the status (field ``history``).

An entry is what the report draws and tabulates::

    {"at": "2026-01-02T03:04:05Z", "weight": 20, "phase": "Progressing", "action": "advance",
     "metrics": [{"name", "value", "threshold_range" (or "judgment"), "status", "message"}],
     "event": "Advance podinfo.test canary weight 20", "reason": "..." (only on a rollback)}

The history lives in the status ConfigMap, whose whole object must stay under Kubernetes' 1 MiB, so
it keeps only the newest ``limit`` entries and cuts long messages (a no-data message carries the
source's whole error).

Plain Python: no Ansible, no network, no clock (the caller says when).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

DEFAULT_LIMIT = 200
# Long enough for Flagger's messages and a query error's first lines; 200 entries x a few metrics stay far below 1 MiB.
MESSAGE_LIMIT = 300
METRIC_KEYS = ("name", "value", "threshold_range", "judgment", "status", "message")


class HistoryError(ValueError):
    """A history or an entry is unusable; the message names what and why."""


def valid_history(value):
    """The status field check: a list of entries (dicts)."""
    return isinstance(value, list) and all(isinstance(entry, dict) for entry in value)


def _limit(limit):
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise HistoryError("limit must be an integer >= 1, got %r" % (limit,))
    return limit


def append(history, entry, limit=DEFAULT_LIMIT):
    """``history`` with ``entry`` added, the newest ``limit`` entries kept (neither argument is modified).

    An entry equal to the last one is not added again: recording the same interval twice (a retried
    status write, a resumed run) must not make it look like two intervals."""
    limit = _limit(limit)
    if history is None:
        history = []
    if not valid_history(history):
        raise HistoryError("history must be a list of entries (dicts), got %r" % (history,))
    if not isinstance(entry, dict):
        raise HistoryError("a history entry must be a dict, got %r" % (entry,))
    result = copy.deepcopy(history)
    if not result or result[-1] != entry:
        result.append(copy.deepcopy(entry))
    return result[-limit:]


def _short(text):
    text = "" if text is None else str(text)
    return text if len(text) <= MESSAGE_LIMIT else text[:MESSAGE_LIMIT - 3] + "..."


def metric_of(item):
    """One metric of canary_metric_check's result as the history keeps it (the query is left out: it is long
    and the same every interval)."""
    if not isinstance(item, dict) or "name" not in item:
        raise HistoryError("a metric result must be a dict with a name, got %r" % (item,))
    metric = {"name": str(item["name"]), "value": item.get("value"), "status": item.get("status"),
              "message": _short(item.get("message"))}
    if item.get("threshold_range") is not None:
        metric["threshold_range"] = {"min": item["threshold_range"].get("min"), "max": item["threshold_range"].get("max")}
    else:
        # canary_compare's metrics carry a classification (Pass, High, Low, NoData) instead of a range.
        judgment = item.get("judgment", item.get("classification"))
        if judgment is not None:
            metric["judgment"] = str(judgment)
    return metric


def entry_of(verdict, check, weight, phase, at):
    """The history entry of one interval.

    ``verdict``: the judge's answer (analysis/judge.py ``decide``: action, state, message, events, reason, phase);
    ``check``: canary_metric_check's result (``metrics``), or None when the interval checked nothing;
    ``weight`` / ``phase``: what the role recorded, None to take the verdict's (``state.weight``, ``phase``);
    ``at``: the RFC 3339 time of the interval."""
    if not isinstance(verdict, dict) or not verdict.get("action"):
        raise HistoryError("verdict must be the judge's answer (a dict with an action), got %r" % (verdict,))
    if not at or not isinstance(at, str):
        raise HistoryError("at must be an RFC 3339 time, got %r" % (at,))
    if weight is None:
        weight = (verdict.get("state") or {}).get("weight")
    if phase is None:
        phase = verdict.get("phase")
    events = verdict.get("events") or []
    event = verdict.get("message") or (events[-1].get("text") if events else "")
    metrics = [metric_of(item) for item in ((check or {}).get("metrics") or [])]
    entry = {"at": at, "weight": weight, "phase": phase, "action": verdict["action"], "metrics": metrics,
             "event": _short(event)}
    if verdict.get("reason"):
        entry["reason"] = _short(verdict["reason"])
    return entry


def closing_entry(patch, at):
    """The entry of a run's end that no interval's decision recorded: the rollback of a canary that the judge did not
    roll back (a progress deadline, a dead load generator, an abort outside an interval, the abort playbook), or the
    completed promotion (the canary back at 0). ``patch``: the status being recorded. None for any other record."""
    phase = patch.get("phase")
    if phase not in ("Failed", "Succeeded"):
        return None
    entry = {"at": at, "weight": patch.get("canary_weight", 0), "phase": phase,
             "action": "rollback" if phase == "Failed" else "promoted", "metrics": [], "event": _short(patch.get("message"))}
    if phase == "Failed" and patch.get("reason"):
        entry["reason"] = _short(patch["reason"])
    return entry


def record(patch, current, entry=None, at=None, limit=DEFAULT_LIMIT):
    """The status ``patch`` with its ``history`` when this record adds to it (the patch unchanged otherwise).

    ``current``: the status as last read or written (its ``history`` and ``started_at``); ``entry``: the entry of the
    interval the judge decided (entry_of), None when the record is not an interval's. A patch that starts a new analysis
    (a ``started_at`` other than the current one) starts a new history: a report shows the analysis of one revision.
    A Failed record after a rollback entry adds nothing more (closing_entry). An entry takes the patch's
    ``canary_weight`` and ``phase`` when it has them: what the run recorded with it."""
    if not isinstance(patch, dict):
        raise HistoryError("the status to record must be a dict, got %r" % (patch,))
    current = current if isinstance(current, dict) else {}
    entries = current.get("history") or []
    restarted = bool(patch.get("started_at")) and patch.get("started_at") != current.get("started_at")
    if restarted:
        entries = []
    if entry is None:
        entry = closing_entry(patch, at)
        last = entries[-1] if entries else {}
        if entry is not None and entry["action"] == "rollback" and last.get("action") == "rollback":
            entry = None
    if entry is None and not restarted:
        return patch
    if entry is not None:
        # the weight and the phase recorded with the entry are the ones the run set (a rollback's 0 and Failed)
        entry = dict(entry, **dict((key, patch[field]) for key, field in (("weight", "canary_weight"), ("phase", "phase"))
                                   if patch.get(field) is not None))
        entries = append(entries, entry, limit)
    return dict(patch, history=entries)
