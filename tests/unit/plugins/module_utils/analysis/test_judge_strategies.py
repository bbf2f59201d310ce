"""The judge walking every strategy's schedule, and Argo's failure accounting beside Flagger's threshold."""

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils.analysis import judge, schedule

CANARY = "podinfo.test"
MATCH = [{"headers": {"x-canary": {"exact": "insider"}}}]


def passed():
    return {"passed": True, "metrics": [{"name": "request-success-rate", "status": "pass", "message": "ok"}]}


def check(status, message):
    return {"passed": False, "metrics": [{"name": "request-success-rate", "status": status, "message": message},
                                         {"name": "request-duration", "status": "pass", "message": "ok"}]}


BREACH = check("fail", "request success rate 88.00% < 99%")
ERROR = check("error", "metric request-success-rate: Prometheus answered 503")
NO_DATA = check("no_data", "no values found for istio metric request-success-rate")
START = {"step": -1, "weight": 0, "failed_checks": 0, "iterations": 0}


def walk(steps, outcomes, threshold=1, limits=None, state=None):
    """Run the judge over ``outcomes`` (the opening first); the answers."""
    state = dict(state or START)
    answers = []
    for outcome in outcomes:
        answer = judge.decide(state, steps, threshold, outcome, CANARY, limits)
        answers.append(answer)
        state = answer["state"]
    return answers


def texts(answers):
    return [e["text"] for a in answers for e in a["events"]]


def test_ab_testing_walks_the_iterations_in_flaggers_words_then_promotes():
    steps = schedule.analysis_steps("ab_testing", iterations=3, match=MATCH)
    answers = walk(steps, [{"opening": True}] + [{"check": passed()}] * 4)
    assert texts(answers) == ["Starting canary analysis for podinfo.test", "Advance podinfo.test canary iteration 1/3",
                              "Advance podinfo.test canary iteration 2/3", "Advance podinfo.test canary iteration 3/3"]
    assert [a["action"] for a in answers] == ["advance"] * 4 + ["promote"]
    opening = answers[0]
    assert opening["route_weight"] == 0
    assert opening["route"] == {"weight": 0, "match": MATCH, "mirror": False, "mirror_weight": None, "mirror_match": None,
                                "session_affinity": None, "pause": None, "iteration": 0, "iterations": 3}
    # promotion after Flagger's iterations + 1 checked intervals, no traffic switch
    assert answers[-1]["route_weight"] is None and answers[-1]["state"]["iterations"] == 4


def test_ab_testing_carries_session_affinity_in_every_route():
    steps = schedule.analysis_steps("ab_testing", iterations=1, match=MATCH, session_affinity={"cookie_name": "canary"})
    answer = judge.decide(START, steps, 1, {"opening": True}, CANARY)
    assert answer["route"]["session_affinity"] == {"cookie_name": "canary", "max_age": 86400}


def test_blue_green_analyses_at_weight_zero_then_routes_all_traffic_to_the_canary_with_the_promotion():
    steps = schedule.analysis_steps("blue_green", iterations=2)
    answers = walk(steps, [{"opening": True}] + [{"check": passed()}] * 3)
    assert [a["route_weight"] for a in answers] == [0, 0, 0, 100]
    assert answers[-1]["action"] == "promote"
    assert answers[-1]["events"] == [{"text": "Routing all traffic to canary", "type": "Normal"}]
    assert answers[-1]["route"]["weight"] == 100 and answers[-1]["route"]["mirror"] is False


def test_blue_green_with_mirroring_mirrors_then_stops_mirroring_at_the_switch():
    steps = schedule.analysis_steps("blue_green_mirroring", iterations=1, mirror=True, mirror_weight=50)
    answers = walk(steps, [{"opening": True}, {"check": passed()}, {"check": passed()}])
    assert answers[0]["route"]["mirror"] is True and answers[0]["route"]["mirror_weight"] == 50 and answers[0]["route_weight"] == 0
    assert answers[1]["route"]["mirror"] is True
    assert answers[-1]["route"]["mirror"] is False and answers[-1]["route"]["mirror_weight"] is None
    assert answers[-1]["route_weight"] == 100


