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

from ansible_collections.progressive.delivery.plugins.module_utils.analysis.schedule import route_of

ADVANCE = "advance"      # route the next step's weight
HALT = "halt"            # a failed check below the threshold: the weight holds
PROMOTE = "promote"      # the last step passed, or a promotion was requested
ROLLBACK = "rollback"    # threshold reached, or an abort was requested
RESTART = "restart"      # a new revision arrived: back to weight 0, analysis from the start
WAIT = "wait"            # a pause step holds the route: for its duration, or until a promotion request
CONFIRM = "confirm"      # ask the approval named in ``confirm`` (its webhooks, its gate), then ask the judge again
ACTIONS = (ADVANCE, HALT, PROMOTE, ROLLBACK, RESTART, WAIT, CONFIRM)
# The approvals a run may wait for (state/gates.py names): before a weight increase, before the promotion.
TRAFFIC, PROMOTION = "traffic", "promotion"

# What one interval's metric checks amount to (classify): a pass, a breach, a query error, no data.
PASSED, FAILED, ERROR, INCONCLUSIVE = "passed", "failed", "error", "inconclusive"
# Argo's failure accounting, beside Flagger's total count (threshold); None = off. With any of them set,
# consecutive_error_limit defaults to Argo's 4 (settings.py).
LIMITS = ("failure_limit", "inconclusive_limit", "consecutive_error_limit")
# Counters of the position beyond Flagger's four; they appear in a state once they were non-zero.
# ``waiting``: intervals in a row spent waiting for an approval (a confirmation, an indefinite pause).
# ``reasserted``: intervals in a row whose route someone else changed, set again (rollout_analysis.route_drift reassert).
COUNTERS = ("consecutive_failures", "consecutive_errors", "inconclusive", "held", "waiting", "reasserted")
# What a run does when someone else changed its route mid-analysis (rollout_analysis.route_drift): set it again and
# not judge the interval (Flagger re-asserts its routes every tick), or roll back.
REASSERT, ABORT = "reassert", "abort"
ROUTE_DRIFT_ACTIONS = (REASSERT, ABORT)


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


def _steps(steps):
    _weights(steps)
    return [step if isinstance(step, dict) else {"weight": int(step)} for step in steps]


def step_route(step):
    """What the role applies when ``step`` begins (schedule.route_of)."""
    return route_of(step)


def _step_intervals(step, indefinite_pause_intervals):
    pause = step.get("pause") if isinstance(step, dict) else None
    if not pause:
        return 1
    if pause.get("indefinite"):
        return 1 + indefinite_pause_intervals
    return max(int(pause.get("intervals") or 1), 1)


def limits_of(limits):
    """The failure accounting limits (LIMITS), each None (off) or an integer >= 0."""
    limits = limits or {}
    result = {}
    for name in LIMITS:
        value = limits.get(name)
        result[name] = None if value is None else _int(value, name, 0)
    return result


def classify(check, limits=None):
    """What the interval's checks amount to: PASSED, FAILED (a breach), ERROR (a query failed) or INCONCLUSIVE (no data).

    ``check`` is canary_metric_check's result (None without metrics: a pass). A breach wins over an
    error, an error over no data. Errors and no data are told apart only when their limit is set
    (``consecutive_error_limit``, ``inconclusive_limit``); otherwise they are failed checks, as in Flagger.
    """
    limits = limits_of(limits)
    if check is None or check.get("passed"):
        return PASSED
    statuses = set(m.get("status") for m in check.get("metrics") or [])
    if "fail" in statuses or not statuses:
        return FAILED
    if "error" in statuses:
        return ERROR if limits["consecutive_error_limit"] is not None else FAILED
    # no data, or a Marginal verdict of the canary-versus-primary judgment (analysis/versus.py), as Argo counts Kayenta's
    if "no_data" in statuses or "inconclusive" in statuses:
        return INCONCLUSIVE if limits["inconclusive_limit"] is not None else FAILED
    return FAILED


