"""The judge of an interval whose route someone else changed (rollout_analysis.route_drift)."""

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils.analysis import judge
from ansible_collections.progressive.delivery.plugins.module_utils.analysis import settings

STEPS = [{"weight": 10}, {"weight": 20}, {"weight": 30}]
CANARY = "podinfo.test"
MATCH = [{"headers": {"x-canary": {"exact": "insider"}}}]


def state(step=1, weight=20, failed_checks=1, iterations=4, **counters):
    return dict({"step": step, "weight": weight, "failed_checks": failed_checks, "iterations": iterations}, **counters)


def drifted(found=0, expected=20, route="VirtualService podinfo"):
    return {"interrupted": "route_drift", "route_drift": {"route": route, "expected": expected, "found": found,
                                                          "reason": "found canary %s %%, expected %d %%" % (found, expected)}}


def passed():
    return {"passed": True, "metrics": [{"name": "request-success-rate", "status": "pass", "message": "ok"}]}


def test_reassert_sets_the_states_route_again_without_judging_the_interval():
    answer = judge.decide(state(), STEPS, 3, drifted(), CANARY)
    assert answer["action"] == judge.HALT and answer["route_weight"] == 20
    assert answer["route"]["weight"] == 20 and answer["route"]["match"] is None
    # not judged: no failed or passed check, no iteration, the position stays
    assert answer["state"] == state(reasserted=1) and answer["outcome"] is None
    assert answer["events"] == [{"type": "Warning", "text": "route of VirtualService podinfo changed by someone else (canary 0 %, "
                                                            "expected 20 %): re-asserted, this interval is not judged"}]
    assert answer["message"] == answer["events"][0]["text"] and answer["counters"] == {"reasserted": 1}


def test_reassert_puts_back_the_whole_route_of_the_step():
    steps = [{"weight": 0, "match": MATCH, "iteration": 1, "iterations": 2}, {"weight": 0, "match": MATCH, "iteration": 2, "iterations": 2}]
    answer = judge.decide(state(step=0, weight=0), steps, 2, drifted(found=None, expected=0), CANARY)
    assert answer["route_weight"] == 0 and answer["route"]["match"] == MATCH
    assert "(canary no route, expected 0 %)" in answer["message"]


def test_abort_rolls_back_at_once_with_the_reason():
    answer = judge.decide(state(), STEPS, 3, drifted(), CANARY, route_drift=judge.ABORT)
    assert (answer["action"], answer["limit"], answer["route_weight"]) == (judge.ROLLBACK, "route_drift", None)
    assert answer["reason"] == "route changed by someone else mid-analysis (canary 0 %, expected 20 %)"
    assert answer["state"]["failed_checks"] == 1, "a drift is not the canary's failed check"


def test_more_re_asserts_in_a_row_than_the_threshold_roll_back():
    current = state()
    for count in range(1, 4):
        answer = judge.decide(current, STEPS, 3, drifted(), CANARY)
        assert answer["action"] == judge.HALT and answer["state"]["reasserted"] == count
        current = answer["state"]
    answer = judge.decide(current, STEPS, 3, drifted(), CANARY)
    assert (answer["action"], answer["limit"]) == (judge.ROLLBACK, "route_drift")
    assert answer["reason"] == ("route changed by someone else mid-analysis (canary 0 %, expected 20 %): re-asserted 3 times in a row, "
                                "more than the threshold 3")


def test_a_judged_interval_ends_the_run_of_re_asserts():
    answer = judge.decide(state(reasserted=2), STEPS, 3, {"check": passed()}, CANARY)
    assert answer["action"] == judge.ADVANCE and answer["state"]["reasserted"] == 0
    again = judge.decide(answer["state"], STEPS, 3, drifted(expected=30), CANARY)
    assert again["state"]["reasserted"] == 1 and again["route_weight"] == 30


def test_an_abort_request_and_a_new_revision_still_win():
    # the wait reports one interruption; the status' abort is it even when the route drifted too
    assert judge.decide(state(), STEPS, 3, dict(drifted(), interrupted="abort"), CANARY)["action"] == judge.ROLLBACK
    assert judge.decide(state(), STEPS, 3, dict(drifted(), interrupted="revision"), CANARY)["action"] == judge.RESTART


def test_an_unknown_action_is_refused():
    with pytest.raises(judge.JudgeError, match="route_drift must be one of reassert, abort"):
        judge.decide(state(), STEPS, 3, drifted(), CANARY, route_drift="ignore")


def test_reassert_widens_the_loop_bound_by_the_re_asserts_allowed():
    plain = judge.max_iterations(STEPS, 3)
    assert judge.max_iterations(STEPS, 3, route_drift=judge.REASSERT) == plain + 3 * 4
    assert judge.max_iterations(STEPS, 3, route_drift=judge.ABORT) == plain


def variables(**analysis):
    return {"target": "podinfo", "namespace": "test", "entry": "status", "analysis": dict({"interval": "1m", "threshold": 2,
                                                                                          "step_weight": 10, "max_weight": 30}, **analysis)}


def test_the_setting_defaults_to_reassert():
    assert settings.validate(variables())["route_drift"] == "reassert"
    assert settings.validate(variables(route_drift="abort"))["route_drift"] == "abort"


@pytest.mark.parametrize("value", ["Abort", "ignore", True, ["abort"]])
def test_a_bad_setting_names_the_variable_and_the_choices(value):
    with pytest.raises(settings.SettingsError, match=r"rollout_analysis.route_drift must be one of reassert, abort .*got"):
        settings.validate(variables(route_drift=value))