def test_a_failed_check_in_blue_green_holds_at_zero_and_rolls_back_at_the_threshold():
    steps = schedule.analysis_steps("blue_green", iterations=3)
    answers = walk(steps, [{"opening": True}, {"check": passed()}, {"check": BREACH}, {"check": BREACH}], threshold=2)
    assert [a["action"] for a in answers] == ["advance", "advance", "halt", "rollback"]
    assert answers[-1]["limit"] == "threshold" and answers[-1]["reason"].startswith("failed checks threshold reached 2")


STEPS = [{"set_weight": 20}, {"pause": {"duration": "2m"}}, {"set_weight": 50}, {"pause": {}}, {"set_weight": 80}]


def argo_steps():
    return schedule.analysis_steps("steps", steps=STEPS, interval_seconds=60)


def test_argo_steps_timed_pause_holds_for_its_intervals():
    answers = walk(argo_steps(), [{"opening": True}, {"check": passed()}, {"check": passed()}])
    assert texts(answers[:1]) == ["Starting canary analysis for podinfo.test", "Advance podinfo.test canary weight 20",
                                  "Pausing podinfo.test at step 1/3 for 2m"]
    assert answers[0]["route"]["pause"] == {"duration": "2m", "seconds": 120.0, "intervals": 2}
    assert answers[1]["action"] == "wait" and answers[1]["route_weight"] is None and answers[1]["state"]["held"] == 1
    assert answers[1]["reason"] == "step 1/3 pauses for 2m (interval 1 of 2)"
    assert answers[2]["action"] == "advance" and answers[2]["route_weight"] == 50 and answers[2]["state"]["held"] == 0
    assert texts(answers[2:]) == ["Advance podinfo.test canary weight 50", "Pausing podinfo.test at step 2/3 until promoted"]


def test_argo_indefinite_pause_waits_for_promotion_then_goes_on_with_the_next_step():
    at_pause = {"step": 1, "weight": 50, "failed_checks": 0, "iterations": 3}
    waits = walk(argo_steps(), [{"check": passed()}] * 3, state=at_pause)
    assert [a["action"] for a in waits] == ["wait"] * 3
    assert all(a["phase"] == "WaitingPromotion" and a["route_weight"] is None for a in waits)
    assert waits[0]["reason"] == "step 2/3 pauses until a promotion request (the promote playbook)"
    promoted = judge.decide(waits[-1]["state"], argo_steps(), 1, {"interrupted": "promote", "requested_by": "ops"}, CANARY)
    assert (promoted["action"], promoted["route_weight"]) == ("advance", 80)
    assert texts([promoted]) == ["Resuming podinfo.test after the pause at step 2/3: promotion requested by ops",
                                 "Advance podinfo.test canary weight 80"]
    # the last step passes: promotion
    assert judge.decide(promoted["state"], argo_steps(), 1, {"check": passed()}, CANARY)["action"] == "promote"


def test_argo_pause_checks_the_canary_in_the_background_and_a_full_promotion_skips_the_rest():
    at_pause = {"step": 1, "weight": 50, "failed_checks": 0, "iterations": 3}
    assert judge.decide(at_pause, argo_steps(), 1, {"check": BREACH}, CANARY)["action"] == "rollback"
    full = judge.decide(at_pause, argo_steps(), 1, {"interrupted": "promote", "full": True}, CANARY)
    assert full["action"] == "promote" and full["events"][0]["text"].startswith("Skipping the rest of the analysis")
    # an abort still wins at a pause
    assert judge.decide(at_pause, argo_steps(), 1, {"interrupted": "abort"}, CANARY)["action"] == "rollback"


def test_an_indefinite_pause_on_the_last_step_promotes_when_promoted():
    steps = schedule.analysis_steps("steps", steps=[{"set_weight": 50}, {"pause": {}}])
    answer = judge.decide({"step": 0, "weight": 50, "failed_checks": 0, "iterations": 2}, steps, 1, {"interrupted": "promote"}, CANARY)
    assert answer["action"] == "promote"


def test_argo_header_and_mirror_routes_are_in_the_route():
    steps = schedule.analysis_steps("steps", steps=[{"set_weight": 10}, {"set_header_route": {"name": "insiders", "match": MATCH}},
                                                    {"set_mirror_route": {"name": "shadow", "match": MATCH, "percentage": 20}}])
    answers = walk(steps, [{"opening": True}, {"check": passed()}, {"check": passed()}])
    assert answers[1]["route"]["match"] == MATCH and texts(answers[1:2]) == ["Setting header route insiders of podinfo.test"]
    assert answers[2]["route"]["mirror_match"] == MATCH and answers[2]["route"]["mirror_weight"] == 20
    assert texts(answers[2:]) == ["Setting mirror route shadow of podinfo.test (20%)"]


