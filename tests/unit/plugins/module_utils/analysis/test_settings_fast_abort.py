"""rollout_analysis.fast_abort: validated with the other settings, each error naming the variable."""

import copy

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils.analysis import settings
from tests.unit.plugins.module_utils.analysis.test_settings import BASE


def validate(fast_abort, metrics=None, load=None, metric_interval=None):
    variables = copy.deepcopy(BASE)
    variables["analysis"]["interval"] = "10s"
    if metric_interval:
        variables["analysis"]["metric_interval"] = metric_interval
    variables["analysis"]["fast_abort"] = fast_abort
    if metrics is not None:
        variables["analysis"]["metrics"] = metrics
    if load is not None:
        variables["load"].update(load)
    return settings.validate(variables)["fast_abort"]


def test_off_by_default_and_normalised_when_on():
    assert settings.validate(copy.deepcopy(BASE))["fast_abort"] == {"enabled": False}
    assert validate({"enabled": False, "ratio": 0}) == {"enabled": False}
    assert validate({"enabled": True}) == {"enabled": True, "false_alarm_rate": 0.01, "ratio": 3.0, "poll": None,
                                           "min_success_rate": 99.0, "expected_requests": None}
    # the role's load: qps x its duration (the interval minus 1 s), when the metric judges the interval itself
    on = validate({"enabled": "true", "false_alarm_rate": "0.05", "poll": "2"}, load={"url": "http://podinfo-canary:9898/", "qps": 10},
                  metric_interval="10s")
    assert on["false_alarm_rate"] == 0.05 and on["poll"] == 2.0 and on["expected_requests"] == 90
    # over Flagger's 1m window the requests before the interval count too: no "unreachable" rule, only the sequential test
    longer = validate({"enabled": True}, load={"url": "http://podinfo-canary:9898/", "qps": 10})
    assert longer["expected_requests"] is None


@pytest.mark.parametrize("fast_abort, metrics, message", [
    ({"enabled": True}, [{"name": "error-free", "query": "vector(100)", "threshold_range": {"min": 99}}],
     "rollout_analysis.fast_abort needs the builtin request-success-rate metric"),
    ({"enabled": True}, [{"name": "request-success-rate", "query": "vector(100)", "threshold_range": {"min": 99}}],
     "rollout_analysis.fast_abort needs the builtin request-success-rate metric"),
    ({"enabled": True}, [{"name": "request-success-rate", "threshold_range": {"max": 99}}],
     "rollout_analysis.metrics (request-success-rate).threshold_range.min: the success-rate threshold must be above 0"),
    ({"enabled": True, "false_alarm_rate": 0}, None, "rollout_analysis.fast_abort.false_alarm_rate must be a number between 0 and 1"),
    ({"enabled": True, "false_alarm_rate": 1.5}, None, "rollout_analysis.fast_abort.false_alarm_rate must be a number between 0 and 1"),
    ({"enabled": True, "ratio": 1}, None, "rollout_analysis.fast_abort.ratio must be a number above 1"),
    ({"enabled": True, "poll": -1}, None, "rollout_analysis.fast_abort.poll must be a positive number of seconds"),
    ({"enabled": True, "poll": "often"}, None, "rollout_analysis.fast_abort.poll must be a number"),
    ({"enabled": "maybe"}, None, "rollout_analysis.fast_abort.enabled must be true or false"),
    ({"enabled": True, "alpha": 0.1}, None, "rollout_analysis.fast_abort: unknown key(s) alpha"),
    ("yes", None, "rollout_analysis.fast_abort must be a dictionary"),
])
def test_each_bad_fast_abort_setting_names_the_variable(fast_abort, metrics, message):
    with pytest.raises(settings.SettingsError) as error:
        validate(fast_abort, metrics)
    assert message in str(error.value)
