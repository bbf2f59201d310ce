# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Weight schedules of an analysis, as Flagger computes them.

A schedule is a list of steps; each step is a dict with the canary ``weight`` the traffic split
moves to when the step begins. Strategies that need more than a weight (A/B testing adds
``match``, Blue/Green ``iterations`` at a fixed weight, mirroring ``mirror``) add keys to the
step, so the loop that walks the schedule does not change when they arrive.

Plain Python: no Ansible, no network.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


CANARY, AB_TESTING, BLUE_GREEN, BLUE_GREEN_MIRRORING, STEPS = "canary", "ab_testing", "blue_green", "blue_green_mirroring", "steps"
# Every strategy: its name and the settings it needs (the builders are registered in _BUILDERS below).
STRATEGIES = (CANARY, AB_TESTING, BLUE_GREEN, BLUE_GREEN_MIRRORING, STEPS)
REQUIRED_SETTINGS = {
    CANARY: ("step_weight or step_weights",),
    AB_TESTING: ("match", "iterations"),
    BLUE_GREEN: ("iterations",),
    BLUE_GREEN_MIRRORING: ("iterations", "mirror"),
    STEPS: ("steps",),
}
ARGO_STEP_KINDS = ("set_weight", "pause", "set_header_route", "set_mirror_route")


class ScheduleError(ValueError):
    """A schedule option is invalid; the message names the option and the fix."""


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _check_weight(name, value, minimum=1):
    if not _is_int(value):
        raise ScheduleError("%s must be an integer between %d and 100, got %r" % (name, minimum, value))
    if value < minimum or value > 100:
        raise ScheduleError("%s must be between %d and 100, got %d" % (name, minimum, value))
    return value


def canary_weights(max_weight=None, step_weight=None, step_weights=None):
    """Return the canary weights of a progressive traffic shift, in order.

    ``step_weights`` (an explicit ascending list) wins over ``step_weight`` and ``max_weight``: its last
    entry is the maximum, as in Flagger. With ``step_weight``
    the weight grows by that amount while it is below ``max_weight`` (default 100) and is capped
    at 100 -- Flagger's arithmetic, so ``max_weight=50, step_weight=20`` gives 20, 40, 60: the
    last step may pass ``max_weight``.
    """
    if step_weights:
        if not isinstance(step_weights, (list, tuple)):
            raise ScheduleError("step_weights must be a list of integers, got %r" % (step_weights,))
        previous = 0
        for index, weight in enumerate(step_weights):
            _check_weight("step_weights[%d]" % index, weight)
            if weight <= previous:
                raise ScheduleError(
                    "step_weights must be strictly ascending: step_weights[%d] = %d follows %d" % (index, weight, previous)
                )
            previous = weight
        return list(step_weights)
    if step_weight is None:
        raise ScheduleError("set step_weight (for example 10) or step_weights (for example [5, 10, 25, 50])")
    _check_weight("step_weight", step_weight)
    maximum = 100 if max_weight is None else _check_weight("max_weight", max_weight)
    weights = []
    weight = 0
    while weight < maximum:
        weight = min(weight + step_weight, 100)
        weights.append(weight)
    return weights


def promotion_weights(canary_weight, step_weight_promotion=None):
    """Return the canary weights of a promotion, ending at 0.

    Without ``step_weight_promotion`` all traffic goes to the primary at once (``[0]``); with it
    the primary gains that much per interval (Flagger's stepWeightPromotion).
    """
    if not _is_int(canary_weight) or canary_weight < 0 or canary_weight > 100:
        raise ScheduleError("canary_weight must be an integer between 0 and 100, got %r" % (canary_weight,))
    if step_weight_promotion is None:
        return [0]
    _check_weight("step_weight_promotion", step_weight_promotion)
    weights = []
    primary = 100 - canary_weight
    while primary < 100:
        primary = min(primary + step_weight_promotion, 100)
        weights.append(100 - primary)
    return weights or [0]


