"""Classification, effect sizes, score and verdict of the canary-versus-primary judge, and every bad input."""

import math
import random

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils.analysis import compare
from ansible_collections.progressive.delivery.plugins.module_utils.analysis.compare import CompareConfigError, MetricSpec, Thresholds

RNG = random.Random(42)
BASE = [RNG.gauss(100.0, 5.0) for _draw in range(30)]
SAME = [RNG.gauss(100.0, 5.0) for _draw in range(30)]
HIGHER = [v + 30.0 for v in SAME]
LOWER = [v - 30.0 for v in SAME]


def spec(name="latency", **kwargs):
    return MetricSpec(name, **kwargs)


# -- classification -------------------------------------------------------------------------------
def test_identical_distributions_pass_with_every_number_recorded():
    result = compare.classify(spec(direction="increase"), SAME, BASE)
    assert result["classification"] == "Pass" and result["significant"] is False
    assert result["alternative"] == "greater" and result["method"] == "asymptotic" and result["confidence"] == 0.98
    assert result["alpha"] == pytest.approx(0.02)
    assert 0.0 <= result["p_value"] <= 1.0 and result["u"] is not None
    assert result["canary"]["samples"] == 30 and result["primary"]["samples"] == 30
    assert result["mean_ratio"] == pytest.approx(compare.mean(SAME) / compare.mean(BASE))
    assert result["hodges_lehmann_shift"] is not None
    assert result["reason"].startswith("no significant difference from the primary: p = ")


def test_regression_in_the_failing_direction_is_high():
    result = compare.classify(spec(direction="increase"), HIGHER, BASE)
    assert result["classification"] == "High" and result["significant"] is True and result["deviation"] == "increase"
    assert result["effect_exceeded"] is True and result["p_value"] < 1e-6
    assert result["hodges_lehmann_shift"] == pytest.approx(30.0, abs=4.0)
    assert "significantly higher than the primary" in result["reason"] and "mean ratio" in result["reason"]


def test_decrease_is_low_for_direction_decrease_and_either():
    assert compare.classify(spec(direction="decrease"), LOWER, BASE)["classification"] == "Low"
    assert compare.classify(spec(direction="either"), LOWER, BASE)["classification"] == "Low"
    assert compare.classify(spec(direction="either"), HIGHER, BASE)["classification"] == "High"


def test_a_deviation_in_the_harmless_direction_passes():
    # Faster canary with direction=increase: the one-sided test does not fire.
    result = compare.classify(spec(direction="increase"), LOWER, BASE)
    assert result["classification"] == "Pass" and result["significant"] is False and result["p_value"] > 0.99
    assert compare.classify(spec(direction="decrease"), HIGHER, BASE)["classification"] == "Pass"


def test_effect_size_bound_turns_a_small_significant_change_into_pass():
    slightly = [v * 1.05 for v in BASE]
    strict = compare.classify(spec(direction="increase"), slightly, BASE)
    assert strict["classification"] == "High"      # Kayenta's default: any significant change fails
    tolerant = compare.classify(spec(direction="increase", effect_size={"allowed_increase": 1.1}), slightly, BASE)
    assert tolerant["classification"] == "Pass" and tolerant["significant"] is True and tolerant["effect_exceeded"] is False
    assert "within the effect-size bound" in tolerant["reason"] and "allowed up to 1.1" in tolerant["reason"]
    shift = compare.classify(spec(direction="increase", effect_size={"measure": "hodges_lehmann", "allowed_increase": 10}), slightly, BASE)
    assert shift["classification"] == "Pass" and shift["effect_size"]["measure"] == "hodges_lehmann"
    shift = compare.classify(spec(direction="increase", effect_size={"measure": "hodges_lehmann", "allowed_increase": 2}), slightly, BASE)
    assert shift["classification"] == "High"


def test_low_with_a_ratio_bound():
    lower = [v * 0.95 for v in BASE]
    assert compare.classify(spec(direction="decrease", effect_size={"allowed_decrease": 0.9}), lower, BASE)["classification"] == "Pass"
    assert compare.classify(spec(direction="decrease", effect_size={"allowed_decrease": 0.97}), lower, BASE)["classification"] == "Low"
    result = compare.classify(spec(direction="decrease", effect_size={"measure": "hodges_lehmann", "allowed_decrease": 1}), lower, BASE)
    assert result["classification"] == "Low"


def test_confidence_changes_the_decision():
    rng = random.Random(7)
    primary = [rng.gauss(100, 10) for _draw in range(20)]
    canary = [rng.gauss(107, 10) for _draw in range(20)]
    loose = compare.classify(spec(direction="increase", confidence=0.8), canary, primary)
    strict = compare.classify(spec(direction="increase", confidence=0.9999), canary, primary)
    assert loose["p_value"] == strict["p_value"]
    assert loose["p_value"] < 0.2 and strict["p_value"] > 0.0001
    assert (loose["classification"], strict["classification"]) == ("High", "Pass")


