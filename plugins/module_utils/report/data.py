# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The data of a report: what the page shows and the JSON file holds, from a rollout's status.

Only what is in the status goes in (no time of generation), so the same status gives the same bytes.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

# The fields of the status a report shows besides the history, in the order of the summary.
SUMMARY_FIELDS = ("phase", "canary_weight", "failed_checks", "iterations", "reason", "message", "started_at",
                  "last_transition_time", "last_applied_hash", "last_promoted_hash")
# The actions the timeline marks (the others are the ordinary walk of the schedule).
MARKED_ACTIONS = ("halt", "rollback", "promote")


class ReportError(ValueError):
    """The status cannot be reported; the message says why."""


def metric_names(history):
    """Every metric in the history, in the order it first appears."""
    names = []
    for entry in history:
        for metric in entry.get("metrics") or []:
            if metric.get("name") not in names:
                names.append(metric.get("name"))
    return names


def report_data(status, target, namespace):
    """``{canary, summary, history, metrics}`` for ``status`` (a dict, the ConfigMap's ``status.json``)."""
    if not isinstance(status, dict):
        raise ReportError("status must be a dict (the rollout's status), got %r" % (status,))
    history = status.get("history") or []
    if not isinstance(history, list) or not all(isinstance(entry, dict) for entry in history):
        raise ReportError("status.history must be a list of entries (dicts)")
    return {
        "canary": "%s.%s" % (target, namespace),
        "summary": dict((key, status.get(key)) for key in SUMMARY_FIELDS),
        "history": history,
        "metrics": metric_names(history),
    }


def to_json(data):
    """The JSON file's text: sorted keys, so the same data always gives the same bytes."""
    return json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
