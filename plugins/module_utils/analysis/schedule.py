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


STRATEGIES = ("canary",)


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


def analysis_steps(strategy="canary", max_weight=None, step_weight=None, step_weights=None):
    """Return the steps of an analysis for ``strategy`` (see the module docstring)."""
    if strategy not in STRATEGIES:
        raise ScheduleError("strategy must be one of %s, got %r" % (", ".join(STRATEGIES), strategy))
    return [{"weight": weight} for weight in canary_weights(max_weight, step_weight, step_weights)]


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
