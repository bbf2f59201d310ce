"""Every strategy as a schedule (schedule.py): Flagger's selection, the steps each strategy walks, and bad input."""

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils.analysis import schedule as s

MATCH = [{"headers": {"x-canary": {"exact": "insider"}}}]


@pytest.mark.parametrize("analysis, forced, expected", [
    ({"step_weight": 10}, None, "canary"),
    ({"iterations": 10, "match": MATCH, "step_weight": 10}, None, "ab_testing"),  # iterations win over the role's default step
    ({"iterations": 10, "step_weight": 10}, None, "blue_green"),
    ({"iterations": 10, "mirror": True}, None, "blue_green_mirroring"),
    ({"iterations": 10, "match": []}, "auto", "blue_green"),  # an empty match is no match
    ({"steps": [{"set_weight": 20}]}, "", "steps"),
    ({"iterations": 10, "match": MATCH, "step_weight": 10}, "canary", "canary"),  # forced
    ({"iterations": 3}, "blue_green", "blue_green"),
])
def test_selection_as_flagger_selects(analysis, forced, expected):
    assert s.select_strategy(analysis, forced) == expected


@pytest.mark.parametrize("analysis, forced, words", [
    ({"iterations": 10}, "ab_testing", "strategy ab_testing needs match in the analysis settings"),
    ({"match": MATCH}, "ab_testing", "strategy ab_testing needs iterations"),
    ({}, "ab_testing", "needs match and iterations"),
    ({"step_weight": 10}, "blue_green", "strategy blue_green needs iterations"),
    ({"iterations": 5}, "blue_green_mirroring", "strategy blue_green_mirroring needs mirror"),
    ({"step_weight": 10}, "steps", "strategy steps needs steps"),
    ({}, "bluegreen", "strategy must be one of canary, ab_testing, blue_green, blue_green_mirroring, steps, auto"),
    ({"match": MATCH}, None, "match needs iterations"),
    ({"mirror": True}, None, "mirror needs iterations"),
    ({"steps": [{"set_weight": 5}], "iterations": 3}, None, "steps and iterations are two strategies"),
])
def test_selection_refuses_missing_or_contradicting_settings(analysis, forced, words):
    with pytest.raises(s.ScheduleError) as caught:
        s.select_strategy(analysis, forced)
    assert words in str(caught.value)


def test_a_forced_canary_without_steps_says_what_is_missing_as_before():
    assert s.select_strategy({}, "canary") == "canary"
    with pytest.raises(s.ScheduleError, match="set step_weight"):
        s.analysis_steps("canary")


def test_canary_steps_are_unchanged_and_carry_session_affinity_when_asked():
    assert s.analysis_steps("canary", max_weight=30, step_weight=15) == [{"weight": 15}, {"weight": 30}]
    steps = s.analysis_steps("canary", step_weights=[50, 100], session_affinity={"cookie_name": "flagger-cookie"})
    assert steps == [{"weight": w, "session_affinity": {"cookie_name": "flagger-cookie", "max_age": 86400}} for w in (50, 100)]


def test_ab_testing_routes_matching_requests_for_every_iteration():
    steps = s.analysis_steps("ab_testing", iterations=3, match=MATCH, session_affinity={"cookie_name": "canary", "max_age": 3600})
    # iteration 0 is where the analysis opens; iterations 1..3 are Flagger's "iteration 1/3" .. "3/3"
    assert [st["iteration"] for st in steps] == [0, 1, 2, 3]
    assert all(st["weight"] == 0 and st["match"] == MATCH and st["iterations"] == 3 for st in steps)
    assert steps[0]["session_affinity"] == {"cookie_name": "canary", "max_age": 3600}
    assert "switch" not in steps[-1]


def test_blue_green_stays_at_zero_then_switches_all_at_once():
    steps = s.analysis_steps("blue_green", iterations=2, max_weight=50, step_weight=10)
    assert [(st["weight"], st["iteration"]) for st in steps] == [(0, 0), (0, 1), (0, 2)]
    assert steps[-1]["switch"] == {"weight": 100, "mirror": False}
    assert not any(st.get("mirror") for st in steps)