def test_exact_method_on_small_samples():
    result = compare.classify(spec(direction="increase"), [10.0, 11.0, 12.0, 13.0, 14.0, 15.0], [1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    assert result["method"] == "exact" and result["p_value"] == pytest.approx(1.0 / 924.0)
    assert result["u"] == 36.0 and result["classification"] == "High"


def test_primary_mean_zero():
    result = compare.classify(spec(direction="increase"), [1.0, 2.0, 1.0, 3.0, 2.0, 1.0], [0.0] * 6)
    assert result["mean_ratio"] is None and result["classification"] == "High" and "undefined (primary mean 0)" in result["reason"]
    both_zero = compare.classify(spec(), [0.0] * 6, [0.0] * 6)
    assert both_zero["classification"] == "Pass" and both_zero["mean_ratio"] == 1.0 and both_zero["p_value"] == 1.0


# -- NoData -------------------------------------------------------------------------------------------
def test_no_primary_series_is_nodata_not_a_crash():
    result = compare.classify(spec(), SAME, None)
    assert result["classification"] == "NoData" and result["primary"]["series"] is False and result["p_value"] is None
    assert result["reason"].startswith("the primary has no series")


def test_empty_nan_and_too_few_samples_are_nodata():
    assert compare.classify(spec(), [], BASE)["reason"].startswith("the canary has no usable samples")
    nan = compare.classify(spec(), [float("nan")] * 10, BASE)
    assert nan["classification"] == "NoData" and nan["canary"]["dropped"] == 10
    few = compare.classify(spec(min_samples=5), BASE[:4], BASE)
    assert few["classification"] == "NoData" and "4 usable sample(s), fewer than min_samples 5" in few["reason"]
    both = compare.classify(spec(), None, None)
    assert "the canary has no series" in both["reason"] and "the primary has no series" in both["reason"]


def test_nan_and_inf_samples_are_dropped_and_counted():
    result = compare.classify(spec(), SAME + [float("nan"), float("inf")], BASE)
    assert result["canary"]["samples"] == 30 and result["canary"]["dropped"] == 2 and result["classification"] == "Pass"


# -- score and verdict ----------------------------------------------------------------------------------
def metrics_report(classifications, weights=None, critical=(), on_no_data="fail", thresholds=None):
    samples = {"Pass": (SAME, BASE), "High": (HIGHER, BASE), "NoData": (SAME, None)}
    specs, data = [], {}
    for index, cls in enumerate(classifications):
        name = "m%d" % index
        specs.append(spec(name, direction="increase", weight=(weights or [1] * len(classifications))[index], critical=name in critical))
        data[name] = samples[cls]
    return compare.judge(specs, data, thresholds or Thresholds(), on_no_data=on_no_data)


def test_all_pass_scores_100():
    report = metrics_report(["Pass", "Pass"])
    assert (report["verdict"], report["score"], report["failed_metrics"]) == ("Pass", 100.0, [])
    assert [m["classification"] for m in report["metrics"]] == ["Pass", "Pass"]
    assert report["thresholds"] == {"pass": 95.0, "marginal": 75.0} and report["reason"] == "score 100 (pass >= 95, marginal >= 75)"


def test_weighted_score_marginal_and_fail():
    marginal = metrics_report(["Pass", "High"], weights=[4, 1])
    assert marginal["score"] == pytest.approx(80.0) and marginal["verdict"] == "Marginal" and marginal["failed_metrics"] == ["m1"]
    assert marginal["passed_weight"] == 4.0 and marginal["counted_weight"] == 5.0
    failing = metrics_report(["Pass", "High"])
    assert failing["score"] == pytest.approx(50.0) and failing["verdict"] == "Fail"


def test_score_on_the_thresholds_is_inclusive():
    report = metrics_report(["Pass", "Pass", "Pass", "High"], thresholds=Thresholds(75, 50))
    assert report["score"] == 75.0 and report["verdict"] == "Pass"
    report = metrics_report(["Pass", "High"], thresholds=Thresholds(90, 50))
    assert report["score"] == 50.0 and report["verdict"] == "Marginal"


def test_critical_metric_fails_the_run_whatever_the_score():
    report = metrics_report(["Pass"] * 9 + ["High"], critical=("m9",), thresholds=Thresholds(80, 50))
    assert report["score"] == pytest.approx(90.0) and report["verdict"] == "Fail" and report["critical_failed"] == ["m9"]
    assert report["reason"].startswith("critical metric(s) m9 failed; score 90")
    not_critical = metrics_report(["Pass"] * 9 + ["High"], thresholds=Thresholds(80, 50))
    assert not_critical["verdict"] == "Pass"


def test_weight_zero_metric_is_reported_but_does_not_count():
    report = metrics_report(["Pass", "High"], weights=[1, 0])
    assert report["score"] == 100.0 and report["verdict"] == "Pass" and report["metrics"][1]["classification"] == "High"


@pytest.mark.parametrize("on_no_data,score,verdict,skipped", [("fail", 50.0, "Fail", []), ("pass", 100.0, "Pass", []), ("skip", 100.0, "Pass", ["m1"])])
def test_nodata_counts_as_on_no_data_says(on_no_data, score, verdict, skipped):
    report = metrics_report(["Pass", "NoData"], on_no_data=on_no_data)
    assert (report["score"], report["verdict"], report["skipped_metrics"]) == (score, verdict, skipped)
    assert report["metrics"][1]["classification"] == "NoData"


def test_critical_nodata_fails_unless_skipped():
    assert metrics_report(["Pass", "NoData"], critical=("m1",), thresholds=Thresholds(50, 10))["verdict"] == "Fail"
    assert metrics_report(["Pass", "NoData"], critical=("m1",), on_no_data="skip")["verdict"] == "Pass"


def test_everything_skipped_is_fail_without_a_score():
    report = metrics_report(["NoData"], on_no_data="skip")
    assert report["score"] is None and report["verdict"] == "Fail" and "no metric could be judged" in report["reason"]


# -- bad input: each a typed error naming the option and the fix -----------------------------------------
@pytest.mark.parametrize("confidence", [0, 1, 1.5, -0.1, 98])
def test_confidence_outside_zero_one(confidence):
    with pytest.raises(CompareConfigError, match=r"latency\.confidence .* is outside \(0, 1\).*e\.g\. 0\.98.*write 98% as 0\.98"):
        spec(confidence=confidence)
    with pytest.raises(CompareConfigError, match=r"^confidence .* is outside \(0, 1\)"):
        compare.check_confidence(confidence)


def test_confidence_not_a_number():
    with pytest.raises(CompareConfigError, match=r"latency\.confidence must be a number, got 'high'"):
        spec(confidence="high")
    with pytest.raises(CompareConfigError, match=r"must be a finite number"):
        spec(confidence=float("nan"))


def test_pass_threshold_below_marginal():
    with pytest.raises(CompareConfigError, match=r"thresholds\.pass \(70\) is below thresholds\.marginal \(80\).*raise pass or lower marginal"):
        Thresholds(70, 80)
    with pytest.raises(CompareConfigError, match=r"thresholds\.pass 120 is outside 0\.\.100"):
        Thresholds(120, 80)
    with pytest.raises(CompareConfigError, match=r"thresholds has unknown key\(s\) passing"):
        Thresholds.from_option({"passing": 90})


def test_unknown_direction():
    with pytest.raises(CompareConfigError, match=r"latency\.direction 'up' is not known: choose increase .*, decrease .* or either"):
        spec(direction="up")


def test_negative_weight():
    with pytest.raises(CompareConfigError, match=r"latency\.weight -1 is negative: .* 0 or more \(default 1\)"):
        spec(weight=-1)


def test_all_weights_zero():
    with pytest.raises(CompareConfigError, match=r"every metric has weight 0"):
        compare.judge([spec("a", weight=0), spec("b", weight=0)], {})


def test_bad_effect_size():
    with pytest.raises(CompareConfigError, match=r"latency\.effect_size\.measure 'median' is not known: choose mean_ratio or hodges_lehmann"):
        spec(effect_size={"measure": "median"})
    with pytest.raises(CompareConfigError, match=r"allowed_increase 0\.9 is below 1: .*e\.g\. 1\.1"):
        spec(effect_size={"allowed_increase": 0.9})
    with pytest.raises(CompareConfigError, match=r"allowed_decrease 1\.2 is not in \(0, 1\]"):
        spec(effect_size={"allowed_decrease": 1.2})
    with pytest.raises(CompareConfigError, match=r"allowed_decrease -3 is negative: for hodges_lehmann"):
        spec(effect_size={"measure": "hodges_lehmann", "allowed_decrease": -3})
    with pytest.raises(CompareConfigError, match=r"unknown key\(s\) bound"):
        spec(effect_size={"bound": 2})


def test_bad_min_samples_on_no_data_and_names():
    with pytest.raises(CompareConfigError, match=r"latency\.min_samples must be a whole number of samples, 1 or more"):
        spec(min_samples=0)
    with pytest.raises(CompareConfigError, match=r"on_no_data must be one of fail, pass, skip, got 'ignore'"):
        compare.score([], Thresholds(), on_no_data="ignore")
    with pytest.raises(CompareConfigError, match=r"metric names must be unique"):
        compare.judge([spec("a"), spec("a")], {})


def test_bad_test_arguments():
    with pytest.raises(CompareConfigError, match=r"at least one value in each sample"):
        compare.mann_whitney_u([], [1.0])
    with pytest.raises(CompareConfigError, match=r"cannot rank NaN"):
        compare.mann_whitney_u([math.nan], [1.0])
    with pytest.raises(CompareConfigError, match=r"alternative must be"):
        compare.mann_whitney_u([1.0], [2.0], alternative="bigger")
    with pytest.raises(CompareConfigError, match=r"method must be"):
        compare.mann_whitney_u([1.0], [2.0], method="permutation")


# -- effect-size helpers ------------------------------------------------------------------------------------
def test_hodges_lehmann_and_medians():
    assert compare.hodges_lehmann_shift([3.0, 4.0, 5.0], [1.0, 2.0]) == 2.5
    assert compare.median([1.0, 3.0, 2.0]) == 2.0 and compare.median([1.0, 2.0, 3.0, 4.0]) == 2.5
    assert compare.mean_ratio([2.0, 4.0], [1.0, 2.0]) == 2.0
