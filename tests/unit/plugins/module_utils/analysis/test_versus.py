"""canary_compare's verdict handed to the judge inside the loop (analysis/versus.py): Fail (or a critical metric failing)
is a failed check whose reason lists the failing metrics with their numbers, Marginal is inconclusive (counted toward
inconclusive_limit), Pass passes, NoData follows on_no_data and names the metric and the missing side. The comparisons
are judged for real by compare.judge on sample lists, not written by hand."""

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.progressive.delivery.plugins.filter.versus import canary_with_comparison
from ansible_collections.progressive.delivery.plugins.module_utils.analysis import compare, judge, versus

STEPS = [{"weight": 50}, {"weight": 100}]
SAME = [100.0, 100.0, 99.5, 100.0, 100.0, 99.8, 100.0, 100.0]
LOW = [88.0, 90.5, 87.0, 91.0, 89.5, 88.5, 90.0, 86.5]
FAST = [10.0, 12.0, 11.0, 13.0, 10.5, 12.5, 11.5, 12.2]
SLOW = [40.0, 43.0, 41.0, 44.0, 40.5, 42.5, 41.5, 43.3]


def comparison(samples, on_no_data="fail", thresholds=None, critical=("request-success-rate",)):
    specs = [compare.MetricSpec("request-success-rate", direction="decrease", critical="request-success-rate" in critical),
             compare.MetricSpec("request-duration", direction="increase", critical="request-duration" in critical)]
    report = compare.judge(specs, samples, thresholds or compare.Thresholds(), on_no_data)
    report["changed"] = False
    return report


def decide(check, limits=None, state=None):
    return judge.decide(state or {"step": 0, "weight": 50, "failed_checks": 0, "iterations": 1}, STEPS, 2, {"check": check},
                        "podinfo.test", limits)


THRESHOLD_PASS = {"passed": True, "metrics": [{"name": "error-free", "status": "pass", "value": 100.0, "message": "error-free 100.00"}]}


def test_pass_passes_and_keeps_every_number():
    report = comparison({"request-success-rate": (SAME, SAME), "request-duration": (FAST, FAST)})
    check = versus.with_comparison(THRESHOLD_PASS, report)
    assert check["passed"] is True and check["judge"] == {"verdict": "Pass", "score": 100.0, "status": "pass"}
    names = [m["name"] for m in check["metrics"]]
    assert names == ["error-free", "canary-vs-primary", "judge:request-success-rate", "judge:request-duration"]
    duration = check["metrics"][3]
    assert duration["classification"] == "Pass" and duration["canary_samples"] == 8 and duration["primary_samples"] == 8
    assert duration["p_value"] == report["metrics"][1]["p_value"] and duration["mean_ratio"] == 1.0
    assert "p = " in duration["message"] and "mean ratio 1" in duration["message"]
    answer = decide(check)
    assert answer["action"] == judge.ADVANCE and answer["outcome"] == judge.PASSED


def test_a_critical_low_fails_the_check_with_the_numbers_in_the_reason():
    report = comparison({"request-success-rate": (LOW, SAME), "request-duration": (FAST, FAST)})
    assert report["verdict"] == "Fail" and report["critical_failed"] == ["request-success-rate"]
    check = versus.with_comparison(THRESHOLD_PASS, report)
    assert check["passed"] is False and check["metrics"][1]["status"] == "fail"
    answer = decide(check)
    assert answer["action"] == judge.HALT and answer["outcome"] == judge.FAILED and answer["state"]["failed_checks"] == 1
    said = answer["message"]
    assert said.startswith("Halt podinfo.test advancement canary versus primary: Fail, critical metric(s) request-success-rate failed; "
                           "score 50"), said
    assert "request-success-rate vs primary: Low - canary 89 vs primary 100 (medians, 8 and 8 samples), p = " in said
    assert "beyond the allowed mean_ratio 1" in said
    # the passing metric is not listed, the threshold metric neither
    assert "request-duration vs primary" not in said and "error-free" not in said
    rolled = decide(check, state={"step": 0, "weight": 50, "failed_checks": 1, "iterations": 2})
    assert rolled["action"] == judge.ROLLBACK and rolled["reason"].startswith("failed checks threshold reached 2 (canary versus primary: Fail")