def analysis_steps(strategy="canary", max_weight=None, step_weight=None, step_weights=None, **options):
    """Return the steps of an analysis for ``strategy`` (see the module docstring and ``strategy_steps``).

    The canary's steps are ``{"weight": w}``, as before; the other strategies take their settings as
    keyword arguments (``iterations``, ``match``, ``mirror``, ``mirror_weight``, ``session_affinity``,
    ``steps``, ``interval_seconds``).
    """
    if strategy not in STRATEGIES:
        raise ScheduleError("strategy must be one of %s, got %r" % (", ".join(STRATEGIES), strategy))
    return _BUILDERS[strategy](dict(options, max_weight=max_weight, step_weight=step_weight, step_weights=step_weights))


def select_strategy(analysis, forced=None):
    """The strategy Flagger would run for ``analysis`` (a dict with Flagger's names in snake case).

    ``iterations`` + ``match`` is A/B testing; ``iterations`` alone Blue/Green (with ``mirror: true``
    Blue/Green with mirroring); ``steps`` Argo Rollouts' steps; anything else the canary. ``forced``
    (``rollout_strategy``) wins, and then the settings that strategy needs must be there.
    """
    analysis = analysis or {}
    has = {
        "iterations": analysis.get("iterations") is not None,
        "match": bool(analysis.get("match")),
        "mirror": analysis.get("mirror") is True,
        "steps": bool(analysis.get("steps")),
        "step_weight or step_weights": analysis.get("step_weight") is not None or bool(analysis.get("step_weights")),
    }
    if forced not in (None, "", "auto"):
        if forced not in STRATEGIES:
            raise ScheduleError("strategy must be one of %s, got %r" % (", ".join(STRATEGIES + ("auto",)), forced))
        # the canary's own schedule says what is missing (canary_weights)
        missing = [name for name in REQUIRED_SETTINGS[forced] if not has[name]] if forced != CANARY else []
        if missing:
            raise ScheduleError("strategy %s needs %s in the analysis settings: set %s there, or set the strategy to auto so that "
                                "it is chosen from the analysis settings" % (forced, " and ".join(missing), _example(forced)))
        return forced
    if has["steps"] and has["iterations"]:
        raise ScheduleError("steps and iterations are two strategies (Argo steps, Flagger's A/B or Blue/Green): give one of them")
    if has["iterations"]:
        if has["match"]:
            return AB_TESTING
        return BLUE_GREEN_MIRRORING if has["mirror"] else BLUE_GREEN
    if has["match"]:
        raise ScheduleError("match needs iterations (A/B testing: matching requests go to the canary for that many intervals), "
                            "for example iterations: 10")
    if has["mirror"]:
        raise ScheduleError("mirror needs iterations (Blue/Green with mirroring), for example iterations: 10")
    if has["steps"]:
        return STEPS
    return CANARY


def _example(strategy):
    return {
        CANARY: "step_weight: 10 (or step_weights: [5, 10, 25, 50])",
        AB_TESTING: "iterations: 10 and match: [{headers: {x-canary: {exact: insider}}}]",
        BLUE_GREEN: "iterations: 10",
        BLUE_GREEN_MIRRORING: "iterations: 10 and mirror: true",
        STEPS: "steps: [{set_weight: 20}, {pause: {duration: 1m}}, {set_weight: 50}, {pause: {}}]",
    }[strategy]


def _iterations(value):
    if not _is_int(value) or value < 1:
        raise ScheduleError("iterations must be a positive integer (the intervals the canary is analysed for), for example 10; got %r"
                            % (value,))
    return value


def _mirror_weight(value):
    if value is None:
        return None
    if not _is_int(value) or value < 0 or value > 100:
        raise ScheduleError("mirror_weight must be an integer between 0 and 100 (percent of the requests mirrored; 0 or unset "
                            "mirrors all), got %r" % (value,))
    return value or None


def _match(value):
    if not isinstance(value, list) or not value or not all(isinstance(item, dict) and item for item in value):
        raise ScheduleError("match must be a non-empty list of Istio HTTPMatchRequest conditions, for example "
                            "[{headers: {x-canary: {exact: insider}}}], got %r" % (value,))
    return value


