# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters by which the rollout role validates its settings and asks the judge what an interval decides
(plugins/module_utils/analysis/settings.py and judge.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible.errors import AnsibleFilterError

from ansible_collections.progressive.delivery.plugins.module_utils.analysis import fast_abort, judge, plan, settings


def rollout_settings(variables):
    """Validate the role's variables (a dict of target, namespace, analysis, ...); the normalised settings."""
    if not isinstance(variables, dict):
        raise AnsibleFilterError("rollout_settings expects a dict of the rollout's variables, got %r" % (variables,))
    kubeconfig = variables.get("kubeconfig")
    if kubeconfig and not os.path.isfile(os.path.expanduser(str(kubeconfig))):
        raise AnsibleFilterError("rollout_kubeconfig: the kubeconfig file %s does not exist; set rollout_kubeconfig to the path "
                                 "of your kubeconfig, or leave it empty to use K8S_AUTH_KUBECONFIG or ~/.kube/config (nothing was changed in the cluster)"
                                 % kubeconfig)
    try:
        return settings.validate(variables)
    except settings.SettingsError as exc:
        raise AnsibleFilterError("rollout settings: %s (nothing was changed in the cluster)" % exc)


def _canary(canary):
    if not canary:
        raise AnsibleFilterError("the canary's name.namespace is required")
    return canary


def canary_judge_start(status, decision, rollout, canary):
    """Where an analysis begins: ``{state, events, schedule}`` (see judge.start)."""
    try:
        hooks = rollout.get("hooks") or {}
        return judge.start(status, decision, rollout["steps"], rollout["threshold"], _canary(canary), rollout.get("limits"),
                           hooks.get("approval_intervals") or 0, hooks.get("approvals"), route_drift=rollout.get("route_drift"))
    except (judge.JudgeError, KeyError, TypeError) as exc:
        raise AnsibleFilterError("canary_judge_start: %s" % exc)


def canary_judge(state, rollout, outcome, canary):
    """The decision of one interval: ``{action, state, route_weight, route, reason, events, message, outcome, phase, limit,
    confirm}`` (see judge.decide)."""
    keys = ("step", "weight", "failed_checks", "iterations") + judge.COUNTERS
    hooks = rollout.get("hooks") or {}
    try:
        return judge.decide(dict((k, int(v)) for k, v in state.items() if k in keys),
                            rollout["steps"], rollout["threshold"], outcome or {}, _canary(canary), rollout.get("limits"),
                            hooks.get("approvals"), hooks.get("approval_intervals"), rollout.get("progress_deadline_seconds"),
                            route_drift=rollout.get("route_drift") or judge.REASSERT)
    except (judge.JudgeError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise AnsibleFilterError("canary_judge: %s" % exc)


def rollout_plan(rollout, decision, status=None, revision=None, initialized_hash=None):
    """The dry-run plan of a run (see analysis/plan.py)."""
    try:
        return plan.plan(rollout, decision, status, revision, initialized_hash)
    except (KeyError, TypeError, ValueError) as exc:
        raise AnsibleFilterError("rollout_plan: %s" % exc)


def rollout_fast_abort(rollout, preflight=None):
    """The fast abort a run uses: rollout.fast_abort with its poll checked against the scrape interval the preflight
    metric check read (``preflight.window.scrape_interval_seconds``), ``poll`` and ``poll_source`` set."""
    given = dict((rollout or {}).get("fast_abort") or {"enabled": False})
    if not given.get("enabled"):
        return given
    window = (preflight.get("window") or {}) if isinstance(preflight, dict) else {}
    try:
        chosen = fast_abort.check_poll(given.get("poll"), window.get("scrape_interval_seconds"))
    except fast_abort.FastAbortError as exc:
        raise AnsibleFilterError("rollout settings: %s (nothing was changed in the cluster)" % exc)
    given.update(poll=chosen["poll"], poll_source=chosen["source"])
    return given


class FilterModule(object):
    def filters(self):
        return {
            "rollout_settings": rollout_settings,
            "canary_judge_start": canary_judge_start,
            "canary_judge": canary_judge,
            "rollout_plan": rollout_plan,
            "rollout_fast_abort": rollout_fast_abort,
        }