def test_a_non_critical_high_under_the_pass_score_is_a_failed_check():
    report = comparison({"request-success-rate": (SAME, SAME), "request-duration": (SLOW, FAST)})
    assert report["verdict"] == "Fail" and report["score"] == 50.0 and not report["critical_failed"]
    answer = decide(versus.with_comparison(None, report))
    assert answer["outcome"] == judge.FAILED and "request-duration vs primary: High" in answer["message"]


def test_marginal_is_inconclusive_and_counts_toward_the_inconclusive_limit():
    report = comparison({"request-success-rate": (SAME, SAME), "request-duration": (SLOW, FAST)},
                        thresholds=compare.Thresholds(pass_score=95, marginal=50))
    assert report["verdict"] == "Marginal"
    check = versus.with_comparison(None, report)
    assert check["metrics"][0]["status"] == "inconclusive" and check["passed"] is False
    limits = {"inconclusive_limit": 1, "failure_limit": None, "consecutive_error_limit": 4}
    first = decide(check, limits)
    assert first["action"] == judge.HALT and first["outcome"] == judge.INCONCLUSIVE
    assert first["state"]["failed_checks"] == 0 and first["state"]["inconclusive"] == 1
    second = decide(check, limits, state=dict(first["state"]))
    assert second["action"] == judge.ROLLBACK and second["limit"] == "inconclusive_limit"
    # without inconclusive_limit it is a failed check, as an interval without data is in Flagger
    assert decide(check)["outcome"] == judge.FAILED


def test_a_primary_without_a_series_is_no_data_naming_the_side():
    report = comparison({"request-success-rate": (SAME, None), "request-duration": (FAST, FAST)})
    check = versus.with_comparison(THRESHOLD_PASS, report)
    assert check["metrics"][1]["status"] == "no_data"
    entry = check["metrics"][2]
    assert entry["status"] == "nodata" and entry["primary_series"] is False and entry["canary_samples"] == 8
    assert "request-success-rate vs primary: NoData - the primary has no series" in entry["message"]
    assert decide(check)["outcome"] == judge.FAILED
    limits = {"inconclusive_limit": 2, "failure_limit": None, "consecutive_error_limit": 4}
    assert decide(check, limits)["outcome"] == judge.INCONCLUSIVE
    # on_no_data=pass: the missing metric counts as passing, the verdict passes
    assert versus.with_comparison(None, comparison({"request-success-rate": (SAME, None), "request-duration": (FAST, FAST)},
                                                   on_no_data="pass"))["passed"] is True
    # on_no_data=skip with every metric missing: no score, no data
    skipped = versus.with_comparison(None, comparison({"request-success-rate": ([], None), "request-duration": (None, None)},
                                                      on_no_data="skip"))
    assert skipped["metrics"][0]["status"] == "no_data" and skipped["metrics"][0]["value"] is None


def test_a_failed_comparison_task_is_a_query_error():
    failed = {"failed": False, "changed": False, "msg": "metric request-duration (primary): bad_data: parse error", "error_kind": "api"}
    check = versus.with_comparison(THRESHOLD_PASS, failed)
    assert [m["name"] for m in check["metrics"]] == ["error-free", "canary-vs-primary"]
    assert check["metrics"][1]["status"] == "error" and "parse error" in check["metrics"][1]["message"]
    limits = {"inconclusive_limit": None, "failure_limit": None, "consecutive_error_limit": 2}
    assert decide(check, limits)["outcome"] == judge.ERROR
    assert decide(check)["outcome"] == judge.FAILED


def test_threshold_failures_still_fail_when_the_verdict_passes():
    report = comparison({"request-success-rate": (SAME, SAME), "request-duration": (FAST, FAST)})
    threshold_failed = {"passed": False, "metrics": [{"name": "error-free", "status": "fail", "message": "error-free 50.00 < 99"}]}
    check = versus.with_comparison(threshold_failed, report)
    assert check["passed"] is False
    assert decide(check)["message"] == "Halt podinfo.test advancement error-free 50.00 < 99"


def test_nothing_compared_leaves_the_check_alone_and_bad_input_is_named():
    assert versus.with_comparison(THRESHOLD_PASS, None) is THRESHOLD_PASS
    assert versus.with_comparison(THRESHOLD_PASS, {"skipped": True, "changed": False}) is THRESHOLD_PASS
    with pytest.raises(versus.VersusError, match="verdict must be Pass, Marginal or Fail"):
        versus.with_comparison(None, {"verdict": "Maybe"})
    with pytest.raises(AnsibleFilterError, match="canary_with_comparison: canary_compare's verdict"):
        canary_with_comparison(None, {"verdict": "Maybe"})
