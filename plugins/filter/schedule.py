# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters exposing the analysis schedules (plugins/module_utils/analysis/schedule.py) to roles."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.progressive.delivery.plugins.module_utils.analysis import schedule


_STRATEGY_OPTIONS = ("iterations", "match", "mirror", "mirror_weight", "session_affinity", "steps", "interval_seconds")


def canary_steps(analysis, strategy="canary"):
    """``analysis`` is a dict with max_weight, step_weight, step_weights (Flagger's names) and the other
    strategies' settings; ``strategy`` ``auto`` chooses it from them as Flagger does."""
    if not isinstance(analysis, dict):
        raise AnsibleFilterError("canary_steps expects a dict with max_weight, step_weight, step_weights, got %r" % (analysis,))
    try:
        strategy = schedule.select_strategy(analysis, strategy)
        return schedule.analysis_steps(
            strategy=strategy,
            max_weight=analysis.get("max_weight"),
            step_weight=analysis.get("step_weight"),
            step_weights=analysis.get("step_weights") or None,
            **dict((key, analysis[key]) for key in _STRATEGY_OPTIONS if analysis.get(key) is not None)
        )
    except schedule.ScheduleError as exc:
        raise AnsibleFilterError("rollout analysis: %s" % exc)


def canary_promotion_weights(canary_weight, step_weight_promotion=None):
    try:
        return schedule.promotion_weights(int(canary_weight), step_weight_promotion)
    except (schedule.ScheduleError, TypeError, ValueError) as exc:
        raise AnsibleFilterError("rollout promotion: %s" % exc)


def canary_duration_seconds(value, field="interval"):
    try:
        return schedule.duration_seconds(value, field)
    except schedule.ScheduleError as exc:
        raise AnsibleFilterError("rollout: %s" % exc)


class FilterModule(object):
    def filters(self):
        return {
            "canary_steps": canary_steps,
            "canary_promotion_weights": canary_promotion_weights,
            "canary_duration_seconds": canary_duration_seconds,
        }