def _session_affinity(value, strategy):
    if value in (None, {}):
        return None
    if strategy not in (CANARY, AB_TESTING):
        raise ScheduleError("session_affinity works with the canary and A/B testing only (Flagger's sessionAffinity), not with %s: "
                            "remove it" % strategy)
    if not isinstance(value, dict) or not isinstance(value.get("cookie_name"), str) or not value["cookie_name"].strip():
        raise ScheduleError("session_affinity.cookie_name must be the name of the cookie that keeps a user on the canary, "
                            "for example {cookie_name: flagger-cookie}; got %r" % (value,))
    max_age = value.get("max_age", 86400)
    if max_age is None:
        max_age = 86400
    if not _is_int(max_age) or max_age < 1:
        raise ScheduleError("session_affinity.max_age must be a positive number of seconds (default 86400), got %r" % (max_age,))
    return {"cookie_name": value["cookie_name"].strip(), "max_age": max_age}


def _no_mirror_with_match(options):
    if options.get("mirror") and options.get("match"):
        raise ScheduleError("match and mirror cannot be combined: mirror is Blue/Green (all traffic mirrored), match is A/B testing; "
                            "remove mirror for A/B testing or match for Blue/Green with mirroring")


def _canary_steps(options):
    _no_mirror_with_match(options)
    if options.get("mirror"):
        raise ScheduleError("mirror needs the Blue/Green strategy: set iterations (for example 10) instead of the canary's step weights")
    steps = [{"weight": weight} for weight in canary_weights(options.get("max_weight"), options.get("step_weight"), options.get("step_weights"))]
    affinity = _session_affinity(options.get("session_affinity"), CANARY)
    if affinity:
        for step in steps:
            step["session_affinity"] = affinity
    return steps


def _iteration_steps(options, base, switch):
    iterations = _iterations(options.get("iterations"))
    steps = [dict(base, iteration=index, iterations=iterations) for index in range(iterations + 1)]
    if switch:
        # Blue/Green: once the iterations passed, all traffic goes to the canary at once, then the promotion.
        steps[-1]["switch"] = {"weight": 100, "mirror": False}
    return steps


def _ab_steps(options):
    _no_mirror_with_match(options)
    base = {"weight": 0, "match": _match(options.get("match"))}
    affinity = _session_affinity(options.get("session_affinity"), AB_TESTING)
    if affinity:
        base["session_affinity"] = affinity
    return _iteration_steps(options, base, switch=False)


def _blue_green_steps(options):
    _no_mirror_with_match(options)
    if options.get("match"):
        raise ScheduleError("match makes it A/B testing, not Blue/Green: remove match, or choose the strategy ab_testing")
    _session_affinity(options.get("session_affinity"), BLUE_GREEN)
    if options.get("mirror_weight") is not None and not options.get("mirror"):
        raise ScheduleError("mirror_weight needs mirror: true (Blue/Green with mirroring)")
    return _iteration_steps(options, {"weight": 0}, switch=True)


def _mirroring_steps(options):
    _no_mirror_with_match(options)
    if options.get("mirror") is not True:
        raise ScheduleError("the strategy blue_green_mirroring needs mirror: true")
    base = {"weight": 0, "mirror": True}
    weight = _mirror_weight(options.get("mirror_weight"))
    if weight is not None:
        base["mirror_weight"] = weight
    return _iteration_steps(options, base, switch=True)