def test_blue_green_mirroring_mirrors_during_the_iterations():
    steps = s.analysis_steps("blue_green_mirroring", iterations=2, mirror=True, mirror_weight=40)
    assert all(st["mirror"] is True and st["mirror_weight"] == 40 and st["weight"] == 0 for st in steps)
    assert steps[-1]["switch"] == {"weight": 100, "mirror": False}
    # 0 (or unset) mirrors all, as Flagger sets mirrorPercentage only above 0
    assert "mirror_weight" not in s.analysis_steps("blue_green_mirroring", iterations=1, mirror=True, mirror_weight=0)[0]


def test_argo_steps_each_carry_the_route_in_force():
    steps = s.analysis_steps("steps", interval_seconds=60, steps=[
        {"set_weight": 20}, {"pause": {"duration": "90s"}},
        {"set_header_route": {"name": "insiders", "match": MATCH}},
        {"set_weight": 50}, {"pause": {}},
        {"set_mirror_route": {"name": "shadow", "match": [{"method": {"exact": "GET"}}], "percentage": 30}},
        {"set_header_route": {"name": "insiders"}},
        {"set_weight": 100},
    ])
    # a pause holds the step before it (Argo: set the weight, then wait) - 90s at 1m intervals is 2 intervals
    assert steps[0] == {"weight": 20, "kind": "set_weight", "index": 0,
                        "pause": {"duration": "90s", "seconds": 90.0, "intervals": 2}}
    assert steps[1] == {"weight": 20, "match": MATCH, "header_route": "insiders", "kind": "set_header_route", "index": 2}
    assert steps[2]["weight"] == 50 and steps[2]["match"] == MATCH and steps[2]["pause"] == {"indefinite": True}
    assert steps[3]["mirror"] is True and steps[3]["mirror_weight"] == 30 and steps[3]["mirror_route"] == "shadow"
    assert "match" not in steps[4] and steps[4]["mirror"] is True  # the header route removed, the mirror stays
    assert steps[5]["weight"] == 100 and steps[5]["kind"] == "set_weight"


def test_a_pause_first_or_after_a_pause_is_a_step_of_its_own():
    steps = s.analysis_steps("steps", interval_seconds=30, steps=[{"pause": {"duration": "1m"}}, {"set_weight": 10},
                                                                  {"pause": {"duration": "10s"}}, {"pause": {}}])
    assert [(st["kind"], st["weight"], st["pause"]) for st in steps] == [
        ("pause", 0, {"duration": "1m", "seconds": 60.0, "intervals": 2}),
        ("set_weight", 10, {"duration": "10s", "seconds": 10.0, "intervals": 1}),
        ("pause", 10, {"indefinite": True}),
    ]


def test_route_of_fills_every_key_the_router_needs():
    assert s.route_of({"weight": 30}) == {"weight": 30, "match": None, "mirror": False, "mirror_weight": None, "mirror_match": None,
                                          "session_affinity": None, "pause": None, "iteration": None, "iterations": None}
    assert s.route_of(40)["weight"] == 40