def test_the_loop_bound_counts_pauses_and_the_counted_apart_results():
    steps = argo_steps()  # 3 steps, a 2-interval pause and an indefinite one
    assert judge.max_iterations(steps, 2) == 2 + 1 + 1 + 2 + 1
    assert judge.max_iterations(steps, 2, indefinite_pause_intervals=10) == 2 + 11 + 1 + 2 + 1
    limits = {"inconclusive_limit": 2, "consecutive_error_limit": 4}
    assert judge.max_iterations(steps, 2, limits=limits) == 2 + 1 + 1 + 2 + 1 + 3 + 4 * 4
    start = judge.start({}, "new", steps, 2, CANARY, limits, 10)
    assert start["state"]["max_iterations"] == 2 + 11 + 1 + 2 + 1 + 3 + 16


# --- failure accounting ---------------------------------------------------------------------------------------------

CANARY_STEPS = [{"weight": 10}, {"weight": 20}, {"weight": 30}]
AT_10 = {"step": 0, "weight": 10, "failed_checks": 0, "iterations": 1}


@pytest.mark.parametrize("result, limits, expected", [
    (None, None, judge.PASSED),
    (passed(), None, judge.PASSED),
    (BREACH, None, judge.FAILED),
    (ERROR, None, judge.FAILED),          # Flagger: a query error is a failed check
    (NO_DATA, None, judge.FAILED),        # Flagger: "no values found" is a failed check
    (ERROR, {"consecutive_error_limit": 4}, judge.ERROR),
    (NO_DATA, {"inconclusive_limit": 1}, judge.INCONCLUSIVE),
    ({"passed": False, "metrics": [{"status": "no_data"}, {"status": "error"}, {"status": "fail"}]},
     {"consecutive_error_limit": 4, "inconclusive_limit": 1}, judge.FAILED),   # a breach wins
    ({"passed": False, "metrics": [{"status": "no_data"}, {"status": "error"}]},
     {"consecutive_error_limit": 4, "inconclusive_limit": 1}, judge.ERROR),    # an error over no data
    ({"passed": False}, None, judge.FAILED),
])
def test_classify(result, limits, expected):
    assert judge.classify(result, limits) == expected


def test_without_limits_every_bad_interval_counts_toward_the_threshold_as_flagger():
    answers = walk(CANARY_STEPS, [{"check": ERROR}, {"check": NO_DATA}, {"check": BREACH}], threshold=3, state=AT_10)
    assert [a["action"] for a in answers] == ["halt", "halt", "rollback"]
    assert answers[-1]["limit"] == "threshold"
    # Flagger's four keys stay alone in the state
    assert set(answers[0]["state"]) == {"step", "weight", "failed_checks", "iterations"}


def test_failure_limit_counts_failed_checks_in_a_row():
    limits = {"failure_limit": 1}
    answers = walk(CANARY_STEPS, [{"check": BREACH}, {"check": passed()}, {"check": BREACH}, {"check": BREACH}],
                   threshold=10, limits=limits, state=AT_10)
    assert [a["action"] for a in answers] == ["halt", "advance", "halt", "rollback"]
    assert answers[1]["state"]["consecutive_failures"] == 0  # a pass resets the streak ...
    assert answers[-1]["state"]["failed_checks"] == 3       # ... not the total
    assert answers[-1]["limit"] == "failure_limit"
    assert answers[-1]["reason"] == ("consecutive failures limit exceeded: 2 failed checks in a row, failure_limit 1 "
                                     "(request success rate 88.00% < 99%)")
    assert answers[-1]["events"][-1]["text"].startswith("Rolling back podinfo.test consecutive failures limit exceeded")


def test_the_threshold_still_applies_beside_the_failure_limit():
    answers = walk(CANARY_STEPS, [{"check": BREACH}, {"check": passed()}, {"check": BREACH}], threshold=2,
                   limits={"failure_limit": 5}, state=AT_10)
    assert answers[-1]["limit"] == "threshold"


