# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters by which the rollout role keeps the bounded history of a rollout in its status
(plugins/module_utils/state/history.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.progressive.delivery.plugins.module_utils.state import history, status


def canary_history_append(entries, entry, limit=history.DEFAULT_LIMIT):
    """``entries`` with ``entry`` added, the newest ``limit`` kept (see history.append)."""
    try:
        return history.append(entries, entry, int(limit))
    except (history.HistoryError, TypeError, ValueError) as exc:
        raise AnsibleFilterError("canary_history_append: %s" % exc)


def canary_history_entry(verdict, check=None, weight=None, phase=None, at=None):
    """The history entry of one interval from the judge's answer and the metric check (see history.entry_of);
    ``at`` defaults to now, so a task can leave it out."""
    try:
        return history.entry_of(verdict, check, weight, phase, at or status.now_rfc3339())
    except history.HistoryError as exc:
        raise AnsibleFilterError("canary_history_entry: %s" % exc)


def canary_history_record(patch, current=None, entry=None, limit=history.DEFAULT_LIMIT):
    """The status ``patch`` with the history it adds to ``current`` (see history.record); the time is now."""
    try:
        return history.record(patch, current, entry, status.now_rfc3339(), int(limit))
    except (history.HistoryError, TypeError, ValueError) as exc:
        raise AnsibleFilterError("canary_history_record: %s" % exc)


class FilterModule(object):
    def filters(self):
        return {
            "canary_history_append": canary_history_append,
            "canary_history_entry": canary_history_entry,
            "canary_history_record": canary_history_record,
        }
