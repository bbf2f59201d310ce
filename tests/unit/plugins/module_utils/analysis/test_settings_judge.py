"""rollout_analysis.judge (the canary-versus-primary judgment in the loop): validated with the other settings before
anything is written, each error naming the field under rollout_analysis.judge and the fix."""

import copy

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.progressive.delivery.plugins.filter.rollout import rollout_settings
from ansible_collections.progressive.delivery.plugins.module_utils.analysis import settings

from tests.unit.plugins.module_utils.analysis.test_settings import BASE

METRICS = [{"name": "request-success-rate", "critical": True}, {"name": "request-duration", "effect_size": {"allowed_increase": 1.2}}]


def validate(judge, **analysis):
    variables = copy.deepcopy(BASE)
    variables["analysis"].update(analysis, judge=judge)
    return settings.validate(variables)


def test_off_without_metrics():
    assert validate(None)["judge"] == {"enabled": False, "metrics": []}
    assert validate({})["judge"] == {"enabled": False, "metrics": []}
    assert validate({"metrics": []})["judge"] == {"enabled": False, "metrics": []}


def test_defaults_look_back_over_the_interval_in_ten_steps():
    result = validate({"metrics": METRICS})["judge"]
    assert result == {"enabled": True, "metrics": METRICS, "confidence": 0.98, "min_samples": 5,
                      "thresholds": {"pass": 95.0, "marginal": 75.0}, "lookback": "1m", "step": "6s", "interval": None,
                      "on_no_data": "fail", "samples": 11}


def test_options_are_kept_and_on_no_data_follows_the_analysis():
    result = validate({"metrics": METRICS, "confidence": "0.95", "lookback": "5m", "step": "30s", "interval": "1m", "min_samples": "3",
                       "thresholds": {"pass": 90, "marginal": 50}}, on_no_data="skip")["judge"]
    assert (result["confidence"], result["lookback"], result["step"], result["interval"], result["min_samples"]) == (0.95, "5m", "30s", "1m", 3)
    assert result["thresholds"] == {"pass": 90.0, "marginal": 50.0} and result["on_no_data"] == "skip" and result["samples"] == 11
    assert validate({"metrics": METRICS, "on_no_data": "pass"}, on_no_data="skip")["judge"]["on_no_data"] == "pass"


def test_judge_metrics_alone_need_prometheus():
    variables = copy.deepcopy(BASE)
    variables["analysis"].update(metrics=[], judge={"metrics": METRICS})
    variables["prometheus"] = {}
    with pytest.raises(settings.SettingsError, match=r"rollout_prometheus.url is required"):
        settings.validate(variables)


@pytest.mark.parametrize("judge, message", [
    ({"metrics": METRICS, "confidence": 1.5}, r"^rollout_analysis\.judge\.confidence 1\.5 is outside \(0, 1\)"),
    ({"metrics": METRICS, "confidence": 0}, r"^rollout_analysis\.judge\.confidence 0 is outside \(0, 1\)"),
    ({"metrics": METRICS, "thresholds": {"pass": 50, "marginal": 75}},
     r"^rollout_analysis\.judge\.thresholds\.pass \(50\) is below rollout_analysis\.judge\.thresholds\.marginal \(75\)"),
    ({"metrics": METRICS, "thresholds": {"pass": 120}}, r"^rollout_analysis\.judge\.thresholds\.pass 120 is outside 0\.\.100"),
    ({"metrics": METRICS, "thresholds": {"fail": 1}}, r"^rollout_analysis\.judge\.thresholds has unknown key\(s\) fail"),
    ({"metrics": [{"name": "request-duration", "direction": "up"}]},
     r"^rollout_analysis\.judge\.metrics\[0\] \(request-duration\)\.direction 'up' is not known"),
    ({"metrics": [{"name": "my-latency"}]}, r"^rollout_analysis\.judge\.metrics\[0\] \(my-latency\): 'my-latency' is not a builtin istio"),
    ({"metrics": [{"name": "request-duration", "threshold_range": {"max": 5}}]},
     r"^rollout_analysis\.judge\.metrics\[0\]\.threshold_range is not an option"),
    ({"metrics": [{"name": "request-duration", "weight": -1}]}, r"^rollout_analysis\.judge\.metrics\[0\] \(request-duration\)\.weight -1 is negative"),
    ({"metrics": [{"name": "request-duration", "effect_size": {"allowed_increase": 0.5}}]},
     r"^rollout_analysis\.judge\.metrics\[0\] \(request-duration\)\.effect_size\.allowed_increase 0\.5 is below 1"),
    ({"metrics": METRICS, "lookback": "30s"}, r"^rollout_analysis\.judge\.lookback 30s is shorter than rollout_analysis\.interval 1m"),
    ({"metrics": METRICS, "lookback": "soon"}, r"^rollout_analysis\.judge\.lookback must be a duration"),
    ({"metrics": METRICS, "step": "20s"}, r"^rollout_analysis\.judge\.step 20s gives 4 samples per side over the lookback 1m, fewer than min_samples 5"),
    ({"metrics": METRICS, "step": "50ms"}, r"^rollout_analysis\.judge\.step 50ms gives 1200 samples per side .* more than the 1000"),
    ({"metrics": METRICS, "on_no_data": "ignore"}, r"^rollout_analysis\.judge\.on_no_data must be one of fail, pass, skip"),
    ({"metrics": METRICS, "min_samples": 0}, r"^rollout_analysis\.judge\.min_samples must be a whole number"),
    ({"metrics": METRICS, "window": "5m"}, r"^rollout_analysis\.judge\.window is not an option"),
    ({"metrics": {"name": "request-duration"}}, r"^rollout_analysis\.judge\.metrics must be a list"),
    ("on", r"^rollout_analysis\.judge must be a dictionary"),
], ids=["confidence-above-1", "confidence-0", "pass-below-marginal", "pass-above-100", "threshold-key", "direction", "builtin",
        "metric-key", "weight", "effect-size", "lookback-short", "lookback-duration", "too-few-samples", "too-many-samples",
        "on-no-data", "min-samples", "unknown-key", "metrics-list", "not-a-dict"])
def test_each_bad_judge_setting_names_the_field(judge, message):
    with pytest.raises(settings.SettingsError, match=message):
        validate(judge)


def test_the_filter_says_nothing_was_changed():
    variables = copy.deepcopy(BASE)
    variables["analysis"]["judge"] = {"metrics": METRICS, "confidence": 1.5}
    with pytest.raises(AnsibleFilterError, match=r"rollout_analysis\.judge\.confidence .*nothing was changed in the cluster"):
        rollout_settings(variables)