def test_query_errors_count_apart_and_in_a_row():
    limits = {"consecutive_error_limit": 2}
    answers = walk(CANARY_STEPS, [{"check": ERROR}, {"check": ERROR}, {"check": passed()}, {"check": ERROR}, {"check": ERROR},
                                  {"check": ERROR}], threshold=1, limits=limits, state=AT_10)
    assert [a["action"] for a in answers] == ["halt", "halt", "advance", "halt", "halt", "rollback"]
    assert all(a["state"]["failed_checks"] == 0 for a in answers)   # errors are not breaches
    assert answers[-1]["limit"] == "consecutive_error_limit"
    assert answers[-1]["reason"].startswith("consecutive error limit exceeded: 3 query errors in a row, consecutive_error_limit 2 "
                                            "(metric request-success-rate: Prometheus answered 503")
    assert answers[0]["outcome"] == "error" and answers[0]["events"][0]["type"] == "Warning"


def test_a_breach_ends_an_error_streak_and_counts_toward_the_threshold():
    answers = walk(CANARY_STEPS, [{"check": ERROR}, {"check": BREACH}], threshold=2, limits={"consecutive_error_limit": 1}, state=AT_10)
    assert answers[-1]["state"]["consecutive_errors"] == 0 and answers[-1]["state"]["failed_checks"] == 1
    assert answers[-1]["action"] == "halt"


def test_inconclusive_results_have_their_own_limit_in_total():
    limits = {"inconclusive_limit": 1, "consecutive_error_limit": 4}
    answers = walk(CANARY_STEPS, [{"check": NO_DATA}, {"check": passed()}, {"check": NO_DATA}], threshold=1, limits=limits, state=AT_10)
    assert [a["action"] for a in answers] == ["halt", "advance", "rollback"]
    assert answers[-1]["limit"] == "inconclusive_limit" and answers[-1]["state"]["inconclusive"] == 2
    assert answers[-1]["reason"].startswith("inconclusive limit exceeded: 2 intervals without data, inconclusive_limit 1 (no values found")


def test_counters_survive_a_resume_and_reset_with_a_new_revision():
    status = {"phase": "Progressing", "canary_weight": 10, "failed_checks": 1, "iterations": 3, "consecutive_failures": 1,
              "consecutive_errors": 2, "inconclusive": 0, "schedule": [10, 20, 30]}
    state = judge.start(status, "resume", CANARY_STEPS, 5, CANARY)["state"]
    assert state["consecutive_failures"] == 1 and state["consecutive_errors"] == 2 and "inconclusive" not in state
    restart = judge.decide(state, CANARY_STEPS, 5, {"interrupted": "revision"}, CANARY)
    assert restart["state"] == START


def test_bad_limits_and_counters_are_refused():
    with pytest.raises(judge.JudgeError, match="failure_limit must be an integer >= 0"):
        judge.decide(AT_10, CANARY_STEPS, 1, {"check": passed()}, CANARY, {"failure_limit": -1})
    with pytest.raises(judge.JudgeError, match="state.held must be an integer >= 0"):
        judge.decide(dict(AT_10, held=-1), CANARY_STEPS, 1, {"check": passed()}, CANARY)


def test_a_resumed_ab_test_continues_at_its_recorded_iteration():
    steps = schedule.analysis_steps("ab_testing", iterations=5, match=MATCH)
    status = {"phase": "Progressing", "canary_weight": 0, "step": 2, "failed_checks": 0, "iterations": 3, "schedule": [0] * 6}
    start = judge.start(status, "resume", steps, 2, CANARY)
    assert (start["state"]["step"], start["state"]["weight"]) == (2, 0)
    # fewer iterations now: never past the last one
    shorter = judge.start(dict(status, step=4), "resume", schedule.analysis_steps("ab_testing", iterations=2, match=MATCH), 2, CANARY)
    assert shorter["state"]["step"] == 2
    answer = judge.decide(start["state"], steps, 2, {"check": passed()}, CANARY)
    assert answer["events"][0]["text"] == "Advance podinfo.test canary iteration 3/5"


def test_a_resumed_run_never_skips_an_indefinite_pause_followed_by_a_route_step_at_the_same_weight():
    steps = schedule.analysis_steps("steps", steps=[{"set_weight": 50}, {"pause": {}}, {"set_header_route": {"name": "h", "match": MATCH}}])
    status = {"phase": "Progressing", "canary_weight": 50, "step": 0, "failed_checks": 0, "iterations": 4, "schedule": [50, 50]}
    state = judge.start(status, "resume", steps, 2, CANARY)["state"]
    assert state["step"] == 0
    assert judge.decide(state, steps, 2, {"check": passed()}, CANARY)["action"] == "wait"
