# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Canary versus primary, as Kayenta judges it: a Mann-Whitney U test per metric, an effect-size
bound, a classification (Pass, High, Low, NoData), a weighted score and a verdict.

Pure Python on lists of floats: no network, no Ansible, no NumPy or SciPy (the execution
environment has neither). The test follows ``scipy.stats.mannwhitneyu(x, y, alternative=...,
method="auto", use_continuity=True)`` with ``x`` the canary and ``y`` the primary, and is checked
against it in the unit tests:

* ``U`` is the statistic of the canary sample (SciPy's ``U1``): ``R1 - n1 (n1 + 1) / 2`` from the
  average ranks of the combined samples;
* ``exact`` when the smaller sample has at most 8 values and there are no ties: the exact null
  distribution of U (counted with integers, the coefficients of a Gaussian binomial);
* ``asymptotic`` otherwise: the normal approximation with the tie correction of the variance and a
  continuity correction of 0.5 towards the mean;
* alternatives ``greater`` (the canary is higher), ``less`` (lower) and ``two-sided``.

``direction`` says which deviation fails a metric: ``increase`` (a one-sided ``greater`` test; for
latency, errors), ``decrease`` (``less``; for success rate, throughput) or ``either``.
"""

import math

CLASS_PASS, CLASS_HIGH, CLASS_LOW, CLASS_NODATA = "Pass", "High", "Low", "NoData"
VERDICT_PASS, VERDICT_MARGINAL, VERDICT_FAIL = "Pass", "Marginal", "Fail"
DIRECTIONS = ("increase", "decrease", "either")
ALTERNATIVES = {"increase": "greater", "decrease": "less", "either": "two-sided"}
EFFECT_MEASURES = ("mean_ratio", "hodges_lehmann")
ON_NO_DATA_CHOICES = ("fail", "pass", "skip")

DEFAULT_CONFIDENCE = 0.98
DEFAULT_MIN_SAMPLES = 5         # below 5 per side no two-sided exact test can reach p < 0.02
DEFAULT_PASS_SCORE = 95.0       # Kayenta's default score thresholds
DEFAULT_MARGINAL_SCORE = 75.0
# Kayenta's default effect size: a significant change of any size fails (ratio 1, shift 0).
DEFAULT_ALLOWED = {"mean_ratio": (1.0, 1.0), "hodges_lehmann": (0.0, 0.0)}
EXACT_MAX_SMALLER_SAMPLE = 8    # SciPy's method="auto" rule


class CompareConfigError(ValueError):
    """A comparison option that cannot be used; the message names the option and the fix."""


# --------------------------------------------------------------------------------------------
# The Mann-Whitney U test
# --------------------------------------------------------------------------------------------
class MannWhitneyResult(object):
    """``u`` (of the first sample), ``p_value``, the ``method`` used and the ``alternative``."""

    def __init__(self, u, p_value, method, alternative):
        self.u = u
        self.p_value = p_value
        self.method = method
        self.alternative = alternative

    def __repr__(self):
        return "MannWhitneyResult(u=%r, p_value=%r, method=%r, alternative=%r)" % (self.u, self.p_value, self.method, self.alternative)


def rank_sum(x, y):
    """``(R1, tie_sizes)``: the sum of the average ranks of ``x`` in ``x + y`` and the size of every tie group."""
    combined = sorted([(value, 0) for value in x] + [(value, 1) for value in y])
    r1 = 0.0
    ties = []
    start = 0
    total = len(combined)
    while start < total:
        end = start
        while end + 1 < total and combined[end + 1][0] == combined[start][0]:
            end += 1
        rank = (start + end) / 2.0 + 1.0     # average of the 1-based ranks start+1 .. end+1
        r1 += rank * sum(1 for i in range(start, end + 1) if combined[i][1] == 0)
        ties.append(end - start + 1)
        start = end + 1
    return r1, ties


def mann_whitney_u(x, y, alternative="two-sided", method="auto", use_continuity=True):
    """The Mann-Whitney U test of ``x`` against ``y`` with SciPy's semantics (see the module docstring).

    ``method`` is ``auto``, ``exact`` or ``asymptotic``; ``alternative`` is ``two-sided``, ``greater``
    (``x`` tends to be higher) or ``less``. Both samples need at least one value."""
    if alternative not in ("two-sided", "greater", "less"):
        raise CompareConfigError("alternative must be two-sided, greater or less, got %r" % (alternative,))
    if method not in ("auto", "exact", "asymptotic"):
        raise CompareConfigError("method must be auto, exact or asymptotic, got %r" % (method,))
    x = [float(v) for v in x]
    y = [float(v) for v in y]
    n1, n2 = len(x), len(y)
    if not n1 or not n2:
        raise CompareConfigError("the Mann-Whitney U test needs at least one value in each sample (got %d and %d)" % (n1, n2))
    for value in x + y:
        if math.isnan(value):
            raise CompareConfigError("the Mann-Whitney U test cannot rank NaN: drop NaN samples first")
    r1, ties = rank_sum(x, y)
    u1 = r1 - n1 * (n1 + 1) / 2.0
    u2 = n1 * n2 - u1
    if alternative == "greater":
        u, factor = u1, 1.0
    elif alternative == "less":
        u, factor = u2, 1.0
    else:
        u, factor = max(u1, u2), 2.0
    has_ties = any(size > 1 for size in ties)
    if method == "auto":
        method = "exact" if min(n1, n2) <= EXACT_MAX_SMALLER_SAMPLE and not has_ties else "asymptotic"
    if method == "exact":
        p_value = _exact_sf(int(round(u)), n1, n2)
    else:
        p_value = _normal_sf(_z_score(u, n1, n2, ties, use_continuity))
    return MannWhitneyResult(u1, min(1.0, max(0.0, p_value * factor)), method, alternative)


def _exact_counts(n1, n2):
    """How many of the C(n1 + n2, n1) arrangements give U = 0, 1, ..., n1 n2 (integers).

    The counts are the coefficients of the Gaussian binomial [n1 + n2 choose m]_q (m the smaller
    size), built as the product of (1 - q^(n+i)) / (1 - q^i) for i = 1..m; every division is exact."""
    m, n = min(n1, n2), max(n1, n2)
    poly = [1]
    for i in range(1, m + 1):
        shift = n + i
        grown = poly + [0] * shift
        for k in range(len(grown) - 1, shift - 1, -1):
            grown[k] -= poly[k - shift]
        for k in range(i, len(grown)):
            grown[k] += grown[k - i]
        poly = grown[:i * n + 1]
    return poly


def _exact_sf(u, n1, n2):
    """P(U >= u) under the null hypothesis, from the exact counts (the mass at u included)."""
    counts = _exact_counts(n1, n2)
    total = sum(counts)
    if u <= 0:
        return 1.0
    if u > n1 * n2:
        return 0.0
    return sum(counts[u:]) / total


def _z_score(u, n1, n2, ties, use_continuity):
    n = n1 + n2
    tie_term = float(sum(t ** 3 - t for t in ties))
    variance = n1 * n2 / 12.0 * ((n + 1) - tie_term / (n * (n - 1))) if n > 1 else 0.0
    sigma = math.sqrt(max(variance, 0.0))
    numerator = u - n1 * n2 / 2.0
    if use_continuity:
        numerator -= 0.5
    if sigma == 0.0:
        # Every value is the same: no evidence either way (SciPy gets z = -inf and p = 1 here).
        if numerator == 0.0:
            return float("nan")
        return math.copysign(float("inf"), numerator)
    return numerator / sigma


def _normal_sf(z):
    if math.isnan(z):
        return float("nan")
    return 0.5 * math.erfc(z / math.sqrt(2.0))


# --------------------------------------------------------------------------------------------
# Effect sizes
# --------------------------------------------------------------------------------------------
def mean(values):
    return math.fsum(values) / len(values)


def median(values):
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2.0


def hodges_lehmann_shift(x, y):
    """The Hodges-Lehmann estimate of the shift of ``x`` over ``y``: the median of every x_i - y_j."""
    return median([a - b for a in x for b in y])


def mean_ratio(x, y):
    """mean(x) / mean(y); ``None`` when mean(y) is 0 and mean(x) is not (1.0 when both are 0)."""
    mx, my = mean(x), mean(y)
    if my == 0.0:
        return 1.0 if mx == 0.0 else None
    return mx / my


# --------------------------------------------------------------------------------------------
# Options
# --------------------------------------------------------------------------------------------
class EffectSize(object):
    """Which effect size gates a significant deviation and how large it may be.

    ``mean_ratio``: mean(canary) / mean(primary); a High needs the ratio above ``allowed_increase``
    (>= 1), a Low below ``allowed_decrease`` (in (0, 1]). ``hodges_lehmann``: the shift in the
    metric's unit; a High needs it above ``allowed_increase`` (>= 0), a Low below
    ``-allowed_decrease`` (>= 0)."""

    def __init__(self, measure="mean_ratio", allowed_increase=None, allowed_decrease=None, field="effect_size"):
        if measure not in EFFECT_MEASURES:
            raise CompareConfigError("%s.measure %r is not known: choose %s" % (field, measure, " or ".join(EFFECT_MEASURES)))
        default_increase, default_decrease = DEFAULT_ALLOWED[measure]
        self.measure = measure
        self.allowed_increase = _number(default_increase if allowed_increase is None else allowed_increase, "%s.allowed_increase" % field)
        self.allowed_decrease = _number(default_decrease if allowed_decrease is None else allowed_decrease, "%s.allowed_decrease" % field)
        if measure == "mean_ratio":
            if self.allowed_increase < 1.0:
                raise CompareConfigError("%s.allowed_increase %s is below 1: it is the highest ratio canary mean / primary mean that "
                                         "still passes, e.g. 1.1 for 10%% higher" % (field, _fmt(self.allowed_increase)))
            if not 0.0 < self.allowed_decrease <= 1.0:
                raise CompareConfigError("%s.allowed_decrease %s is not in (0, 1]: it is the lowest ratio canary mean / primary mean "
                                         "that still passes, e.g. 0.9 for 10%% lower" % (field, _fmt(self.allowed_decrease)))
        else:
            for option, value in (("allowed_increase", self.allowed_increase), ("allowed_decrease", self.allowed_decrease)):
                if value < 0.0:
                    raise CompareConfigError("%s.%s %s is negative: for hodges_lehmann it is the largest shift in the metric's unit "
                                             "that still passes, 0 or more" % (field, option, _fmt(value)))

    @classmethod
    def from_option(cls, value, field="effect_size"):
        if value is None:
            return cls(field=field)
        if not isinstance(value, dict):
            raise CompareConfigError("%s must be a dictionary with measure, allowed_increase and/or allowed_decrease, got %r" % (field, value))
        unknown = sorted(set(value) - set(("measure", "allowed_increase", "allowed_decrease")))
        if unknown:
            raise CompareConfigError("%s has unknown key(s) %s: only measure, allowed_increase and allowed_decrease are allowed"
                                     % (field, ", ".join(unknown)))
        return cls(value.get("measure") or "mean_ratio", value.get("allowed_increase"), value.get("allowed_decrease"), field=field)

    def exceeded(self, deviation, ratio, shift):
        """Whether a significant ``deviation`` (``increase``/``decrease``) is larger than allowed."""
        if self.measure == "mean_ratio":
            if ratio is None:        # the primary's mean is 0 and the canary's is not: infinitely larger
                return True
            return ratio > self.allowed_increase if deviation == "increase" else ratio < self.allowed_decrease
        return shift > self.allowed_increase if deviation == "increase" else shift < -self.allowed_decrease

    def to_dict(self):
        return {"measure": self.measure, "allowed_increase": self.allowed_increase, "allowed_decrease": self.allowed_decrease}


class MetricSpec(object):
    """How one metric is judged: ``direction``, ``confidence``, ``effect_size``, ``critical``, ``weight``."""

    def __init__(self, name, direction="either", confidence=DEFAULT_CONFIDENCE, effect_size=None, critical=False, weight=1.0,
                 min_samples=DEFAULT_MIN_SAMPLES, field=None):
        field = field or name
        if direction not in DIRECTIONS:
            raise CompareConfigError("%s.direction %r is not known: choose increase (higher is worse, e.g. latency), decrease "
                                     "(lower is worse, e.g. success rate) or either" % (field, direction))
        self.name = name
        self.direction = direction
        self.confidence = check_confidence(confidence, "%s.confidence" % field)
        self.effect_size = effect_size if isinstance(effect_size, EffectSize) else EffectSize.from_option(effect_size, "%s.effect_size" % field)
        if not isinstance(critical, bool):
            raise CompareConfigError("%s.critical must be true or false, got %r" % (field, critical))
        self.critical = critical
        self.weight = _number(weight, "%s.weight" % field)
        if self.weight < 0:
            raise CompareConfigError("%s.weight %s is negative: a weight is the metric's share of the score, 0 or more (default 1)"
                                     % (field, _fmt(self.weight)))
        self.min_samples = check_min_samples(min_samples, "%s.min_samples" % field)

    @property
    def alternative(self):
        return ALTERNATIVES[self.direction]


class Thresholds(object):
    """The score thresholds (0-100): a score >= ``pass_score`` is Pass, >= ``marginal`` Marginal, else Fail."""

    def __init__(self, pass_score=DEFAULT_PASS_SCORE, marginal=DEFAULT_MARGINAL_SCORE, field="thresholds"):
        self.pass_score = _number(DEFAULT_PASS_SCORE if pass_score is None else pass_score, "%s.pass" % field)
        self.marginal = _number(DEFAULT_MARGINAL_SCORE if marginal is None else marginal, "%s.marginal" % field)
        for option, value in (("pass", self.pass_score), ("marginal", self.marginal)):
            if not 0.0 <= value <= 100.0:
                raise CompareConfigError("%s.%s %s is outside 0..100: scores are percentages of the metrics' weight"
                                         % (field, option, _fmt(value)))
        if self.pass_score < self.marginal:
            raise CompareConfigError("%s.pass (%s) is below %s.marginal (%s): a passing score must be at least the marginal one; "
                                     "raise pass or lower marginal (defaults 95 and 75)"
                                     % (field, _fmt(self.pass_score), field, _fmt(self.marginal)))

    @classmethod
    def from_option(cls, value, field="thresholds"):
        if value is None:
            return cls(field=field)
        if not isinstance(value, dict):
            raise CompareConfigError("%s must be a dictionary with pass and/or marginal, got %r" % (field, value))
        unknown = sorted(set(value) - set(("pass", "marginal")))
        if unknown:
            raise CompareConfigError("%s has unknown key(s) %s: only pass and marginal are allowed" % (field, ", ".join(unknown)))
        return cls(value.get("pass"), value.get("marginal"), field=field)

    def verdict(self, score):
        if score >= self.pass_score:
            return VERDICT_PASS
        if score >= self.marginal:
            return VERDICT_MARGINAL
        return VERDICT_FAIL

    def to_dict(self):
        return {"pass": self.pass_score, "marginal": self.marginal}


def check_confidence(value, field="confidence"):
    number = _number(value, field)
    if not 0.0 < number < 1.0:
        raise CompareConfigError("%s %s is outside (0, 1): it is the test's confidence level, e.g. 0.98 (the default) for a 2%% "
                                 "false-alarm rate per metric; write 98%% as 0.98" % (field, _fmt(number)))
    return number


def check_min_samples(value, field="min_samples"):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise CompareConfigError("%s must be a whole number of samples, 1 or more (default %d), got %r" % (field, DEFAULT_MIN_SAMPLES, value))
    return value


def check_on_no_data(value, field="on_no_data"):
    if value not in ON_NO_DATA_CHOICES:
        raise CompareConfigError("%s must be one of %s, got %r" % (field, ", ".join(ON_NO_DATA_CHOICES), value))
    return value


# --------------------------------------------------------------------------------------------
# Classification, score, verdict
# --------------------------------------------------------------------------------------------
def clean(values):
    """``(finite values, how many were dropped)``: NaN and infinities (a ratio over no requests) are not samples."""
    kept = []
    for value in values or []:
        number = float(value)
        if math.isnan(number) or math.isinf(number):
            continue
        kept.append(number)
    return kept, len(values or []) - len(kept)


def classify(spec, canary, primary):
    """Judge one metric: a dict with the classification, the reason and every number it rests on.

    ``canary`` / ``primary`` are lists of sample values, or ``None`` when the side has no series."""
    canary_values, canary_dropped = clean(canary)
    primary_values, primary_dropped = clean(primary)
    result = {
        "name": spec.name, "classification": None, "direction": spec.direction, "alternative": spec.alternative,
        "confidence": spec.confidence, "alpha": round(1.0 - spec.confidence, 12), "critical": spec.critical, "weight": spec.weight,
        "effect_size": spec.effect_size.to_dict(),
        "canary": _side(canary, canary_values, canary_dropped), "primary": _side(primary, primary_values, primary_dropped),
        "u": None, "p_value": None, "method": None, "significant": None, "deviation": None,
        "mean_ratio": None, "hodges_lehmann_shift": None, "effect_exceeded": None, "reason": "",
    }
    missing = [(side, values, given) for side, values, given in (("canary", canary_values, canary), ("primary", primary_values, primary))
               if len(values) < spec.min_samples]
    if missing:
        result["classification"] = CLASS_NODATA
        result["reason"] = "; ".join(_no_data_reason(side, values, given, spec.min_samples) for side, values, given in missing)
        return result
    test = mann_whitney_u(canary_values, primary_values, alternative=spec.alternative)
    ratio = mean_ratio(canary_values, primary_values)
    shift = hodges_lehmann_shift(canary_values, primary_values)
    result.update(u=test.u, p_value=test.p_value, method=test.method, mean_ratio=ratio, hodges_lehmann_shift=shift)
    alpha = result["alpha"]
    result["significant"] = test.p_value < alpha
    relation = "<" if result["significant"] else ">="
    shown = "p = %s %s alpha %s (%s test, U = %s)" % (_fmt_p(test.p_value), relation, _fmt(alpha), test.alternative, _fmt(test.u))
    if not result["significant"]:
        result["classification"] = CLASS_PASS
        result["reason"] = "no significant difference from the primary: %s" % shown
        return result
    deviation = _deviation(spec.direction, shift, canary_values, primary_values)
    result["deviation"] = deviation
    exceeded = spec.effect_size.exceeded(deviation, ratio, shift)
    result["effect_exceeded"] = exceeded
    effect = _effect_text(spec.effect_size, deviation, ratio, shift)
    if not exceeded:
        result["classification"] = CLASS_PASS
        result["reason"] = "the canary is significantly %s (%s) but within the effect-size bound: %s" % (
            "higher" if deviation == "increase" else "lower", shown, effect)
        return result
    result["classification"] = CLASS_HIGH if deviation == "increase" else CLASS_LOW
    result["reason"] = "the canary is significantly %s than the primary: %s; %s" % (
        "higher" if deviation == "increase" else "lower", shown, effect)
    return result


def _side(given, values, dropped):
    return {"samples": len(values), "dropped": dropped, "series": given is not None,
            "mean": mean(values) if values else None, "median": median(values) if values else None}


def _no_data_reason(side, values, given, min_samples):
    if given is None:
        return "the %s has no series (does the %s workload receive traffic, and does the query select it?)" % (side, side)
    if not values:
        return "the %s has no usable samples (empty or NaN: no traffic in the window?)" % side
    return "the %s has %d usable sample(s), fewer than min_samples %d (widen the window or shorten the step)" % (side, len(values), min_samples)


def _deviation(direction, shift, canary, primary):
    if direction != "either":
        return direction
    if shift != 0.0:
        return "increase" if shift > 0 else "decrease"
    return "increase" if mean(canary) >= mean(primary) else "decrease"


def _effect_text(effect, deviation, ratio, shift):
    if effect.measure == "mean_ratio":
        bound = effect.allowed_increase if deviation == "increase" else effect.allowed_decrease
        shown = "undefined (primary mean 0)" if ratio is None else _fmt(ratio)
        return "mean ratio %s, allowed %s %s" % (shown, "up to" if deviation == "increase" else "down to", _fmt(bound))
    bound = effect.allowed_increase if deviation == "increase" else -effect.allowed_decrease
    return "Hodges-Lehmann shift %s, allowed %s %s" % (_fmt(shift), "up to" if deviation == "increase" else "down to", _fmt(bound))


def score(results, thresholds, on_no_data="fail"):
    """The run's judgment from the classified metrics (``classify`` results, in order).

    Score = 100 x (weight of the Pass metrics) / (weight of the counted metrics); NoData counts as
    failing (``on_no_data=fail``), passing (``pass``) or not at all (``skip``). A ``critical`` metric
    that fails makes the verdict Fail whatever the score."""
    check_on_no_data(on_no_data)
    counted, passed, failed, skipped, critical_failed = 0.0, 0.0, [], [], []
    for item in results:
        cls = item["classification"]
        if cls == CLASS_NODATA and on_no_data == "skip":
            skipped.append(item["name"])
            continue
        ok = cls == CLASS_PASS or (cls == CLASS_NODATA and on_no_data == "pass")
        counted += item["weight"]
        if ok:
            passed += item["weight"]
        else:
            failed.append(item["name"])
            if item["critical"]:
                critical_failed.append(item["name"])
    judged = [item for item in results if item["name"] not in skipped]
    if not judged:
        value, verdict = None, VERDICT_FAIL
        reason = "no metric could be judged (all had no data and on_no_data=skip)"
    elif counted == 0.0:
        raise CompareConfigError("every judged metric has weight 0: give at least one metric a positive weight")
    else:
        value = 100.0 * passed / counted
        verdict = thresholds.verdict(value)
        reason = "score %s (pass >= %s, marginal >= %s)" % (_fmt(round(value, 2)), _fmt(thresholds.pass_score), _fmt(thresholds.marginal))
        if critical_failed:
            verdict = VERDICT_FAIL
            reason = "critical metric(s) %s failed; %s" % (", ".join(critical_failed), reason)
    return {"verdict": verdict, "score": value, "thresholds": thresholds.to_dict(), "on_no_data": on_no_data,
            "passed_weight": passed, "counted_weight": counted, "failed_metrics": failed, "skipped_metrics": skipped,
            "critical_failed": critical_failed, "reason": reason}


def judge(specs, samples, thresholds=None, on_no_data="fail"):
    """Classify every metric of ``specs`` with ``samples[name] = (canary values or None, primary values or None)``
    and score the run; returns ``{verdict, score, ..., metrics: [classify results]}``."""
    thresholds = thresholds or Thresholds()
    names = [spec.name for spec in specs]
    if len(set(names)) != len(names):
        raise CompareConfigError("metric names must be unique, got %s" % ", ".join(names))
    if specs and sum(spec.weight for spec in specs) == 0.0:
        raise CompareConfigError("every metric has weight 0: give at least one metric a positive weight (default 1)")
    results = []
    for spec in specs:
        canary, primary = samples.get(spec.name, (None, None))
        results.append(classify(spec, canary, primary))
    report = score(results, thresholds, on_no_data)
    report["metrics"] = results
    return report


def _number(value, field):
    if isinstance(value, bool) or value is None:
        raise CompareConfigError("%s must be a number, got %r" % (field, value))
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise CompareConfigError("%s must be a number, got %r" % (field, value))
    if math.isnan(number) or math.isinf(number):
        raise CompareConfigError("%s must be a finite number, got %r" % (field, value))
    return number


def _fmt(value):
    text = "%.6g" % value
    return text


def _fmt_p(value):
    return "%.3g" % value