@pytest.mark.parametrize("strategy, options, words", [
    ("ab_testing", {"iterations": 0, "match": MATCH}, "iterations must be a positive integer"),
    ("ab_testing", {"iterations": -3, "match": MATCH}, "got -3"),
    ("blue_green", {"iterations": 0}, "iterations must be a positive integer"),
    ("blue_green_mirroring", {"iterations": -1, "mirror": True}, "iterations must be a positive integer"),
    ("blue_green", {"iterations": "ten"}, "iterations must be a positive integer"),
    ("ab_testing", {"iterations": 5, "match": MATCH, "mirror": True}, "match and mirror cannot be combined"),
    ("blue_green_mirroring", {"iterations": 5, "match": MATCH, "mirror": True}, "match and mirror cannot be combined"),
    ("ab_testing", {"iterations": 5, "match": []}, "match must be a non-empty list of Istio HTTPMatchRequest"),
    ("ab_testing", {"iterations": 5}, "match must be a non-empty list"),
    ("blue_green_mirroring", {"iterations": 5, "mirror": True, "mirror_weight": 101}, "mirror_weight must be an integer between 0 and 100"),
    ("blue_green_mirroring", {"iterations": 5, "mirror": True, "mirror_weight": -5}, "mirror_weight must be an integer between 0 and 100"),
    ("blue_green", {"iterations": 5, "mirror_weight": 50}, "mirror_weight needs mirror: true"),
    ("blue_green", {"iterations": 5, "session_affinity": {"cookie_name": "c"}}, "session_affinity works with the canary and A/B"),
    ("ab_testing", {"iterations": 5, "match": MATCH, "session_affinity": {"max_age": 10}}, "session_affinity.cookie_name must be"),
    ("ab_testing", {"iterations": 5, "match": MATCH, "session_affinity": {"cookie_name": "c", "max_age": 0}},
     "session_affinity.max_age must be a positive number"),
    ("canary", {"step_weight": 10, "mirror": True}, "mirror needs the Blue/Green strategy"),
    ("steps", {"steps": [{"set_weight": 20}, {"set_weight": 20}]}, "steps[1].set_weight = 20 must be above the set_weight before it (20)"),
    ("steps", {"steps": [{"set_weight": 50}, {"pause": {}}, {"set_weight": 30}]}, "step weights must increase"),
    ("steps", {"steps": [{"set_weight": 120}]}, "steps[0].set_weight must be an integer between 0 and 100 (the canary's percent), got 120"),
    ("steps", {"steps": [{"set_weight": 20}, {"pause": {"duration": "soon"}}]}, "steps[1].pause.duration must be a duration"),
    ("steps", {"steps": [{"set_weight": 20}, {"pause": {"duration": "30"}}]}, "steps[1].pause.duration must be a duration"),
    ("steps", {"steps": [{"set_weight": 20}, {"pause": "30s"}]}, "steps[1].pause must be {} (until promoted) or {duration: 30s}"),
    ("steps", {"steps": [{"set_weight": 20, "pause": {}}]}, "steps[0] must have exactly one of set_weight, pause"),
    ("steps", {"steps": [{"analysis": {}}]}, "steps[0] must have exactly one of"),
    ("steps", {"steps": []}, "steps must be a non-empty list of Argo steps"),
    ("steps", {"steps": [{"set_header_route": {"match": MATCH}}]}, "steps[0].set_header_route needs a name"),
    ("steps", {"steps": [{"set_mirror_route": {"name": "m", "match": MATCH, "percentage": 150}}]},
     "steps[0].set_mirror_route.percentage must be an integer between 0 and 100"),
])
def test_bad_strategy_settings_name_the_setting_and_the_fix(strategy, options, words):
    with pytest.raises(s.ScheduleError) as caught:
        s.analysis_steps(strategy, **options)
    assert words in str(caught.value)


def test_argo_matches_become_istio_conditions():
    steps = s.analysis_steps("steps", steps=[
        {"set_weight": 10},
        {"set_header_route": {"name": "h", "match": [{"headerName": "X-Canary", "headerValue": {"exact": "insider"}},
                                                     {"headerName": "user-agent", "headerValue": {"regex": ".*Firefox.*"}}]}},
        {"set_mirror_route": {"name": "m", "match": [{"method": {"exact": "GET"}, "path": {"prefix": "/api"}}]}},
    ])
    assert steps[1]["match"] == [{"headers": {"x-canary": {"exact": "insider"}}}, {"headers": {"user-agent": {"regex": ".*Firefox.*"}}}]
    assert steps[2]["mirror_match"] == [{"method": {"exact": "GET"}, "uri": {"prefix": "/api"}}]
    assert s.argo_match(MATCH, "m") == MATCH   # Istio's own form passes


@pytest.mark.parametrize("match, words", [
    ([{"headerName": "x", "headerValue": {"suffix": "y"}}], "steps[1].set_header_route.match[0].headerValue must have one of exact, prefix, regex"),
    ([{"headerName": "", "headerValue": {"exact": "y"}}], "steps[1].set_header_route.match[0].headerName must be a header name"),
    ([{"path": "/api"}], "steps[1].set_header_route.match[0].path must have one of exact, prefix, regex"),
    ("x-canary", "steps[1].set_header_route.match must be a non-empty list of matches"),
])
def test_bad_argo_matches_name_the_field(match, words):
    with pytest.raises(s.ScheduleError) as caught:
        s.analysis_steps("steps", steps=[{"set_weight": 10}, {"set_header_route": {"name": "h", "match": match}}])
    assert words in str(caught.value)
