"""The judge against Flagger's scheduler semantics (REFERENCE.md section 2), case by case."""

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils.analysis import judge

STEPS = [{"weight": 10}, {"weight": 20}, {"weight": 30}]
CANARY = "podinfo.test"


def state(step=-1, weight=0, failed_checks=0, iterations=0):
    return {"step": step, "weight": weight, "failed_checks": failed_checks, "iterations": iterations}


def passed():
    return {"passed": True, "metrics": [{"name": "request-success-rate", "status": "pass", "message": "request success rate 100.00% >= 99%"}]}


def failed(message="request success rate 88.00% < 99%"):
    return {"passed": False, "metrics": [{"name": "request-success-rate", "status": "fail", "message": message},
                                         {"name": "request-duration", "status": "pass", "message": "ok"}]}


def test_opening_routes_the_first_step_without_counting_an_interval():
    answer = judge.decide(state(), STEPS, 2, {"opening": True}, CANARY)
    assert answer["action"] == judge.ADVANCE and answer["route_weight"] == 10
    assert answer["state"] == state(step=0, weight=10)
    assert [e["text"] for e in answer["events"]] == ["Starting canary analysis for podinfo.test", "Advance podinfo.test canary weight 10"]


def test_opening_a_resumed_run_puts_the_recorded_weight_back_silently():
    answer = judge.decide(state(step=1, weight=20, failed_checks=1, iterations=3), STEPS, 2, {"opening": True}, CANARY)
    assert (answer["action"], answer["route_weight"], answer["events"]) == (judge.ADVANCE, 20, [])
    assert answer["state"] == state(step=1, weight=20, failed_checks=1, iterations=3)


def test_a_passing_interval_advances_one_step_then_promotes_after_the_last():
    answer = judge.decide(state(step=0, weight=10), STEPS, 2, {"check": passed()}, CANARY)
    assert (answer["action"], answer["route_weight"]) == (judge.ADVANCE, 20)
    assert answer["state"] == state(step=1, weight=20, iterations=1)
    assert answer["message"] == "Advance podinfo.test canary weight 20"
    last = judge.decide(state(step=2, weight=30, iterations=2), STEPS, 2, {"check": passed()}, CANARY)
    assert (last["action"], last["route_weight"]) == (judge.PROMOTE, None)


def test_no_metrics_configured_counts_as_a_pass():
    assert judge.decide(state(step=0, weight=10), STEPS, 1, {"check": None}, CANARY)["action"] == judge.ADVANCE


def test_failed_checks_halt_then_roll_back_at_the_threshold_counting_in_total():
    halt = judge.decide(state(step=1, weight=20, failed_checks=0), STEPS, 2, {"check": failed()}, CANARY)
    assert (halt["action"], halt["route_weight"]) == (judge.HALT, None)
    assert halt["state"]["failed_checks"] == 1 and halt["state"]["weight"] == 20
    assert halt["events"] == [{"text": "Halt podinfo.test advancement request success rate 88.00% < 99%", "type": "Warning"}]
    # a pass in between does not reset the count (Flagger counts in total)
    passed_between = judge.decide(halt["state"], STEPS, 2, {"check": passed()}, CANARY)
    assert passed_between["state"]["failed_checks"] == 1
    rollback = judge.decide(passed_between["state"], STEPS, 2, {"check": failed()}, CANARY)
    assert rollback["action"] == judge.ROLLBACK
    assert rollback["reason"] == "failed checks threshold reached 2 (request success rate 88.00% < 99%)"
    assert rollback["events"][-1]["text"].startswith("Rolling back podinfo.test failed checks threshold reached 2")


def test_threshold_one_rolls_back_at_the_first_failed_check():
    assert judge.decide(state(step=0, weight=10), STEPS, 1, {"check": failed()}, CANARY)["action"] == judge.ROLLBACK


