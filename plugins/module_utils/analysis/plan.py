# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The dry-run plan of a rollout: what a run would do with the revision it finds, step by step with the time
of each step, the approvals and hooks it would wait for, and when it would be done.

``--check --diff`` on the rollout playbook prints this instead of running the analysis, with the objects
the first writes would change shown by the modules' own check-mode diffs. Plain Python: no Ansible, no network.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.progressive.delivery.plugins.module_utils.analysis.thresholds import fmt_number
from ansible_collections.progressive.delivery.plugins.module_utils.state import status as st

ANALYSED = (st.NEW, st.RESTART, st.RESUME, st.REVERTED)


def _step_seconds(step, interval):
    """How long a step holds before the next (None: until promoted by hand)."""
    pause = step.get("pause") or {}
    if pause.get("indefinite"):
        return None
    return max(int(pause.get("intervals") or 1), 1) * interval


def _describe_route(step):
    parts = ["weight %d%%" % step["weight"]]
    if step.get("match"):
        parts.append("requests matching %s to the canary" % (step["match"],))
    if step.get("mirror"):
        parts.append("mirroring %s%% of the primary's traffic" % step.get("mirror_weight", 100))
    if step.get("iterations"):
        parts.append("iteration %d/%d" % (step["iteration"], step["iterations"]))
    if (step.get("pause") or {}).get("indefinite"):
        parts.append("then pause until progressive.delivery.promote")
    elif (step.get("pause") or {}).get("duration"):
        parts.append("then pause %s" % step["pause"]["duration"])
    return ", ".join(parts)


def _clock(seconds):
    seconds = int(round(seconds))
    minutes, rest = divmod(seconds, 60)
    return "+%dm%02ds" % (minutes, rest) if minutes else "+%ds" % rest


def _schedule(rollout, start_step):
    interval = float(rollout["interval_seconds"])
    steps, at, indefinite = [], 0.0, False
    for index, step in enumerate(rollout["steps"]):
        if index < start_step:
            continue
        hold = _step_seconds(step, interval)
        steps.append({"step": index, "weight": step["weight"], "route": _describe_route(step),
                      "at_seconds": None if indefinite else at, "hold_seconds": hold})
        if hold is None:
            indefinite = True
        else:
            at += hold
    return steps, (None if indefinite else at)


def _promotion_seconds(rollout, weight):
    """The promotion's own time: one interval per step of step_weight_promotion, then the scale-down delay."""
    promotion = rollout.get("step_weight_promotion")
    intervals = 0
    if promotion:
        intervals = -(-max(int(weight), 0) // int(promotion))
    return intervals * float(rollout["interval_seconds"]) + float(rollout.get("scale_down_delay") or 0)


def plan(rollout, decision, status=None, revision=None, initialized_hash=None):
    """The plan of a run: ``{action, revision, promoted, steps, promotion_at_seconds, eta_seconds, approvals, hooks, lines}``.

    ``rollout``: the role's validated settings (settings.validate). ``decision``: the revision decision
    (state.status.revision_decision). ``status``: the persisted status (a resumed analysis starts after its
    step). ``revision``: the target's hash now. ``initialized_hash``: with decision ``initialize``, the
    revision the initialization would record as promoted (canary_init's answer in check mode); the run
    then analyses the target only if it differs (subset mode, a target changed before its first run).
    """
    status = dict(status or {})
    initialize = decision == st.INITIALIZE
    if initialize:
        status = {"last_promoted_hash": initialized_hash}
        decision = st.UNCHANGED if initialized_hash == revision else st.NEW
    promoted = status.get("last_promoted_hash")
    hooks = rollout.get("hooks") or {}
    result = {"action": "nothing", "decision": decision, "initialize": bool(initialize), "revision": revision, "promoted": promoted,
              "strategy": rollout.get("strategy"), "steps": [], "promotion_at_seconds": None, "eta_seconds": None,
              "approvals": sorted(gate for gate, asked in (hooks.get("approvals") or {}).items() if asked),
              "hooks": dict((kind, list(names)) for kind, names in (hooks.get("hooks") or {}).items()), "lines": []}
    lines = result["lines"]
    if initialize:
        lines.append("initialize the canary: create or check the routing objects and the primary (the diffs above)")
    if decision == st.UNCHANGED or decision is None:
        lines.append("no new revision: the primary runs %s; nothing else would be done" % (promoted or revision))
        return result
    if decision == st.ROLLED_BACK:
        result["action"] = "skip"
        lines.append("revision %s was rolled back before (%s); it would not be analysed again" % (revision, status.get("reason") or "no reason"))
        return result
    if decision not in ANALYSED:
        raise ValueError("unknown revision decision %r" % (decision,))
    result["action"] = "analyse"
    start = int(status.get("step", -1)) + 1 if decision == st.RESUME else 0
    steps, done_at = _schedule(rollout, max(start, 0))
    result["steps"] = steps
    verb = {st.RESUME: "resume the analysis of", st.RESTART: "restart the analysis with", st.REVERTED: "finish the interrupted analysis of"}
    lines.append("%s revision %s (the primary runs %s), strategy %s, one check every %ss, rollback after %d failed checks"
                 % (verb.get(decision, "analyse"), revision, promoted or "the initial revision", rollout.get("strategy"),
                    fmt_number(rollout["interval_seconds"]), rollout["threshold"]))
    if result["hooks"]:
        lines.append("webhooks: %s" % ", ".join("%s (%s)" % (kind, ", ".join(names)) for kind, names in sorted(result["hooks"].items())))
    if result["approvals"]:
        lines.append("approvals waited for (at most %ss each): %s" % (hooks.get("approval_timeout"), ", ".join(result["approvals"])))
    lines.append("scale the canary up, wait until it is ready (at most %ss), then:" % rollout.get("progress_deadline_seconds"))
    for step in steps:
        when = _clock(step["at_seconds"]) if step["at_seconds"] is not None else "after the pause"
        lines.append("  %s step %d: %s" % (when, step["step"], step["route"]))
    last_weight = steps[-1]["weight"] if steps else 0
    if done_at is None:
        lines.append("then promote once progressive.delivery.promote is run; no ETA")
        return result
    result["promotion_at_seconds"] = done_at
    result["eta_seconds"] = done_at + _promotion_seconds(rollout, last_weight)
    lines.append("  %s promote: %s %s, route 100%% to it%s, scale the canary down after %ss"
                 % (_clock(done_at), "update in place the stable Deployment" if rollout.get("subset_mode") else "copy the canary to",
                    rollout["names"]["primary"],
                    " by %d%% per interval" % rollout["step_weight_promotion"] if rollout.get("step_weight_promotion") else "",
                    rollout.get("scale_down_delay")))
    lines.append("ETA %s after the canary is ready, if every check passes%s" % (
        _clock(result["eta_seconds"]), " and every approval is given at once" if result["approvals"] else ""))
    return result
