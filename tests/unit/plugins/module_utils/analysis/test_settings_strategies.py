"""The strategies' and the failure accounting's settings, validated with the rest before anything is written."""

import copy

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils.analysis import settings

MATCH = [{"headers": {"x-canary": {"exact": "insider"}}}]
BASE = {
    "target": "podinfo",
    "namespace": "test",
    # the role's defaults: step weights are always there
    "analysis": {"interval": "1m", "threshold": 5, "max_weight": 50, "step_weight": 10, "step_weights": [],
                 "step_weight_promotion": None, "provider": "istio", "on_no_data": "fail", "metrics": []},
}


def validate(strategy=None, **analysis):
    variables = copy.deepcopy(BASE)
    variables["analysis"].update(analysis)
    if strategy is not None:
        variables["strategy"] = strategy
    return settings.validate(variables)


def test_the_canary_stays_the_default_and_the_role_default_forces_it():
    for strategy in (None, "", "auto", "canary"):
        result = validate(strategy)
        assert result["strategy"] == "canary" and result["schedule"] == [10, 20, 30, 40, 50]
        assert result["limits"] == {"failure_limit": None, "inconclusive_limit": None, "consecutive_error_limit": None}
    # forced canary ignores the other strategies' settings, as rollout_strategy says
    assert validate("canary", iterations=3)["strategy"] == "canary"


def test_strategies_are_selected_from_the_analysis():
    ab = validate(iterations=10, match=MATCH, session_affinity={"cookie_name": "flagger-cookie", "max_age": 600})
    assert ab["strategy"] == "ab_testing" and ab["schedule"] == [0] * 11
    assert ab["steps"][1]["session_affinity"] == {"cookie_name": "flagger-cookie", "max_age": 600}
    bg = validate(iterations="3")   # read as Ansible reads numbers
    assert bg["strategy"] == "blue_green" and bg["steps"][-1]["switch"]["weight"] == 100
    mirror = validate(iterations=3, mirror=True, mirror_weight="25")
    assert mirror["strategy"] == "blue_green_mirroring" and mirror["steps"][0]["mirror_weight"] == 25
    steps = validate(steps=[{"set_weight": 20}, {"pause": {"duration": "2m"}}, {"set_weight": 60}, {"pause": {}}], interval="30s")
    assert steps["strategy"] == "steps" and steps["schedule"] == [20, 60]
    assert steps["steps"][0]["pause"]["intervals"] == 4  # 2m at 30s intervals


def test_argo_failure_accounting_defaults_the_error_limit_to_four():
    assert validate(failure_limit=2)["limits"] == {"failure_limit": 2, "inconclusive_limit": None, "consecutive_error_limit": 4}
    assert validate(inconclusive_limit="1")["limits"]["consecutive_error_limit"] == 4
    off = {"failure_limit": None, "inconclusive_limit": None, "consecutive_error_limit": 0}
    assert validate(consecutive_error_limit=0)["limits"] == off


@pytest.mark.parametrize("strategy, analysis, message", [
    (None, {"iterations": 0, "match": MATCH}, "rollout_analysis.iterations must be a positive integer"),
    (None, {"iterations": -2}, "rollout_analysis.iterations must be a positive integer (the intervals the canary is analysed for)"),
    ("blue_green", {"iterations": 0}, "rollout_analysis.iterations must be a positive integer"),
    (None, {"iterations": "many"}, "rollout_analysis.iterations must be an integer, got 'many'"),
    (None, {"iterations": 5, "match": MATCH, "mirror": True}, "rollout_analysis.match and mirror cannot be combined"),
    (None, {"iterations": 5, "mirror": "yes"}, "rollout_analysis.mirror must be true or false"),
    (None, {"iterations": 5, "mirror": True, "mirror_weight": 120}, "rollout_analysis.mirror_weight must be an integer between 0 and 100"),
    (None, {"iterations": 5, "mirror": True, "mirror_weight": -1}, "rollout_analysis.mirror_weight must be an integer between 0 and 100"),
    (None, {"match": MATCH}, "rollout_analysis.match needs iterations"),
    (None, {"match": {"headers": {}}, "iterations": 2}, "rollout_analysis.match must be a list"),
    ("ab_testing", {"iterations": 5}, "rollout_strategy ab_testing needs match in rollout_analysis: set iterations: 10 and match:"),
    ("ab_testing", {"iterations": 5, "match": []}, "rollout_strategy ab_testing needs match"),
    ("blue_green", {}, "rollout_strategy blue_green needs iterations in rollout_analysis"),
    ("blue_green_mirroring", {"iterations": 5}, "rollout_strategy blue_green_mirroring needs mirror in rollout_analysis"),
    ("steps", {}, "rollout_strategy steps needs steps in rollout_analysis: set steps: [{set_weight: 20}"),
    ("bluegreen", {}, "rollout_strategy must be one of canary, ab_testing, blue_green, blue_green_mirroring, steps, auto"),
    (None, {"steps": [{"set_weight": 40}, {"set_weight": 30}]},
     "rollout_analysis.steps[1].set_weight = 30 must be above the set_weight before it (40): step weights must increase"),
    (None, {"steps": [{"set_weight": 101}]}, "rollout_analysis.steps[0].set_weight must be an integer between 0 and 100"),
    (None, {"steps": [{"set_weight": 10}, {"pause": {"duration": "a while"}}]},
     "rollout_analysis.steps[1].pause.duration must be a duration such as 30s, 1m or 1m30s, got 'a while'"),
    (None, {"steps": {"set_weight": 10}}, "rollout_analysis.steps must be a list"),
    (None, {"failure_limit": -1}, "rollout_analysis.failure_limit must be at least 0, got -1"),
    (None, {"inconclusive_limit": "some"}, "rollout_analysis.inconclusive_limit must be an integer"),
    (None, {"consecutive_error_limit": -4}, "rollout_analysis.consecutive_error_limit must be at least 0"),
])
def test_each_bad_strategy_setting_names_the_variable_and_the_fix(strategy, analysis, message):
    with pytest.raises(settings.SettingsError) as caught:
        validate(strategy, **analysis)
    assert message in str(caught.value)