def test_abort_wins_over_everything_with_the_operators_reason():
    outcome = {"interrupted": "abort", "requested_by": "ops@laptop", "request_reason": "users report errors", "check": passed()}
    answer = judge.decide(state(step=1, weight=20), STEPS, 2, outcome, CANARY)
    assert (answer["action"], answer["route_weight"], answer["reason"]) == (judge.ROLLBACK, None, "users report errors")
    without_reason = judge.decide(state(step=1, weight=20), STEPS, 2, {"interrupted": "abort", "requested_by": "ops@laptop"}, CANARY)
    assert without_reason["reason"] == "abort requested by ops@laptop"
    # also when it arrives while the canary gets ready
    assert judge.decide(state(), STEPS, 2, {"opening": True, "interrupted": "abort"}, CANARY)["action"] == judge.ROLLBACK


def test_a_new_revision_restarts_at_weight_zero_with_the_count_reset():
    answer = judge.decide(state(step=1, weight=20, failed_checks=1, iterations=4), STEPS, 3, {"interrupted": "revision"}, CANARY)
    assert (answer["action"], answer["route_weight"]) == (judge.RESTART, 0)
    assert answer["state"] == state()


def test_a_promotion_request_skips_the_rest():
    answer = judge.decide(state(step=0, weight=10), STEPS, 2, {"interrupted": "promote", "requested_by": "ops"}, CANARY)
    assert (answer["action"], answer["route_weight"]) == (judge.PROMOTE, None)
    assert answer["reason"] == "promotion requested by ops"


def test_inconsistent_input_is_refused():
    with pytest.raises(judge.JudgeError, match="threshold"):
        judge.decide(state(), STEPS, 0, {}, CANARY)
    with pytest.raises(judge.JudgeError, match="past the last step"):
        judge.decide(state(step=3, weight=30), STEPS, 1, {}, CANARY)
    with pytest.raises(judge.JudgeError, match="interrupted"):
        judge.decide(state(), STEPS, 1, {"interrupted": "pause"}, CANARY)


def test_start_of_a_new_revision_and_its_loop_bound():
    start = judge.start({"phase": "Succeeded"}, "new", STEPS, 2, CANARY)
    assert start["state"] == dict(state(), max_iterations=3 + 2 + 1)
    assert start["events"] == [{"text": "New revision detected! Scaling up podinfo.test", "type": "Normal"}]
    assert start["schedule"] == [10, 20, 30]
    restart = judge.start({"phase": "Progressing"}, "restart", STEPS, 2, CANARY)
    assert restart["events"][0]["text"] == "New revision detected! Restarting analysis for podinfo.test"


def test_resume_continues_at_the_recorded_step():
    status = {"phase": "Progressing", "canary_weight": 20, "failed_checks": 1, "iterations": 2, "schedule": [10, 20, 30]}
    start = judge.start(status, "resume", STEPS, 2, CANARY)
    assert start["state"] == dict(state(step=1, weight=20, failed_checks=1, iterations=2), max_iterations=3 + 1 + 1)
    assert [e["type"] for e in start["events"]] == ["Normal"]


def test_resume_on_a_changed_schedule_never_gives_the_canary_more_traffic():
    status = {"phase": "Progressing", "canary_weight": 20, "failed_checks": 0, "iterations": 2, "schedule": [10, 20, 30]}
    start = judge.start(status, "resume", [{"weight": 15}, {"weight": 25}, {"weight": 50}], 2, CANARY)
    assert (start["state"]["step"], start["state"]["weight"]) == (0, 15)
    assert start["events"][0]["type"] == "Warning" and "changed since the interrupted run" in start["events"][0]["text"]
    below_all = judge.start(status, "resume", [{"weight": 40}, {"weight": 80}], 2, CANARY)
    assert (below_all["state"]["step"], below_all["state"]["weight"]) == (-1, 0)


def test_max_iterations_bounds_the_loop():
    # moved from test_schedule.py with schedule.max_iterations, which the judge replaced
    steps = [{"weight": w} for w in (10, 20, 30, 40, 50)]
    assert judge.max_iterations(steps, 5) == 11
    assert judge.max_iterations(steps, 2, failed_checks=1) == 7
    assert judge.max_iterations(steps, 1, failed_checks=3) == 6
    with pytest.raises(judge.JudgeError, match="threshold must be an integer >= 1"):
        judge.max_iterations(steps, 0)
