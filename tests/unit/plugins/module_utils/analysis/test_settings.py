"""Every rollout setting validated before the first write, each error naming the variable."""

import copy

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils.analysis import settings

BASE = {
    "target": "podinfo",
    "namespace": "test",
    "strategy": "canary",
    "analysis": {"interval": "1m", "threshold": 5, "max_weight": 50, "step_weight": 10, "step_weights": [],
                 "step_weight_promotion": None, "provider": "istio", "on_no_data": "fail",
                 "metrics": [{"name": "request-success-rate", "threshold_range": {"min": 99}}]},
    "service": {"port": 9898, "timeout": None, "hosts": [], "gateways": []},
    "load": {"url": "", "qps": 10, "concurrency": 2, "method": "GET", "headers": {}, "timeout": 5},
    "prometheus": {"url": "http://prometheus.istio-system:9090"},
    "progress_deadline_seconds": 600,
    "canary_replicas": 0,
    "lock_ttl": 0,
}


def with_(path, value):
    variables = copy.deepcopy(BASE)
    node = variables
    keys = path.split(".")
    for key in keys[:-1]:
        node = node[key]
    node[keys[-1]] = value
    return variables


def test_valid_settings_are_normalised():
    result = settings.validate(copy.deepcopy(BASE))
    assert result["schedule"] == [10, 20, 30, 40, 50]
    assert result["interval_seconds"] == 60.0 and result["threshold"] == 5
    # one interval, so a dead runner's canary is taken over within one interval
    assert result["lock_ttl"] == 60
    assert settings.validate(with_("analysis.interval", "1s"))["lock_ttl"] == settings.MIN_LOCK_TTL
    assert settings.validate(with_("lock_ttl", 45))["lock_ttl"] == 45
    assert result["names"] == {"primary": "podinfo-primary", "status": "podinfo-canary-status", "lock": "podinfo-canary-lock"}


@pytest.mark.parametrize("path, value, message", [
    ("analysis.threshold", 0, "rollout_analysis.threshold must be at least 1, got 0"),
    ("analysis.threshold", -2, "rollout_analysis.threshold must be at least 1"),
    ("analysis.threshold", "many", "rollout_analysis.threshold must be an integer"),
    ("analysis.interval", "1 minute", "rollout_analysis.interval must be a duration"),
    ("analysis.interval", 60, "rollout_analysis.interval must be a duration"),
    ("analysis.metrics", [{"name": "my-metric", "threshold_range": {"min": 1}}],
     "rollout_analysis.metrics[0] (my-metric): 'my-metric' is not a builtin istio metric"),
    ("analysis.metrics", [{"query": "up"}], "rollout_analysis.metrics[0].name is required"),
    ("analysis.metrics", [{"name": "x", "query": "up", "threshold_range": {"min": 5, "max": 1}}], "rollout_analysis.metrics[0]"),
    ("analysis.step_weights", [20, 10], "rollout_analysis.step_weights must be strictly ascending"),
    ("analysis.step_weights", [20, 120], "rollout_analysis.step_weights[1] must be at most 100"),
    ("analysis.step_weight", 0, "rollout_analysis.step_weight must be at least 1"),
    ("analysis.max_weight", 101, "rollout_analysis.max_weight must be at most 100"),
    ("analysis.step_weight_promotion", 0, "rollout_analysis.step_weight_promotion must be at least 1"),
    ("analysis.provider", "linkerd", "rollout_analysis.provider must be one of envoy, istio"),
    ("analysis.on_no_data", "ignore", "rollout_analysis.on_no_data must be one of fail, pass, skip"),
    ("prometheus", {}, "rollout_prometheus.url is required"),
    ("prometheus", {"url": "prometheus:9090"}, "rollout_prometheus.url must be an http:// or https:// URL"),
    ("load", dict(BASE["load"], url="podinfo-canary.test:9898"), "rollout_load.url must be an http:// or https:// URL"),
    ("load", dict(BASE["load"], url="http://podinfo-canary.test:9898/", qps=0), "rollout_load.qps must be positive"),
    ("load", dict(BASE["load"], url="http://podinfo-canary.test:9898/", concurrency=0), "rollout_load.concurrency must be at least 1"),
    ("service.port", 70000, "rollout_service.port must be at most 65535"),
    ("service.timeout", "120", "rollout_service.timeout must be an Istio duration"),
    ("strategy", "bluegreen", "rollout_strategy must be one of canary"),
    ("progress_deadline_seconds", 0, "rollout_progress_deadline_seconds must be at least 1"),
    ("target", "", "Set rollout_target: the name of the Deployment to roll out"),
])
def test_each_bad_setting_names_the_variable(path, value, message):
    with pytest.raises(settings.SettingsError) as caught:
        settings.validate(with_(path, value))
    assert message in str(caught.value)


def test_operator_entry_points_need_only_the_target():
    variables = with_("prometheus", {})
    variables["analysis"]["metrics"] = [{"name": "broken"}]
    variables["entry"] = "abort"
    assert settings.validate(variables)["threshold"] == 5
    with pytest.raises(settings.SettingsError):
        settings.validate(dict(variables, entry="main"))


def test_numbers_given_as_strings_are_read_as_ansible_reads_them():
    assert settings.validate(with_("analysis.threshold", "3"))["threshold"] == 3