def event(text, kind="Normal"):
    return {"text": text, "type": kind}


def approvals_of(approvals):
    """The approvals asked for (TRAFFIC, PROMOTION): ``{name: bool}``."""
    approvals = approvals or {}
    return {TRAFFIC: bool(approvals.get(TRAFFIC)), PROMOTION: bool(approvals.get(PROMOTION))}


def max_iterations(steps, threshold, failed_checks=0, limits=None, indefinite_pause_intervals=0, approvals=None, route_drift=None):
    """How many intervals an analysis can take at most: every step (a timed pause its intervals, an
    indefinite one ``indefinite_pause_intervals`` more), plus every failed check still allowed, plus
    the inconclusive results and query errors allowed when they are counted apart, plus the waits for
    each approval asked for (``indefinite_pause_intervals`` each; the traffic approvals share one), plus one; with
    ``route_drift`` REASSERT also the re-asserted intervals allowed (``threshold`` in a row, before every step and after the last)."""
    steps = _steps(steps)
    limits = limits_of(limits)
    total = sum(_step_intervals(step, indefinite_pause_intervals) for step in steps)
    total += sum(indefinite_pause_intervals for asked in approvals_of(approvals).values() if asked)
    total += max(_int(threshold, "threshold", 1) - failed_checks, 0) + 1
    if limits["inconclusive_limit"] is not None:
        total += limits["inconclusive_limit"] + 1
    if limits["consecutive_error_limit"] is not None:
        # errors in a row up to the limit, before every step and after the last
        total += limits["consecutive_error_limit"] * (len(steps) + 1)
    if route_drift == REASSERT:
        total += int(threshold) * (len(steps) + 1)
    return total


def start(status, decision, steps, threshold, canary, limits=None, indefinite_pause_intervals=0, approvals=None, route_drift=None):
    """Where an analysis of ``canary`` (``name.namespace``) begins.

    ``decision`` is canary_state's revision decision: ``new`` / ``restart`` start from scratch,
    ``resume`` continues the recorded position. A resumed run whose schedule changed meanwhile
    continues at the highest step of the new schedule not above the recorded weight (never more
    traffic than the canary had), and says so; on a schedule whose steps share a weight (A/B and
    Blue/Green iterations, Argo route steps) at the recorded step, never past it. A resumed run keeps the counters of the failure
    accounting (COUNTERS) its status recorded. ``limits``, ``indefinite_pause_intervals`` (how long an
    approval is waited for, in intervals), ``approvals`` and ``route_drift`` only bound the loop (``max_iterations``).
    """
    weights = _weights(steps)
    _int(threshold, "threshold", 1)
    status = status or {}
    state = {"step": -1, "weight": 0, "failed_checks": 0, "iterations": 0}
    events = []
    if decision == "resume":
        weight = int(status.get("canary_weight") or 0)
        state.update(failed_checks=int(status.get("failed_checks") or 0), iterations=int(status.get("iterations") or 0))
        state.update((key, int(status[key])) for key in COUNTERS if status.get(key))
        recorded = status.get("schedule")
        below = [index for index, step_weight in enumerate(weights) if step_weight <= weight]
        step = status.get("step")
        if below and step is not None and len(set(weights)) < len(weights):
            # steps that share a weight (A/B and Blue/Green iterations, an Argo route step after a pause): the
            # recorded step says where the run was, and a resumed run never goes past it (nor past a pause)
            below = [index for index in below if index <= max(int(step), -1)]
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
    state["max_iterations"] = max_iterations(steps, threshold, state["failed_checks"], limits, indefinite_pause_intervals, approvals,
                                             route_drift)
    return {"state": state, "events": events, "schedule": weights}


def _request_reason(outcome, request):
    reason = outcome.get("request_reason")
    if reason:
        return reason
    by = outcome.get("requested_by")
    return "%s requested%s" % (request, (" by " + by) if by else "")


