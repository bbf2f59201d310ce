"""Fast abort: the sequential test aborts a failing canary within few requests and a healthy one (almost) never."""

import random

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils.analysis import fast_abort as fa


def test_boundaries_follow_the_error_rates():
    test = fa.settings(99)
    assert test["p0"] == pytest.approx(0.01) and test["p1"] == pytest.approx(0.03)
    assert test["upper"] == pytest.approx(4.4998, abs=1e-3)  # ln(0.9 / 0.01)


def test_a_broken_canary_is_aborted_early():
    test = fa.settings(99)
    # one request in three fails (podinfo --random-error reads ~89 % success): a handful of requests is enough
    assert fa.decide(test, 12, 4)["abort"] is False  # 4.23 < ln(0.9 / 0.01)
    decision = fa.decide(test, 15, 5)
    assert decision["abort"] is True and decision["rule"] == "sequential" and "5 of 15 requests failed" in decision["reason"]
    assert fa.decide(test, 15, 1)["abort"] is False


def test_unreachable_threshold_aborts_at_once():
    test = fa.settings(99)
    decision = fa.decide(test, 3, 2, expected_requests=100)
    assert decision["abort"] is True and decision["rule"] == "unreachable" and "at best 98.00 %" in decision["reason"]
    assert fa.decide(test, 3, 1, expected_requests=100)["abort"] is False


def _interval(test, rate, requests, rng, checks=10):
    failed = 0
    for index in range(1, requests + 1):
        failed += rng.random() < rate
        if index % (requests // checks) == 0 and fa.decide(test, index, failed)["abort"]:
            return True
    return False


def test_healthy_canaries_are_not_aborted_by_noise():
    rng = random.Random(20261201)
    test = fa.settings(99)
    # 300 healthy intervals of 600 requests at 0.2 % errors (well within 99 %), looked at 10 times each: no abort
    assert sum(_interval(test, 0.002, 600, rng) for _interval_index in range(300)) == 0
    # exactly at the threshold the false-alarm rate stays within alpha (Wald's bound, looked at repeatedly)
    at_threshold = sum(_interval(test, 0.01, 600, rng) for _interval_index in range(500)) / 500.0
    assert at_threshold <= test["alpha"] + 0.01


def test_power_against_a_clear_regression():
    rng = random.Random(7)
    test = fa.settings(99)
    caught = sum(_interval(test, 0.05, 600, rng) for _interval_index in range(200)) / 200.0
    assert caught >= 0.99


@pytest.mark.parametrize("kwargs, field", [
    ({"min_success_rate": 100}, "threshold_range.min"),
    ({"min_success_rate": 99, "alpha": 0}, "fast_abort.false_alarm_rate"),
    ({"min_success_rate": 99, "alpha": 1.5}, "fast_abort.false_alarm_rate"),
    ({"min_success_rate": 99, "beta": 1}, "fast_abort.missed_rate"),
    ({"min_success_rate": 99, "ratio": 1}, "fast_abort.ratio"),
])
def test_bad_settings_name_the_option(kwargs, field):
    with pytest.raises(fa.FastAbortError) as error:
        fa.settings(**kwargs)
    assert error.value.field == field


def test_bad_counts():
    test = fa.settings(99)
    with pytest.raises(fa.FastAbortError):
        fa.decide(test, 5, 6)
    with pytest.raises(fa.FastAbortError):
        fa.decide(test, -1, 0)
