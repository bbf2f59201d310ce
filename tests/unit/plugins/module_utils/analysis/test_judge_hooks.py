"""The judge's webhook and gate decisions: Flagger's hook points (REFERENCE.md section 4) as judge answers."""

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils.analysis import judge, settings
from ansible_collections.progressive.delivery.plugins.module_utils.analysis.schedule import analysis_steps

STEPS = [{"weight": 50}, {"weight": 100}]
CANARY = "podinfo.test"
BOTH = {"traffic": True, "promotion": True}
PASSED = {"passed": True, "metrics": [{"name": "request-success-rate", "status": "pass", "message": "ok"}]}
FAILED = {"passed": False, "metrics": [{"name": "request-success-rate", "status": "fail", "message": "request success rate 80.00% < 99%"}]}


def state(step=-1, weight=0, failed_checks=0, iterations=0, **counters):
    return dict({"step": step, "weight": weight, "failed_checks": failed_checks, "iterations": iterations}, **counters)


def decide(position, outcome, approvals=None, approval_intervals=None, steps=None, threshold=2):
    return judge.decide(position, steps or STEPS, threshold, outcome, CANARY, None, approvals, approval_intervals)


def texts(answer):
    return [e["text"] for e in answer["events"]]


def test_without_approvals_nothing_is_asked():
    answer = decide(state(step=0, weight=50), {"check": PASSED})
    assert (answer["action"], answer["route_weight"], answer["confirm"]) == (judge.ADVANCE, 100, None)


def test_a_weight_increase_asks_for_the_traffic_approval_and_keeps_the_position():
    answer = decide(state(step=0, weight=50, iterations=2), {"check": PASSED}, BOTH)
    assert (answer["action"], answer["confirm"], answer["route_weight"]) == (judge.CONFIRM, "traffic", None)
    assert answer["state"] == state(step=0, weight=50, iterations=2)


def test_a_refused_traffic_increase_holds_the_weight_without_a_failed_check():
    outcome = {"check": PASSED, "confirmation": {"gate": "traffic", "passed": False, "message": ""}}
    answer = decide(state(step=0, weight=50, iterations=2), outcome, BOTH)
    assert (answer["action"], answer["route_weight"], answer["phase"]) == (judge.HALT, None, "Progressing")
    assert answer["state"] == state(step=0, weight=50, iterations=3, waiting=1)
    assert texts(answer) == ["Halt podinfo.test advancement waiting for traffic increase approval"]


def test_an_approved_traffic_increase_advances_and_forgets_the_wait():
    outcome = {"check": PASSED, "confirmation": {"gate": "traffic", "passed": True}}
    answer = decide(state(step=0, weight=50, iterations=3, waiting=4), outcome, BOTH)
    assert (answer["action"], answer["route_weight"]) == (judge.ADVANCE, 100)
    assert answer["state"] == state(step=1, weight=100, iterations=4, waiting=0)


def test_the_first_weight_of_the_opening_needs_the_traffic_approval_too():
    assert decide(state(), {"opening": True}, {"traffic": True})["confirm"] == "traffic"


def test_steps_at_the_same_weight_need_no_traffic_approval():
    ab = analysis_steps("ab_testing", iterations=2, match=[{"headers": {"x-canary": {"exact": "insider"}}}])
    answer = decide(state(step=0, weight=0), {"check": PASSED}, {"traffic": True}, steps=ab)
    assert (answer["action"], answer["confirm"]) == (judge.ADVANCE, None)


def test_a_refused_promotion_waits_in_waiting_promotion_while_the_metrics_are_still_checked():
    halt = "Halt podinfo.test advancement waiting for promotion approval promotion-gate"
    outcome = {"check": PASSED, "confirmation": {"gate": "promotion", "passed": False, "message": halt}}
    answer = decide(state(step=1, weight=100, iterations=3), outcome, BOTH)
    assert (answer["action"], answer["phase"], answer["route_weight"]) == (judge.WAIT, "WaitingPromotion", None)
    assert texts(answer) == ["Halt podinfo.test advancement waiting for promotion approval promotion-gate"]
    # a breach while waiting still counts, and at the threshold rolls back
    breach = decide(state(step=1, weight=100, iterations=4, failed_checks=1, waiting=1), {"check": FAILED}, BOTH)
    assert (breach["action"], breach["limit"]) == (judge.ROLLBACK, "threshold")


def test_the_last_step_asks_for_the_promotion_approval_then_promotes_once_given():
    assert decide(state(step=1, weight=100), {"check": PASSED}, BOTH)["confirm"] == "promotion"
    answer = decide(state(step=1, weight=100, waiting=3), {"check": PASSED, "confirmation": {"gate": "promotion", "passed": True}}, BOTH)
    assert answer["action"] == judge.PROMOTE and answer["state"]["waiting"] == 0