def _entering(step, canary, index, total):
    """The events of a step that begins, in Flagger's words (Argo's for what Flagger has not)."""
    events = []
    iteration = step.get("iteration")
    if iteration is not None:
        if iteration > 0:
            events.append(event("Advance %s canary iteration %d/%d" % (canary, iteration, step["iterations"])))
    elif step.get("kind") in (None, "set_weight"):
        events.append(event("Advance %s canary weight %d" % (canary, int(step["weight"]))))
    elif step.get("kind") == "set_header_route":
        events.append(event("Setting header route %s of %s" % (step["header_route"], canary)) if step.get("match")
                      else event("Removing the header route of %s" % canary))
    elif step.get("kind") == "set_mirror_route":
        if step.get("mirror"):
            share = " (%d%%)" % step["mirror_weight"] if step.get("mirror_weight") else ""
            events.append(event("Setting mirror route %s of %s%s" % (step["mirror_route"], canary, share)))
        else:
            events.append(event("Removing the mirror route of %s" % canary))
    pause = step.get("pause")
    if pause:
        events.append(event("Pausing %s at step %d/%d %s" % (canary, index + 1, total, "until promoted" if pause.get("indefinite")
                                                             else "for %s" % pause.get("duration"))))
    return events


def _counters(current, nxt, **values):
    """Set COUNTERS in ``nxt``; a counter enters a state once it is non-zero (Flagger's four keys stay alone)."""
    for key, value in values.items():
        if value or key in current:
            nxt[key] = value


def rollback_asked(outcome):
    """Why a rollback is asked for by the interval's answers, or None: ``rollback_requested`` as given, a ``rollback``
    webhook that passed (``rollback_webhooks``: canary_webhook's answer) or the rollback gate open (``rollback_gate``:
    canary_gate's answer), as Flagger's load tester ``/rollback/check`` asks for it."""
    if outcome.get("rollback_requested"):
        return str(outcome["rollback_requested"])
    hooks = outcome.get("rollback_webhooks") or {}
    if hooks.get("rollback"):
        names = [hook["name"] for hook in hooks.get("hooks") or [] if hook.get("passed")]
        return "manual webhook invoked" + (" (%s)" % ", ".join(names) if names else "")
    if (outcome.get("rollback_gate") or {}).get("passed"):
        return "manual gate invoked (the rollback gate is open)"
    return None


def _because(check, hook_failures=()):
    return ", ".join(list(hook_failures) + [m.get("message") or m.get("name", "?") for m in (check or {}).get("metrics") or []
                                            if m.get("status") != "pass"]) or "metric checks failed"


_WAITING_FOR = {TRAFFIC: "traffic increase approval", PROMOTION: "promotion approval"}


def unhealthy(outcome, canary, progress_deadline_seconds=None):
    """Why the canary must go now by its pods (``outcome.health``: canary_wait's health answer), or None: a container
    crash-looping, failing to pull or restarting; or the canary not fully ready for longer than the progress deadline
    (Flagger's stuck detection, applied during the analysis too)."""
    health = outcome.get("health") or {}
    if not health:
        return None
    if health.get("healthy") is False:
        return health.get("reason") or "canary %s is unhealthy" % canary
    stuck = health.get("stuck_seconds") or 0
    if progress_deadline_seconds and stuck > progress_deadline_seconds:
        return ("progress deadline exceeded canary deployment %s not ready for %d s (%s of %s replicas ready)"
                % (canary, stuck, health.get("ready_replicas"), health.get("desired_replicas")))
    return None


