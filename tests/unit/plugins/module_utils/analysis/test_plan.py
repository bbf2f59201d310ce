"""The dry-run plan: each step with its time, the promotion, the ETA, for every revision decision."""

import copy

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils.analysis import plan, settings

from tests.unit.plugins.module_utils.analysis.test_settings import BASE


def rollout(**analysis):
    variables = copy.deepcopy(BASE)
    variables["analysis"].update(analysis)
    variables["strategy"] = "auto"
    variables["scale_down_delay"] = 30
    return settings.validate(variables)


def test_a_new_revision_gets_every_step_with_its_offset_and_an_eta():
    result = plan.plan(rollout(), "new", {"phase": "Succeeded", "last_promoted_hash": "aaa"}, "bbb")
    assert result["action"] == "analyse"
    assert [(s["weight"], s["at_seconds"]) for s in result["steps"]] == [(10, 0), (20, 60), (30, 120), (40, 180), (50, 240)]
    assert result["promotion_at_seconds"] == 300
    assert result["eta_seconds"] == 330          # + the scale-down delay
    assert "  +4m00s step 4: weight 50%" in result["lines"]
    assert result["lines"][-1] == "ETA +5m30s after the canary is ready, if every check passes"


def test_step_weight_promotion_adds_its_intervals():
    result = plan.plan(rollout(step_weight_promotion=20), "new", {}, "bbb")
    # from 50 % back to the primary by 20 points per interval: 3 intervals
    assert result["eta_seconds"] == 300 + 3 * 60 + 30


def test_timed_and_indefinite_pauses():
    steps = [{"set_weight": 25}, {"pause": {"duration": "3m"}}, {"set_weight": 75}]
    timed = plan.plan(rollout(steps=steps), "new", {}, "x")
    assert [(s["weight"], s["at_seconds"], s["hold_seconds"]) for s in timed["steps"]] == [(25, 0, 180), (75, 180, 60)]
    assert timed["promotion_at_seconds"] == 240
    held = plan.plan(rollout(steps=[{"set_weight": 25}, {"pause": {}}, {"set_weight": 75}]), "new", {}, "x")
    assert held["eta_seconds"] is None and held["steps"][1]["at_seconds"] is None
    assert held["lines"][-1] == "then promote once progressive.delivery.promote is run; no ETA"


def test_a_resumed_analysis_is_planned_from_the_step_after_the_recorded_one():
    result = plan.plan(rollout(), "resume", {"phase": "Progressing", "step": 2, "last_promoted_hash": "aaa"}, "bbb")
    assert [s["weight"] for s in result["steps"]] == [40, 50]
    assert result["lines"][0].startswith("resume the analysis of revision bbb")


def test_initialization_then_nothing_or_an_analysis():
    first = plan.plan(rollout(), "initialize", {}, "bbb", initialized_hash="bbb")
    assert first["initialize"] is True and first["action"] == "nothing" and "no new revision" in first["lines"][-1]
    subset = plan.plan(rollout(), "initialize", {}, "bbb", initialized_hash="stable-0123")
    assert subset["action"] == "analyse" and subset["promoted"] == "stable-0123"


def test_unchanged_and_rolled_back_plan_nothing():
    assert plan.plan(rollout(), "unchanged", {"last_promoted_hash": "aaa"}, "aaa")["steps"] == []
    skipped = plan.plan(rollout(), "rolled_back", {"reason": "failed checks threshold reached 5"}, "bbb")
    assert skipped["action"] == "skip" and "failed checks threshold reached 5" in skipped["lines"][0]


def test_approvals_and_hooks_are_listed():
    variables = copy.deepcopy(BASE)
    variables.update(gates=["promotion"], webhooks=[{"name": "acceptance", "type": "pre-rollout", "url": "http://tester/"}])
    result = plan.plan(settings.validate(variables), "new", {}, "x")
    assert result["approvals"] == ["promotion"] and result["hooks"] == {"pre-rollout": ["acceptance"]}
    assert "webhooks: pre-rollout (acceptance)" in result["lines"]
    assert result["lines"][-1].endswith("and every approval is given at once")


def test_an_unknown_decision_is_an_error():
    with pytest.raises(ValueError):
        plan.plan(rollout(), "sideways", {}, "x")