def test_an_operators_promotion_request_needs_no_approval():
    answer = decide(state(step=0, weight=50), {"interrupted": "promote", "requested_by": "alice"}, BOTH)
    assert (answer["action"], answer["confirm"]) == (judge.PROMOTE, None)


def test_blue_green_asks_for_the_promotion_before_it_switches_the_traffic():
    steps = analysis_steps("blue_green", iterations=1)
    asked = decide(state(step=1, weight=0), {"check": PASSED}, {"promotion": True}, steps=steps)
    assert (asked["action"], asked["route_weight"]) == (judge.CONFIRM, None)
    given = decide(state(step=1, weight=0), {"check": PASSED, "confirmation": {"gate": "promotion", "passed": True}},
                   {"promotion": True}, steps=steps)
    assert (given["action"], given["route_weight"]) == (judge.PROMOTE, 100)


def test_waiting_longer_than_the_approval_timeout_rolls_back_naming_it():
    outcome = {"check": PASSED, "confirmation": {"gate": "promotion", "passed": False}}
    still = decide(state(step=1, weight=100, waiting=2), outcome, BOTH, approval_intervals=3)
    assert still["action"] == judge.WAIT
    answer = decide(state(step=1, weight=100, waiting=3), outcome, BOTH, approval_intervals=3)
    assert (answer["action"], answer["limit"]) == (judge.ROLLBACK, "approval_timeout")
    assert "no promotion approval within rollout_approval_timeout (3 intervals waited)" in answer["reason"]


def test_an_indefinite_pause_ends_at_the_approval_timeout():
    steps = analysis_steps("steps", steps=[{"set_weight": 20}, {"pause": {}}, {"set_weight": 50}])
    assert decide(state(step=0, weight=20, waiting=1), {"check": PASSED}, None, 2, steps)["action"] == judge.WAIT
    answer = decide(state(step=0, weight=20, waiting=2), {"check": PASSED}, None, 2, steps)
    assert (answer["action"], answer["limit"]) == (judge.ROLLBACK, "approval_timeout")


def test_a_failed_pre_rollout_check_counts_and_moves_no_traffic():
    answer = decide(state(), {"opening": True, "hook_failures": ["pre-rollout check acceptance-test failed: status 500"]})
    assert (answer["action"], answer["route_weight"]) == (judge.HALT, None)
    assert answer["state"] == state(failed_checks=1, iterations=1)
    assert texts(answer) == ["Halt podinfo.test advancement pre-rollout check acceptance-test failed: status 500"]
    last = decide(state(failed_checks=1, iterations=1), {"opening": True, "hook_failures": ["pre-rollout check failed"]})
    assert (last["action"], last["limit"], last["route_weight"]) == (judge.ROLLBACK, "threshold", None)


def test_a_failed_rollout_webhook_is_a_failed_check_even_with_passing_metrics():
    answer = decide(state(step=0, weight=50), {"check": PASSED, "hook_failures": ["external check load-test failed"]})
    assert (answer["action"], answer["outcome"], answer["state"]["failed_checks"]) == (judge.HALT, judge.FAILED, 1)
    assert texts(answer) == ["Halt podinfo.test advancement external check load-test failed"]


def test_a_rollback_request_wins_over_everything_but_an_abort():
    asked = {"rollback_requested": "manual webhook invoked", "check": PASSED, "interrupted": "promote"}
    answer = decide(state(step=0, weight=50), asked)
    assert (answer["action"], answer["limit"], answer["reason"]) == (judge.ROLLBACK, "rollback", "manual webhook invoked")
    assert texts(answer) == ["Rolling back podinfo.test manual webhook invoked"]
    aborted = decide(state(step=0, weight=50), dict(asked, interrupted="abort", requested_by="bob"))
    assert aborted["reason"] == "abort requested by bob"


def test_a_rollback_webhook_or_the_rollback_gate_asks_for_the_rollback():
    hooks = {"rollback": True, "hooks": [{"name": "stop-button", "passed": True}, {"name": "other", "passed": False}]}
    answer = decide(state(step=0, weight=50), {"check": PASSED, "rollback_webhooks": hooks})
    assert texts(answer) == ["Rolling back podinfo.test manual webhook invoked (stop-button)"]
    gate = decide(state(step=0, weight=50), {"check": PASSED, "rollback_gate": {"passed": True}})
    assert (gate["action"], gate["reason"]) == (judge.ROLLBACK, "manual gate invoked (the rollback gate is open)")
    quiet = decide(state(step=0, weight=50), {"check": PASSED, "rollback_webhooks": {"rollback": False}, "rollback_gate": {"passed": False}})
    assert quiet["action"] == judge.ADVANCE


def test_the_counters_are_answered_for_the_status():
    answer = decide(state(step=0, weight=50, waiting=2), {"check": PASSED})
    assert answer["counters"] == {"waiting": 0}


