import pytest

from ansible_collections.progressive.delivery.plugins.module_utils.analysis import schedule as s


@pytest.mark.parametrize(
    "max_weight, step, expected",
    [
        (50, 10, [10, 20, 30, 40, 50]),
        (50, 20, [20, 40, 60]),  # Flagger's arithmetic: the last step may pass max_weight
        (None, 25, [25, 50, 75, 100]),
        (100, 30, [30, 60, 90, 100]),  # capped at 100
        (30, 50, [50]),
        (100, 100, [100]),
    ],
)
def test_step_weight(max_weight, step, expected):
    assert s.canary_weights(max_weight=max_weight, step_weight=step) == expected


def test_step_weights_win_over_step_weight_and_max_weight():
    assert s.canary_weights(max_weight=50, step_weight=10, step_weights=[1, 5, 25, 50]) == [1, 5, 25, 50]
    assert s.canary_weights(max_weight=50, step_weights=[20, 80]) == [20, 80]


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({}, "set step_weight"),
        ({"step_weight": 0}, "step_weight must be between 1 and 100"),
        ({"step_weight": 101}, "step_weight must be between 1 and 100"),
        ({"step_weight": "10"}, "step_weight must be an integer"),
        ({"step_weight": True}, "step_weight must be an integer"),
        ({"step_weight": 10, "max_weight": 0}, "max_weight must be between 1 and 100"),
        ({"step_weights": [10, 10]}, "strictly ascending: step_weights[1] = 10 follows 10"),
        ({"step_weights": [20, 5]}, "strictly ascending"),
        ({"step_weights": [10, 120]}, "step_weights[1] must be between 1 and 100"),
        ({"step_weights": "10,20"}, "step_weights must be a list"),
    ],
)
def test_bad_schedules_name_the_field(kwargs, words):
    with pytest.raises(s.ScheduleError) as err:
        s.canary_weights(**kwargs)
    assert words in str(err.value)


@pytest.mark.parametrize(
    "weight, step, expected",
    [
        (50, None, [0]),
        (50, 20, [30, 10, 0]),
        (50, 50, [0]),
        (30, 25, [5, 0]),
        (0, 10, [0]),
        (100, 40, [60, 20, 0]),
    ],
)
def test_promotion_weights(weight, step, expected):
    assert s.promotion_weights(weight, step) == expected


def test_promotion_rejects_bad_input():
    with pytest.raises(s.ScheduleError, match="step_weight_promotion must be between 1 and 100"):
        s.promotion_weights(50, 0)
    with pytest.raises(s.ScheduleError, match="canary_weight must be"):
        s.promotion_weights(120)


def test_steps_and_strategies():
    steps = s.analysis_steps(max_weight=50, step_weight=25)
    assert steps == [{"weight": 25}, {"weight": 50}]
    with pytest.raises(s.ScheduleError, match="strategy must be one of canary"):
        s.analysis_steps(strategy="bluegreen", step_weight=10)


@pytest.mark.parametrize(
    "text, seconds",
    [("10s", 10), ("1m", 60), ("1m30s", 90), ("500ms", 0.5), ("2h", 7200), ("1d", 86400), (15, 15), ("1m500ms", 60.5)],
)
def test_duration_seconds(text, seconds):
    assert s.duration_seconds(text) == seconds


@pytest.mark.parametrize("text", ["", "10", "1x", "m", "-5s", "0s", True, 0, "1.5m"])
def test_bad_durations_name_the_field(text):
    with pytest.raises(s.ScheduleError, match="interval must be"):
        s.duration_seconds(text)
