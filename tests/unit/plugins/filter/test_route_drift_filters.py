"""The filters hand rollout_analysis.route_drift through to the judge and keep its counter."""

from ansible_collections.progressive.delivery.plugins.filter import rollout


def settings(**analysis):
    return rollout.rollout_settings({"target": "podinfo", "namespace": "test", "strategy": "auto",
                                     "analysis": dict({"interval": "1m", "threshold": 2, "step_weight": 50, "provider": "istio",
                                                       "on_no_data": "fail", "metrics": []}, **analysis)})


OUTCOME = {"interrupted": "route_drift", "route_drift": {"route": "VirtualService podinfo", "expected": 50, "found": 0}}


def test_canary_judge_reasserts_by_default_and_keeps_the_counter():
    state = {"step": "0", "weight": "50", "failed_checks": "0", "iterations": "1", "reasserted": "1"}
    answer = rollout.canary_judge(state, settings(), OUTCOME, "podinfo.test")
    assert (answer["action"], answer["route_weight"], answer["state"]["reasserted"]) == ("halt", 50, 2)
    third = rollout.canary_judge(dict(state, reasserted="2"), settings(), OUTCOME, "podinfo.test")
    assert (third["action"], third["limit"]) == ("rollback", "route_drift")


def test_canary_judge_rolls_back_with_abort():
    state = {"step": "0", "weight": "50", "failed_checks": "0", "iterations": "1"}
    answer = rollout.canary_judge(state, settings(route_drift="abort"), OUTCOME, "podinfo.test")
    assert answer["reason"] == "route changed by someone else mid-analysis (canary 0 %, expected 50 %)"


def test_canary_judge_start_bounds_the_loop_with_the_re_asserts_only_for_reassert():
    reassert = rollout.canary_judge_start({}, "new", settings(), "podinfo.test")["state"]["max_iterations"]
    abort = rollout.canary_judge_start({}, "new", settings(route_drift="abort"), "podinfo.test")["state"]["max_iterations"]
    assert reassert - abort == 2 * 3