def test_max_iterations_leaves_room_for_each_approval_asked():
    plain = judge.max_iterations(STEPS, 2)
    assert judge.max_iterations(STEPS, 2, indefinite_pause_intervals=10, approvals=BOTH) == plain + 20
    assert judge.max_iterations(STEPS, 2, indefinite_pause_intervals=10, approvals={"promotion": True}) == plain + 10


def _variables(**extra):
    analysis = {"interval": "10s", "threshold": 2, "step_weights": [50], "metrics": [], "provider": "istio", "on_no_data": "fail"}
    return dict({"target": "podinfo", "namespace": "test", "analysis": analysis}, **extra)


def test_settings_name_the_approvals_and_keep_no_secret():
    hooks = [{"name": "gate", "type": "confirm-promotion", "url": "http://127.0.0.1:1/gate/check", "bearer_token": "s3cr3t-token"},
             {"name": "stop", "type": "rollback", "url": "http://127.0.0.1:1/rollback/check"}]
    result = settings.validate(_variables(webhooks=hooks, gates=["traffic"], approval_timeout=95))["hooks"]
    assert result["approvals"] == {"rollout": False, "traffic": True, "promotion": True}
    assert result["rollback_checks"] is True
    assert result["hooks"] == {"confirm-promotion": ["gate"], "rollback": ["stop"]}
    assert (result["approval_timeout"], result["approval_intervals"]) == (95, 10)
    assert "s3cr3t-token" not in repr(result) and "127.0.0.1" not in repr(result)


@pytest.mark.parametrize("extra, words", [
    ({"webhooks": [{"name": "x", "type": "pre-deploy", "url": "http://a"}]}, "rollout_webhooks[0].type 'pre-deploy' is not a webhook type"),
    ({"webhooks": [{"name": "x", "type": "rollout"}]}, "rollout_webhooks[0].url is required"),
    ({"webhooks": [{"name": "x", "url": "ftp://a/b"}]}, "rollout_webhooks[0].url must be an http:// or https:// URL"),
    ({"webhooks": [{"name": "x", "url": "http://a", "timeout": 0}]}, "rollout_webhooks[0].timeout"),
    ({"alerts": [{"name": "chat", "provider": "slack"}]}, "rollout_alerts[0].url is required"),
    ({"alerts": [{"name": "chat", "provider": "slack", "url": "http://a", "severity": "fatal"}]}, "rollout_alerts[0].severity must be one of"),
    ({"gates": ["approval"]}, "rollout_gates[0] 'approval' is not a gate"),
    ({"approval_timeout": 0}, "rollout_approval_timeout must be at least 1"),
])
def test_bad_hook_settings_name_the_variable(extra, words):
    with pytest.raises(settings.SettingsError) as caught:
        settings.validate(_variables(**extra))
    assert words in str(caught.value)


def test_a_crash_looping_canary_is_rolled_back_at_once_with_its_state():
    health = {"healthy": False, "reason": "canary podinfo-1 container podinfod CrashLoopBackOff (restarted 3 times)", "stuck_seconds": 4}
    answer = judge.decide(state(step=0, weight=50), STEPS, 2, {"check": PASSED, "health": health, "interrupted": "promote"}, CANARY)
    assert (answer["action"], answer["limit"]) == (judge.ROLLBACK, "health")
    assert texts(answer) == ["Rolling back podinfo.test canary podinfo-1 container podinfod CrashLoopBackOff (restarted 3 times)"]


def test_the_progress_deadline_applies_during_the_analysis():
    stuck = {"healthy": True, "stuck_seconds": 61, "ready_replicas": 1, "desired_replicas": 2}
    answer = judge.decide(state(step=0, weight=50), STEPS, 2, {"check": PASSED, "health": stuck}, CANARY, progress_deadline_seconds=60)
    assert (answer["action"], answer["limit"]) == (judge.ROLLBACK, "health")
    assert answer["reason"] == "progress deadline exceeded canary deployment podinfo.test not ready for 61 s (1 of 2 replicas ready)"
    fine = judge.decide(state(step=0, weight=50), STEPS, 2, {"check": PASSED, "health": dict(stuck, stuck_seconds=59)}, CANARY,
                        progress_deadline_seconds=60)
    assert fine["action"] == judge.ADVANCE


def test_a_promotion_request_that_continues_an_indefinite_pause_is_consumed():
    steps = analysis_steps("steps", steps=[{"set_weight": 20}, {"pause": {}}, {"set_weight": 50}])
    answer = decide(state(step=0, weight=20), {"interrupted": "promote", "requested_by": "alice"}, steps=steps)
    assert (answer["action"], answer["route_weight"], answer["consumed_request"]) == (judge.ADVANCE, 50, True)
    assert decide(state(step=1, weight=50), {"interrupted": "promote"}, steps=steps)["consumed_request"] is False