def route_drifted(current, answer, drift, threshold, action, here, roll_back):
    """The decision of an interval whose route someone else changed (see decide): re-assert, or roll back."""
    if action not in ROUTE_DRIFT_ACTIONS:
        raise JudgeError("route_drift must be one of %s, got %r" % (", ".join(ROUTE_DRIFT_ACTIONS), action))
    found = drift.get("found")
    expected = drift.get("expected")
    shown = "(canary %s, expected %d %%)" % ("no route" if found is None else "%d %%" % found,
                                             current["weight"] if expected is None else int(expected))
    reason = "route changed by someone else mid-analysis %s" % shown
    reasserted = current.get("reasserted", 0) + 1
    if action == ABORT:
        roll_back("route_drift", reason)
    elif reasserted > threshold:
        roll_back("route_drift", "%s: re-asserted %d times in a row, more than the threshold %d" % (reason, reasserted - 1, threshold))
    else:
        # not judged: the position and its counters stay, no iteration is counted; the state's route is set again
        answer["state"] = dict(current)
        _counters(current, answer["state"], reasserted=reasserted)
        text = "route of %s changed by someone else %s: re-asserted, this interval is not judged" % (drift.get("route") or "the canary", shown)
        answer.update(action=HALT, route_weight=current["weight"], reason=text,
                      route=step_route(here) if here else step_route({"weight": current["weight"]}))
        answer["events"].append(event(text, "Warning"))


