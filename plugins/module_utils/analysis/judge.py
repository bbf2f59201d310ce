# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The judge: what one interval of an analysis decides, as Flagger's scheduler decides it.

``start`` gives the position an analysis begins at (a new revision, or an interrupted run
resumed on the schedule it has now); ``decide`` takes that position, the schedule and what the
interval brought (an operator's request, a new revision, the metric checks) and answers with the
action, the next position, the weight to route, the reason and the events in Flagger's words. The
role only carries the answer out, so every decision of the loop lives here.

Plain Python: no Ansible, no network.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

ADVANCE = "advance"      # route the next step's weight
HALT = "halt"            # a failed check below the threshold: the weight holds
PROMOTE = "promote"      # the last step passed, or a promotion was requested
ROLLBACK = "rollback"    # threshold reached, or an abort was requested
RESTART = "restart"      # a new revision arrived: back to weight 0, analysis from the start
ACTIONS = (ADVANCE, HALT, PROMOTE, ROLLBACK, RESTART)


class JudgeError(ValueError):
    """The state or the schedule handed to the judge is inconsistent; the message says how."""


def _int(value, name, minimum):
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise JudgeError("%s must be an integer >= %d, got %r" % (name, minimum, value))
    return value


def _weights(steps):
    if not steps:
        raise JudgeError("the schedule has no step")
    return [int(step["weight"]) if isinstance(step, dict) else int(step) for step in steps]


def event(text, kind="Normal"):
    return {"text": text, "type": kind}


def max_iterations(steps, threshold, failed_checks=0):
    """How many intervals an analysis can take at most: every step, plus every failed check still allowed, plus one."""
    return len(_weights(steps)) + max(_int(threshold, "threshold", 1) - failed_checks, 0) + 1


def start(status, decision, steps, threshold, canary):
    """Where an analysis of ``canary`` (``name.namespace``) begins.

    ``decision`` is canary_state's revision decision: ``new`` / ``restart`` start from scratch,
    ``resume`` continues the recorded position. A resumed run whose schedule changed meanwhile
    continues at the highest step of the new schedule not above the recorded weight (never more
    traffic than the canary had), and says so.
    """
    weights = _weights(steps)
    _int(threshold, "threshold", 1)
    status = status or {}
    state = {"step": -1, "weight": 0, "failed_checks": 0, "iterations": 0}
    events = []
    if decision == "resume":
        weight = int(status.get("canary_weight") or 0)
        state.update(failed_checks=int(status.get("failed_checks") or 0), iterations=int(status.get("iterations") or 0))
        recorded = status.get("schedule")
        below = [index for index, step_weight in enumerate(weights) if step_weight <= weight]
        state["step"] = below[-1] if below else -1
        state["weight"] = weights[state["step"]] if below else 0
        if recorded is not None and list(recorded) != weights:
            events.append(event("Schedule of %s changed since the interrupted run (%s, now %s): resuming at canary weight %d"
                                % (canary, recorded, weights, state["weight"]), "Warning"))
        events.append(event("Resuming the analysis of %s at canary weight %d (failed checks %d, phase %s)"
                            % (canary, state["weight"], state["failed_checks"], status.get("phase"))))
    elif decision == "restart":
        events.append(event("New revision detected! Restarting analysis for %s" % canary))
    else:
        events.append(event("New revision detected! Scaling up %s" % canary))
    state["max_iterations"] = max_iterations(weights, threshold, state["failed_checks"])
    return {"state": state, "events": events, "schedule": weights}


def _request_reason(outcome, request):
    reason = outcome.get("request_reason")
    if reason:
        return reason
    by = outcome.get("requested_by")
    return "%s requested%s" % (request, (" by " + by) if by else "")


def decide(state, steps, threshold, outcome, canary):
    """The decision of one interval.

    ``state``: step (-1 before the first), weight, failed_checks, iterations.
    ``outcome``: ``interrupted`` (abort, promote, revision or None), ``requested_by`` and
    ``request_reason`` of an operator's request, ``check`` (canary_metric_check's result, or None
    when no metric is configured), ``opening`` (true once the canary is ready: traffic moves to the
    first step, or back to the recorded weight of a resumed run, without a check and without
    counting an interval - Flagger checks no metric at weight 0).

    Order of precedence, as Flagger: an abort, then a new revision, then a promotion request, then
    the metrics. Failed checks count in total (reset only by a new revision); at ``threshold``
    the canary is rolled back; after the last step passed it is promoted.
    """
    weights = _weights(steps)
    _int(threshold, "threshold", 1)
    current = {key: state.get(key) for key in ("step", "weight", "failed_checks", "iterations")}
    _int(current["step"], "state.step", -1)
    _int(current["failed_checks"], "state.failed_checks", 0)
    _int(current["iterations"], "state.iterations", 0)
    if current["step"] >= len(weights):
        raise JudgeError("state.step %d is past the last step of the schedule %s" % (current["step"], weights))
    nxt = dict(current, iterations=current["iterations"] + 1)
    answer = {"action": None, "state": nxt, "route_weight": None, "reason": None, "events": []}
    interrupted = outcome.get("interrupted")

    if interrupted == "abort":
        answer.update(action=ROLLBACK, reason=_request_reason(outcome, "abort"))
        answer["events"].append(event("Rolling back %s %s" % (canary, answer["reason"]), "Warning"))
    elif interrupted == "revision":
        answer.update(action=RESTART, route_weight=0, reason="a new revision was pushed during the analysis")
        # start() says "New revision detected! Restarting analysis" when the analysis begins again.
        answer["state"] = {"step": -1, "weight": 0, "failed_checks": 0, "iterations": 0}
    elif interrupted == "promote":
        answer.update(action=PROMOTE, reason=_request_reason(outcome, "promotion"))
        answer["events"].append(event("Skipping the rest of the analysis of %s: %s" % (canary, answer["reason"])))
    elif interrupted:
        raise JudgeError("outcome.interrupted must be abort, promote, revision or null, got %r" % (interrupted,))
    elif outcome.get("opening"):
        answer["state"] = nxt = dict(current)
        if current["step"] < 0:
            nxt.update(step=0, weight=weights[0])
            answer["events"].extend([event("Starting canary analysis for %s" % canary),
                                     event("Advance %s canary weight %d" % (canary, weights[0]))])
        answer.update(action=ADVANCE, route_weight=nxt["weight"])
    else:
        check = outcome.get("check")
        if check is not None and not check.get("passed"):
            because = ", ".join(m.get("message") or m.get("name", "?") for m in check.get("metrics") or []
                                if m.get("status") != "pass") or "metric checks failed"
            nxt["failed_checks"] = current["failed_checks"] + 1
            answer["events"].append(event("Halt %s advancement %s" % (canary, because), "Warning"))
            if nxt["failed_checks"] >= threshold:
                answer.update(action=ROLLBACK, reason="failed checks threshold reached %d (%s)" % (nxt["failed_checks"], because))
                answer["events"].append(event("Rolling back %s %s" % (canary, answer["reason"]), "Warning"))
            else:
                answer["action"] = HALT
        elif current["step"] >= len(weights) - 1:
            answer["action"] = PROMOTE
        else:
            nxt["step"] = current["step"] + 1
            nxt["weight"] = weights[nxt["step"]]
            answer.update(action=ADVANCE, route_weight=nxt["weight"])
            answer["events"].append(event("Advance %s canary weight %d" % (canary, nxt["weight"])))
    answer["message"] = answer["events"][-1]["text"] if answer["events"] else ""
    return answer
