"""The filters hand the strategies and the limits through to the judge."""

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.progressive.delivery.plugins.filter import rollout, schedule

MATCH = [{"headers": {"x-canary": {"exact": "insider"}}}]


def test_canary_steps_builds_every_strategy():
    assert schedule.canary_steps({"max_weight": 50, "step_weight": 25}) == [{"weight": 25}, {"weight": 50}]
    ab = schedule.canary_steps({"iterations": 2, "match": MATCH, "step_weight": 10}, "auto")
    assert [step["iteration"] for step in ab] == [0, 1, 2] and ab[0]["match"] == MATCH
    with pytest.raises(AnsibleFilterError, match="rollout analysis: strategy blue_green needs iterations"):
        schedule.canary_steps({"step_weight": 10}, "blue_green")


def test_canary_judge_passes_the_limits_and_keeps_the_counters():
    settings = rollout.rollout_settings({"target": "podinfo", "namespace": "test", "strategy": "auto",
                                         "analysis": {"interval": "1m", "threshold": 5, "step_weight": 50, "provider": "istio",
                                                      "on_no_data": "fail", "metrics": [], "consecutive_error_limit": 0}})
    error = {"passed": False, "metrics": [{"name": "m", "status": "error", "message": "metric m: HTTP 503"}]}
    state = {"step": "0", "weight": "50", "failed_checks": "0", "iterations": "1", "consecutive_errors": "0", "unrelated": "x"}
    answer = rollout.canary_judge(state, settings, {"check": error}, "podinfo.test")
    assert (answer["action"], answer["limit"]) == ("rollback", "consecutive_error_limit")
    assert answer["state"]["failed_checks"] == 0 and answer["state"]["consecutive_errors"] == 1
    start = rollout.canary_judge_start({}, "new", settings, "podinfo.test")
    # the steps, the failed checks allowed, one, no errors in a row (limit 0), and route_drift reassert's re-asserted
    # intervals (threshold 5 in a row, before each of the two steps and after the last)
    assert start["state"]["max_iterations"] == 2 + 5 + 1 + 0 + 5 * 3