def decide(state, steps, threshold, outcome, canary, limits=None, approvals=None, approval_intervals=None,
           progress_deadline_seconds=None, route_drift=REASSERT):
    """The decision of one interval.

    ``state``: step (-1 before the first), weight, failed_checks, iterations, and the COUNTERS
    (consecutive_failures, consecutive_errors, inconclusive, held: intervals spent in a pausing step),
    0 when absent.
    ``steps``: the schedule (schedule.analysis_steps), any strategy: the judge walks it the same way.
    ``outcome``: ``interrupted`` (abort, promote, revision or None), ``requested_by`` and
    ``request_reason`` of an operator's request, ``full`` (a promotion request skips the rest even at
    an indefinite pause), ``check`` (canary_metric_check's result, or None when no metric is
    configured), ``opening`` (true once the canary is ready: traffic moves to the first step, or back
    to the recorded step of a resumed run, without a check and without counting an interval - Flagger
    checks no metric at weight 0), ``hook_failures`` (the messages of the ``pre-rollout`` webhooks at the
    opening, of the ``rollout`` webhooks at an interval, that did not pass: a failed check, as Flagger
    counts them), ``rollback_webhooks`` / ``rollback_gate`` / ``rollback_requested`` (see rollback_asked),
    ``confirmation`` (``{gate, passed, message}``: the answer to a CONFIRM).
    ``limits``: Argo's failure accounting (LIMITS) beside ``threshold``, each None (off) or >= 0.
    ``approvals``: ``{traffic: bool, promotion: bool}``, the approvals this rollout asks for (a
    ``confirm-traffic-increase`` / ``confirm-promotion`` webhook or the gate listed); the judge answers
    CONFIRM (``confirm`` names it) before a weight increase or a promotion that needs one, and once told
    it was not given holds the weight (traffic: HALT) or waits (promotion: WAIT, phase WaitingPromotion),
    the metrics still checked every interval. ``approval_intervals``: how many intervals in a row it waits
    for an approval (or at an indefinite pause) before it rolls back (``limit`` approval_timeout); None: no end.
    ``outcome.health`` (canary_wait's look at the canary's pods) rolls back a crash-looping canary at once, and
    one not fully ready for longer than ``progress_deadline_seconds`` (``limit`` health, see unhealthy).
    ``outcome.interrupted`` ``fast_abort`` (canary_wait's fast abort, decided in ``outcome.fast_abort``) rolls back at
    once with the reason "fast abort: ..." (``limit`` fast_abort), counted as a failed check.
    ``outcome.interrupted`` ``route_drift`` (canary_wait found the split, ``outcome.route_drift``, not the one the run
    set): with ``route_drift`` REASSERT the interval is not judged (no check, no iteration counted) and the state's route
    is set again (HALT with ``route_weight``), a Warning event says so; more than ``threshold`` re-asserts in a row
    (COUNTERS ``reasserted``, reset by a judged interval) roll back, as ``route_drift`` ABORT does at once (``limit`` route_drift).

    Order of precedence, as Flagger: an abort, then a rollback asked by a webhook or the gate, then a new
    revision, then an unhealthy canary, then a promotion request, then the metrics. A promotion request that
    continues an indefinite pause instead of promoting is answered with ``consumed_request`` (the role clears it).
    Failed checks count in total (reset only by a new revision); at ``threshold``
    the canary is rolled back. With ``failure_limit`` failed checks also count in a row and more than
    that many in a row roll back (Argo: the limit is what is allowed); with ``consecutive_error_limit``
    query errors count apart, in a row, and more than the limit roll back; with
    ``inconclusive_limit`` intervals without data count apart, in total, likewise. A step with a timed
    pause holds for its intervals, an indefinite one answers WAIT until a promotion request, which
    then continues with the next step (Argo's promote; ``full`` skips the rest). After the last step
    passed the canary is promoted; a Blue/Green schedule's last step first switches all traffic to
    the canary (``switch``).

    The answer: ``action``, ``state`` (the next position), ``route_weight`` and ``route`` (step_route
    of the step to apply, or None when the route stays), ``reason``, ``events``, ``message`` (the last
    event), ``outcome`` (classify's word for the checks, or None), ``phase`` (WaitingPromotion at an
    indefinite pause, else Progressing) and ``limit`` (the limit that fired on a rollback:
    threshold, failure_limit, consecutive_error_limit or inconclusive_limit).
    """
    steps = _steps(steps)
    weights = _weights(steps)
    limits = limits_of(limits)
    _int(threshold, "threshold", 1)
    current = {key: state.get(key) for key in ("step", "weight", "failed_checks", "iterations")}
    _int(current["step"], "state.step", -1)
    _int(current["failed_checks"], "state.failed_checks", 0)
    _int(current["iterations"], "state.iterations", 0)
    for key in COUNTERS:
        if key in state:
            current[key] = _int(state[key], "state." + key, 0)
    if current["step"] >= len(weights):
        raise JudgeError("state.step %d is past the last step of the schedule %s" % (current["step"], weights))
    nxt = dict(current, iterations=current["iterations"] + 1)
    answer = {"action": None, "state": nxt, "route_weight": None, "route": None, "reason": None, "events": [],
              "outcome": None, "phase": "Progressing", "limit": None, "confirm": None, "consumed_request": False}
    interrupted = outcome.get("interrupted")
    rollback_reason = rollback_asked(outcome)
    unhealthy_reason = unhealthy(outcome, canary, progress_deadline_seconds)
    here = steps[current["step"]] if current["step"] >= 0 else None
    held = current.get("held", 0)
    asked = approvals_of(approvals)
    confirmation = outcome.get("confirmation") or {}
    hook_failures = [str(text) for text in outcome.get("hook_failures") or []]

    def approved(gate):
        """True to go on; False when the judge asks for the approval or holds for it (the answer says which)."""
        if not asked[gate]:
            return True
        if confirmation.get("gate") != gate:
            answer.update(action=CONFIRM, confirm=gate, state=dict(current))
            return False
        if confirmation.get("passed"):
            return True
        waiting = current.get("waiting", 0) + 1
        _counters(current, nxt, waiting=waiting)
        message = confirmation.get("message") or "Halt %s advancement waiting for %s" % (canary, _WAITING_FOR[gate])
        if approval_intervals is not None and waiting > approval_intervals:
            roll_back("approval_timeout", "no %s within rollout_approval_timeout (%d intervals waited): %s"
                      % (_WAITING_FOR[gate], waiting - 1, message))
            return False
        answer["events"].append(event(message, "Warning"))
        if gate == PROMOTION:
            answer.update(action=WAIT, phase="WaitingPromotion", reason=message)
        else:
            answer.update(action=HALT, reason=message)
        return False

    def go_to(index):
        if weights[index] > current["weight"] and not approved(TRAFFIC):
            return
        _counters(current, nxt, held=0, waiting=0)
        nxt["step"] = index
        nxt["weight"] = weights[index]
        answer.update(action=ADVANCE, route_weight=nxt["weight"], route=step_route(steps[index]))
        answer["events"].extend(_entering(steps[index], canary, index, len(steps)))

    def promote():
        if not approved(PROMOTION):
            return
        _counters(current, nxt, waiting=0)
        answer["action"] = PROMOTE
        switch = here.get("switch") if here else None
        if switch:
            answer.update(route_weight=int(switch["weight"]), route=dict(step_route(here), weight=int(switch["weight"]),
                                                                         mirror=bool(switch.get("mirror")), mirror_weight=None,
                                                                         mirror_match=None, pause=None))
            answer["events"].append(event("Routing all traffic to canary"))

    def roll_back(limit, reason):
        answer.update(action=ROLLBACK, reason=reason, limit=limit)
        answer["events"].append(event("Rolling back %s %s" % (canary, reason), "Warning"))

    if interrupted == "abort":
        answer.update(action=ROLLBACK, reason=_request_reason(outcome, "abort"))
        answer["events"].append(event("Rolling back %s %s" % (canary, answer["reason"]), "Warning"))
    elif rollback_reason and interrupted != "revision":
        roll_back("rollback", rollback_reason)
    elif interrupted == "revision":
        answer.update(action=RESTART, route_weight=0, reason="a new revision was pushed during the analysis")
        answer["route"] = dict(step_route({"weight": 0}))
        # start() says "New revision detected! Restarting analysis" when the analysis begins again.
        answer["state"] = {"step": -1, "weight": 0, "failed_checks": 0, "iterations": 0}
    elif unhealthy_reason:
        roll_back("health", unhealthy_reason)
    elif interrupted == "fast_abort":
        # canary_wait's fast abort (analysis/fast_abort.py): the breach is certain before the interval ends
        decision = outcome.get("fast_abort") or {}
        nxt["failed_checks"] = current["failed_checks"] + 1
        roll_back("fast_abort", "fast abort: %s" % (decision.get("reason") or "the canary's failed requests make the success rate unreachable"))
    elif interrupted == "route_drift":
        route_drifted(current, answer, outcome.get("route_drift") or {}, threshold, route_drift, here, roll_back)
    elif interrupted == "promote" and here and (here.get("pause") or {}).get("indefinite") and not outcome.get("full") \
            and not outcome.get("opening"):
        # Argo's promote at an indefinite pause: the analysis goes on with the next step
        reason = _request_reason(outcome, "promotion")
        answer.update(reason=reason, consumed_request=True)
        answer["events"].append(event("Resuming %s after the pause at step %d/%d: %s" % (canary, current["step"] + 1, len(steps), reason)))
        if current["step"] >= len(steps) - 1:
            promote()
        else:
            go_to(current["step"] + 1)
    elif interrupted == "promote":
        answer.update(action=PROMOTE, reason=_request_reason(outcome, "promotion"))
        answer["events"].append(event("Skipping the rest of the analysis of %s: %s" % (canary, answer["reason"])))
    elif interrupted:
        raise JudgeError("outcome.interrupted must be abort, promote, revision, fast_abort, route_drift or null, got %r" % (interrupted,))
    elif outcome.get("opening"):
        answer["state"] = nxt = dict(current)
        if current["step"] < 0 and hook_failures:
            # Flagger: a failed pre-rollout check counts as a failed check, and no traffic moves
            nxt["iterations"] = current["iterations"] + 1
            nxt["failed_checks"] = current["failed_checks"] + 1
            because = _because(None, hook_failures)
            answer["events"].append(event("Halt %s advancement %s" % (canary, because), "Warning"))
            if nxt["failed_checks"] >= threshold:
                roll_back("threshold", "failed checks threshold reached %d (%s)" % (nxt["failed_checks"], because))
            else:
                answer.update(action=HALT, reason=because)
        elif current["step"] < 0:
            answer["events"].append(event("Starting canary analysis for %s" % canary))
            go_to(0)
        else:
            answer.update(action=ADVANCE, route_weight=nxt["weight"], route=step_route(steps[current["step"]]))
    else:
        check = outcome.get("check")
        verdict = answer["outcome"] = FAILED if hook_failures else classify(check, limits)
        # a judged interval ends a run of re-asserted routes
        _counters(current, nxt, reasserted=0)
        if verdict == PASSED:
            _counters(current, nxt, consecutive_failures=0, consecutive_errors=0)
        elif verdict == FAILED:
            # failures in a row are counted for failure_limit only (Flagger's state keeps its four keys)
            if limits["failure_limit"] is not None or "consecutive_failures" in current:
                _counters(current, nxt, consecutive_failures=current.get("consecutive_failures", 0) + 1)
            _counters(current, nxt, consecutive_errors=0)
            nxt["failed_checks"] = current["failed_checks"] + 1
        elif verdict == ERROR:
            _counters(current, nxt, consecutive_errors=current.get("consecutive_errors", 0) + 1)
        else:
            _counters(current, nxt, inconclusive=current.get("inconclusive", 0) + 1, consecutive_errors=0)
        if verdict != PASSED:
            because = _because(check, hook_failures)
            answer["events"].append(event("Halt %s advancement %s" % (canary, because), "Warning"))
            if verdict == FAILED and nxt["failed_checks"] >= threshold:
                roll_back("threshold", "failed checks threshold reached %d (%s)" % (nxt["failed_checks"], because))
            elif verdict == FAILED and limits["failure_limit"] is not None and nxt["consecutive_failures"] > limits["failure_limit"]:
                roll_back("failure_limit", "consecutive failures limit exceeded: %d failed checks in a row, failure_limit %d (%s)"
                          % (nxt["consecutive_failures"], limits["failure_limit"], because))
            elif verdict == ERROR and nxt["consecutive_errors"] > limits["consecutive_error_limit"]:
                roll_back("consecutive_error_limit", "consecutive error limit exceeded: %d query errors in a row, consecutive_error_limit %d (%s)"
                          % (nxt["consecutive_errors"], limits["consecutive_error_limit"], because))
            elif verdict == INCONCLUSIVE and nxt["inconclusive"] > limits["inconclusive_limit"]:
                roll_back("inconclusive_limit", "inconclusive limit exceeded: %d intervals without data, inconclusive_limit %d (%s)"
                          % (nxt["inconclusive"], limits["inconclusive_limit"], because))
            else:
                answer["action"] = HALT
        elif here and here.get("pause") and here["pause"].get("indefinite"):
            waiting = current.get("waiting", 0) + 1
            _counters(current, nxt, waiting=waiting)
            reason = "step %d/%d pauses until a promotion request (the promote playbook)" % (current["step"] + 1, len(steps))
            if approval_intervals is not None and waiting > approval_intervals:
                roll_back("approval_timeout", "no promotion within rollout_approval_timeout (%d intervals waited): %s" % (waiting - 1, reason))
            else:
                answer.update(action=WAIT, phase="WaitingPromotion", reason=reason)
        elif here and here.get("pause") and held + 1 < int(here["pause"].get("intervals") or 1):
            _counters(current, nxt, held=held + 1)
            answer.update(action=WAIT, reason="step %d/%d pauses for %s (interval %d of %d)"
                          % (current["step"] + 1, len(steps), here["pause"].get("duration"), held + 1, int(here["pause"]["intervals"])))
        elif current["step"] >= len(weights) - 1:
            promote()
        else:
            go_to(current["step"] + 1)
    answer["message"] = answer["events"][-1]["text"] if answer["events"] else ""
    answer["counters"] = dict((key, answer["state"][key]) for key in COUNTERS if key in answer["state"])
    return answer