def pause_step(value, field, interval_seconds=None):
    """An Argo ``pause``: ``{}`` (indefinite, until a promotion request) or ``{duration: 30s}``.

    A timed pause lasts ``intervals`` intervals (the duration rounded up to whole intervals, at least
    one): the background analysis keeps checking the canary while it holds.
    """
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise ScheduleError("%s must be {} (until promoted) or {duration: 30s}, got %r" % (field, value))
    duration = value.get("duration")
    if duration in (None, ""):
        return {"indefinite": True}
    seconds = duration_seconds(duration, "%s.duration" % field)
    pause = {"duration": duration, "seconds": seconds}
    if interval_seconds:
        pause["intervals"] = max(int(-(-seconds // interval_seconds)), 1)
    return pause


_STRING_MATCH = ("exact", "prefix", "regex")


def _argo_string_match(value, field):
    if not isinstance(value, dict) or len(value) != 1 or next(iter(value)) not in _STRING_MATCH:
        raise ScheduleError("%s must have one of exact, prefix, regex, got %r" % (field, value))
    return dict(value)


def argo_match(value, field):
    """Argo's route matches as Istio HTTPMatchRequest conditions (any one matching routes the request).

    ``setHeaderRoute``'s ``{headerName, headerValue: {exact|prefix|regex}}`` becomes ``{headers: {name: ...}}``;
    ``setMirrorRoute``'s ``{method, path, headers}`` becomes ``{method, uri, headers}``. Conditions already
    written the Istio way pass unchanged.
    """
    if not isinstance(value, list) or not value:
        raise ScheduleError("%s must be a non-empty list of matches, for example [{headerName: x-canary, headerValue: {exact: insider}}], "
                            "got %r" % (field, value))
    result = []
    for index, item in enumerate(value):
        where = "%s[%d]" % (field, index)
        if not isinstance(item, dict) or not item:
            raise ScheduleError("%s must be a match such as {headerName: x-canary, headerValue: {exact: insider}}, got %r" % (where, item))
        if "headerName" in item:
            if not isinstance(item["headerName"], str) or not item["headerName"].strip():
                raise ScheduleError("%s.headerName must be a header name, got %r" % (where, item["headerName"]))
            result.append({"headers": {item["headerName"].strip().lower(): _argo_string_match(item.get("headerValue"), where + ".headerValue")}})
            continue
        condition = dict(item)
        if "path" in condition:
            condition["uri"] = _argo_string_match(condition.pop("path"), where + ".path")
        if "method" in condition:
            condition["method"] = _argo_string_match(condition["method"], where + ".method")
        result.append(condition)
    return result


def _argo_steps(options):
    """Argo Rollouts' canary steps, each becoming one step the judge walks with the route in force then."""
    raw = options.get("steps")
    if not isinstance(raw, list) or not raw:
        raise ScheduleError("steps must be a non-empty list of Argo steps (set_weight, pause, set_header_route, set_mirror_route), "
                            "for example " + _example(STEPS).split(": ", 1)[1])
    interval = options.get("interval_seconds")
    route = {"weight": 0}
    steps = []
    previous_weight = 0
    for index, item in enumerate(raw):
        field = "steps[%d]" % index
        if not isinstance(item, dict) or len(item) != 1 or next(iter(item)) not in ARGO_STEP_KINDS:
            raise ScheduleError("%s must have exactly one of %s, got %r" % (field, ", ".join(ARGO_STEP_KINDS), item))
        kind, value = next(iter(item.items()))
        if kind == "set_weight":
            if not _is_int(value) or value < 0 or value > 100:
                raise ScheduleError("%s.set_weight must be an integer between 0 and 100 (the canary's percent), got %r" % (field, value))
            if value <= previous_weight:
                raise ScheduleError("%s.set_weight = %d must be above the set_weight before it (%d): step weights must increase; "
                                    "reorder the steps or remove this one" % (field, value, previous_weight))
            previous_weight = value
            route = dict(route, weight=value)
            steps.append(dict(route, kind=kind, index=index))
        elif kind == "pause":
            pause = pause_step(value, field + ".pause", interval)
            if steps and "pause" not in steps[-1]:
                # the pause holds the step before it (Argo: set the weight, then wait), not one interval more
                steps[-1]["pause"] = pause
            else:
                steps.append(dict(route, kind=kind, index=index, pause=pause))
        elif kind == "set_header_route":
            if not isinstance(value, dict) or not value.get("name"):
                raise ScheduleError("%s.set_header_route needs a name (and a match; without one the header route is removed), for example "
                                    "{name: canary-header, match: [{headers: {x-canary: {exact: insider}}}]}; got %r" % (field, value))
            new = dict(route)
            if value.get("match"):
                new.update(match=argo_match(value["match"], field + ".set_header_route.match"), header_route=value["name"])
            else:  # Argo: a header route without match removes it
                new.pop("match", None)
                new.pop("header_route", None)
            route = new
            steps.append(dict(route, kind=kind, index=index))
        else:  # set_mirror_route
            if not isinstance(value, dict) or not value.get("name"):
                raise ScheduleError("%s.set_mirror_route needs a name (Argo's setMirrorRoute), for example {name: mirror, percentage: 50}; "
                                    "got %r" % (field, value))
            new = dict(route)
            for key in ("mirror", "mirror_weight", "mirror_match", "mirror_route"):
                new.pop(key, None)
            if value.get("match"):  # Argo: a mirror route without match removes it
                new.update(mirror=True, mirror_match=argo_match(value["match"], field + ".set_mirror_route.match"), mirror_route=value["name"])
                try:
                    percent = _mirror_weight(value.get("percentage"))
                except ScheduleError:
                    raise ScheduleError("%s.set_mirror_route.percentage must be an integer between 0 and 100, got %r"
                                        % (field, value.get("percentage")))
                if percent is not None:
                    new["mirror_weight"] = percent
            route = new
            steps.append(dict(route, kind=kind, index=index))
    return steps


_BUILDERS = {
    CANARY: _canary_steps,
    AB_TESTING: _ab_steps,
    BLUE_GREEN: _blue_green_steps,
    BLUE_GREEN_MIRRORING: _mirroring_steps,
    STEPS: _argo_steps,
}


def route_of(step):
    """What the role applies when ``step`` begins: the routing state and the pause, for every strategy alike.

    ``weight`` (the canary's share of the default route), ``match`` (requests matching it go 100 % to the
    canary: A/B testing, Argo's header route), ``mirror`` / ``mirror_weight`` / ``mirror_match`` (traffic
    copied to the canary, responses discarded), ``session_affinity`` (``cookie_name``, ``max_age``),
    ``pause`` (None, ``{indefinite: true}`` or ``{duration, seconds, intervals}``), ``iteration`` /
    ``iterations`` (A/B and Blue/Green).
    """
    step = step if isinstance(step, dict) else {"weight": int(step)}
    return {
        "weight": int(step["weight"]),
        "match": step.get("match"),
        "mirror": bool(step.get("mirror")),
        "mirror_weight": step.get("mirror_weight"),
        "mirror_match": step.get("mirror_match"),
        "session_affinity": step.get("session_affinity"),
        "pause": step.get("pause"),
        "iteration": step.get("iteration"),
        "iterations": step.get("iterations"),
    }


_DURATION_UNITS = (("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86400))


def duration_seconds(value, field="interval"):
    """Seconds in a Prometheus/Flagger duration (``10s``, ``1m``, ``1m30s``, ``500ms``) or a number of seconds."""
    if isinstance(value, bool):
        raise ScheduleError("%s must be a duration such as 30s or 1m, got %r" % (field, value))
    if isinstance(value, (int, float)):
        if value <= 0:
            raise ScheduleError("%s must be positive, got %r" % (field, value))
        return float(value)
    text = str(value).strip()
    total = 0.0
    rest = text
    while rest:
        digits = ""
        while rest and rest[0].isdigit():
            digits, rest = digits + rest[0], rest[1:]
        unit = next((u for u, _f in _DURATION_UNITS if rest.startswith(u) and not (u == "m" and rest.startswith("ms"))), None)
        if not digits or unit is None:
            raise ScheduleError("%s must be a duration such as 30s, 1m or 1m30s, got %r" % (field, value))
        total += int(digits) * dict(_DURATION_UNITS)[unit]
        rest = rest[len(unit):]
    if total <= 0:
        raise ScheduleError("%s must be positive, got %r" % (field, value))
    return total
