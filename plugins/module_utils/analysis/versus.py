# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Canary versus primary inside the rollout's loop: canary_compare's verdict as one more entry of the interval's check.

The judge (judge.py) reads canary_metric_check's result - ``{passed, metrics: [{name, status, message, ...}]}`` - and
``with_comparison`` folds canary_compare's answer into it, as Argo folds a Kayenta analysis into its run:

* the verdict is one entry ``canary-vs-primary`` whose status the judge counts: Pass = ``pass``, Marginal =
  ``inconclusive`` (counted toward ``inconclusive_limit``, like no data; a failed check without that limit), Fail =
  ``fail`` - or ``no_data`` when only metrics without data failed it (the judge then does what on_no_data and
  ``inconclusive_limit`` say, as for a threshold metric without data), a task that could not compare = ``error``;
* every judged metric follows as an entry of its own (``judge:<name>``) with the numbers (classification, p-value,
  effect sizes, medians, samples). Its status is the classification in lower case (``pass``, ``high``, ``low``,
  ``nodata``), which the judge does not count - the verdict entry decides - so that a metric that fails but
  leaves the score at Pass does not fail the interval, while the reason of a failing interval lists it with its numbers.

Plain Python: no Ansible, no network.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

VERDICT_NAME = "canary-vs-primary"
METRIC_PREFIX = "judge:"
STATUS_OF_VERDICT = {"Pass": "pass", "Marginal": "inconclusive", "Fail": "fail"}


class VersusError(ValueError):
    """The comparison handed over is not canary_compare's answer; the message says why."""


def _num(value, text="%.4g"):
    return "n/a" if value is None else text % value


def metric_entry(item, unit=""):
    """One judged metric (an entry of canary_compare's ``metrics``) as an entry of the interval's check."""
    if not isinstance(item, dict) or not item.get("name"):
        raise VersusError("a compared metric must be a dict with a name, got %r" % (item,))
    cls = item.get("classification") or "NoData"
    canary, primary = item.get("canary") or {}, item.get("primary") or {}
    if cls == "NoData":
        text = "%s vs primary: NoData - %s" % (item["name"], item.get("reason") or "no samples")
    else:
        text = ("%s vs primary: %s - canary %s vs primary %s (medians, %d and %d samples), p = %s (alpha %s, %s), mean ratio %s, "
                "Hodges-Lehmann shift %s" % (item["name"], cls, _num(canary.get("median")), _num(primary.get("median")),
                                             canary.get("samples") or 0, primary.get("samples") or 0, _num(item.get("p_value"), "%.3g"),
                                             _num(item.get("alpha"), "%.3g"), item.get("alternative") or "?", _num(item.get("mean_ratio")),
                                             _num(item.get("hodges_lehmann_shift"))))
        if cls != "Pass":
            effect = item.get("effect_size") or {}
            bound = effect.get("allowed_increase") if cls == "High" else effect.get("allowed_decrease")
            text += " beyond the allowed %s %s" % (effect.get("measure", "mean_ratio"), _num(bound))
    return {
        "name": METRIC_PREFIX + item["name"], "source": "judge", "template": item.get("template"), "value": item.get("p_value"),
        "classification": cls, "status": cls.lower(), "message": text, "critical": bool(item.get("critical")),
        "weight": item.get("weight"), "p_value": item.get("p_value"), "u": item.get("u"), "method": item.get("method"),
        "mean_ratio": item.get("mean_ratio"), "hodges_lehmann_shift": item.get("hodges_lehmann_shift"),
        "canary_median": canary.get("median"), "primary_median": primary.get("median"),
        "canary_samples": canary.get("samples"), "primary_samples": primary.get("samples"),
        "canary_series": canary.get("series"), "primary_series": primary.get("series"),
    }


def verdict_entry(comparison):
    """canary_compare's verdict as the entry the judge counts (see the module docstring)."""
    verdict = comparison.get("verdict")
    if verdict not in STATUS_OF_VERDICT:
        raise VersusError("canary_compare's verdict must be Pass, Marginal or Fail, got %r" % (verdict,))
    metrics = comparison.get("metrics") or []
    failing = [m for m in metrics if m.get("name") in (comparison.get("failed_metrics") or [])]
    status = STATUS_OF_VERDICT[verdict]
    if verdict == "Fail" and all(m.get("classification") == "NoData" for m in failing):
        # nothing deviates, something is missing: the judge treats it as no data (on_no_data, inconclusive_limit)
        status = "no_data"
    text = "canary versus primary: %s, %s" % (verdict, comparison.get("reason") or "")
    if failing:
        text += " - not passing: %s" % ", ".join("%s %s" % (m["name"], m.get("classification")) for m in failing)
    return {"name": VERDICT_NAME, "source": "judge", "value": comparison.get("score"), "judgment": verdict, "status": status,
            "message": text, "score": comparison.get("score"), "thresholds": comparison.get("thresholds"),
            "failed_metrics": list(comparison.get("failed_metrics") or []), "critical_failed": list(comparison.get("critical_failed") or []),
            "skipped_metrics": list(comparison.get("skipped_metrics") or []), "window": comparison.get("window")}


def error_entry(message):
    """A comparison that could not run (Prometheus unreachable, a query rejected, several series)."""
    return {"name": VERDICT_NAME, "source": "judge", "value": None, "judgment": None, "status": "error",
            "message": "canary versus primary could not be judged: %s" % (message or "canary_compare failed")}


def with_comparison(check, comparison):
    """The interval's check with canary_compare's answer folded in (see the module docstring).

    ``check``: canary_metric_check's result, or None when there are no threshold metrics; ``comparison``:
    canary_compare's registered result (a failed one - no ``verdict`` - becomes an ``error`` entry), or None
    when nothing was compared (the check is returned as it is)."""
    if not comparison or comparison.get("skipped"):
        return check
    if not isinstance(comparison, dict):
        raise VersusError("the comparison must be canary_compare's result (a dict), got %r" % (comparison,))
    base = dict(check) if check and not check.get("skipped") else {"passed": True, "metrics": []}
    metrics = list(base.get("metrics") or [])
    if comparison.get("failed") or "verdict" not in comparison:
        # the task failed (registered with failed_when: false, so only the missing verdict tells)
        verdict = error_entry(comparison.get("msg"))
        entries = []
    else:
        verdict = verdict_entry(comparison)
        entries = [metric_entry(item) for item in comparison.get("metrics") or []]
    base["metrics"] = metrics + [verdict] + entries
    base["passed"] = bool(base.get("passed", True)) and verdict["status"] == "pass"
    base["judge"] = {"verdict": verdict.get("judgment"), "score": verdict.get("value"), "status": verdict["status"]}
    return base
