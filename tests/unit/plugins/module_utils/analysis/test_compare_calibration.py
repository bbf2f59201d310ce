"""The judge's error rates on simulated samples (seeded): identical versions fail about 1 - confidence of
the time and never more, a real regression is found. A quick stand-in for issue 14's judge benchmark."""

import random

from ansible_collections.progressive.delivery.plugins.module_utils.analysis import compare

RUNS = 2000


def rate(classification, direction, n_canary, n_primary, shift, seed, scale=10.0, confidence=0.98, rounding=None):
    rng = random.Random(seed)
    spec = compare.MetricSpec("latency", direction=direction, confidence=confidence)
    hits = 0
    for _run in range(RUNS):
        primary = [rng.gauss(100.0, scale) for _draw in range(n_primary)]
        canary = [rng.gauss(100.0 + shift, scale) for _draw in range(n_canary)]
        if rounding is not None:
            primary = [round(v / rounding) * rounding for v in primary]
            canary = [round(v / rounding) * rounding for v in canary]
        if compare.classify(spec, canary, primary)["classification"] == classification:
            hits += 1
    return hits / float(RUNS)


def test_identical_versions_fail_about_two_percent_one_sided():
    # Binomial standard deviation at 2 % over 2000 runs: 0.3 %.
    assert 0.01 <= rate("High", "increase", 20, 20, 0.0, seed=1) <= 0.03


def test_identical_versions_two_sided_split_between_high_and_low():
    high, low = rate("High", "either", 20, 20, 0.0, seed=2), rate("Low", "either", 20, 20, 0.0, seed=2)
    assert 0.01 <= high + low <= 0.03 and high > 0.002 and low > 0.002


def test_tied_samples_stay_calibrated():
    # Latencies rounded to 5 ms: many ties, the tie-corrected normal approximation.
    assert 0.008 <= rate("High", "increase", 30, 30, 0.0, seed=3, rounding=5.0) <= 0.03


def test_exact_small_samples_never_exceed_alpha():
    # 6 against 6: the exact test cannot reach 2 % exactly, so it is conservative.
    assert rate("High", "increase", 6, 6, 0.0, seed=4) <= 0.02


def test_power_against_a_regression_of_one_standard_deviation():
    # +10 ms on a 10 ms spread, 20 samples a side: the t-test's power at 2 % one-sided is about 0.8.
    assert rate("High", "increase", 20, 20, 10.0, seed=5) >= 0.7
    # +30 ms is found every time.
    assert rate("High", "increase", 20, 20, 30.0, seed=6) == 1.0


def test_an_improvement_is_never_a_failure_for_direction_increase():
    assert rate("High", "increase", 20, 20, -30.0, seed=7) == 0.0
