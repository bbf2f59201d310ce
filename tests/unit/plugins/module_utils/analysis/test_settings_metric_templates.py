"""The role's metric templates and metric window in settings.validate: rollout_metric_templates and
rollout_metric_template_configmaps validated before anything is written (errors naming the variable),
and the window of the metrics without their own interval (Flagger's 1m under a shorter interval)."""

import copy

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils.analysis import settings

from tests.unit.plugins.module_utils.analysis.test_settings import BASE

TEMPLATES = {"error-rate": {"provider": {"type": "prometheus"}, "query": 'sum(rate(errors{app="$target",route="$route"}[$interval]))',
                            "variables": {"route": None}},
             "oap-apdex": {"provider": {"type": "skywalking", "secret_ref": {"name": "oap"}},
                           "query": "query q($duration: Duration!) { a: readMetricsValues(duration: $duration) { values { values { value } } } }"}}


def variables(metrics=None, interval="1m", **extra):
    result = copy.deepcopy(BASE)
    result["analysis"]["interval"] = interval
    if metrics is not None:
        result["analysis"]["metrics"] = metrics
    result.update(extra)
    return result


@pytest.mark.parametrize("interval, metric_interval, expected", [
    ("15s", None, "1m"), ("2s", None, "1m"), ("1m", None, "1m"), ("5m", None, "5m"), ("2s", "2s", "2s"), ("5m", "2m", "2m"),
])
def test_the_metrics_window_defaults_to_flaggers_1m_under_a_shorter_interval(interval, metric_interval, expected):
    values = variables(interval=interval)
    values["analysis"]["metric_interval"] = metric_interval
    assert settings.validate(values)["metric_interval"] == expected


def test_a_bad_metric_interval_names_the_variable():
    values = variables()
    values["analysis"]["metric_interval"] = "a minute"
    with pytest.raises(settings.SettingsError, match="rollout_analysis.metric_interval must be a duration"):
        settings.validate(values)


def test_templates_of_the_variables_resolve_and_validate():
    metrics = [{"name": "errors", "template_ref": {"name": "error-rate"}, "template_variables": {"route": "/api"}, "threshold_range": {"max": 1}},
               {"name": "apdex", "template_ref": {"name": "oap-apdex"}, "threshold_range": {"min": 9900}}]
    result = settings.validate(variables(metrics, metric_templates=TEMPLATES))
    assert result["metrics"] == metrics     # passed on as given: canary_metric_check resolves them with the Secrets


@pytest.mark.parametrize("extra, metrics, words", [
    ({"metric_templates": {"x": {"provider": {"type": "graphite"}}}}, None,
     "rollout_metric_templates.x.provider.type must be one of prometheus, web, skywalking"),
    ({"metric_templates": ["x"]}, None, "rollout_metric_templates must be a dictionary"),
    ({"metric_template_configmaps": "shared"}, None, "rollout_metric_template_configmaps must be a list"),
    ({"metric_template_configmaps": [{"nam": "shared"}]}, None, "rollout_metric_template_configmaps[0]: unknown key(s) nam"),
    ({"metric_templates": TEMPLATES}, [{"name": "e", "template_ref": {"name": "eror-rate"}}],
     "rollout_analysis.metrics[0] (e): metrics[0].template_ref names the metric template eror-rate, which does not exist "
     "(known templates: error-rate, oap-apdex)"),
    ({"metric_templates": TEMPLATES}, [{"name": "e", "template_ref": {"name": "error-rate"}, "query": "up"}],
     "rollout_analysis.metrics[0] (e): give one metrics source, not metrics[0].template_ref and metrics[0].query"),
    ({"metric_templates": TEMPLATES}, [{"name": "e", "template_ref": {"name": "error-rate"}}],
     "rollout_analysis.metrics[0] (e): template error-rate needs the variable route"),
])
def test_bad_template_settings_name_the_variable(extra, metrics, words):
    with pytest.raises(settings.SettingsError) as err:
        settings.validate(variables(metrics, **extra))
    assert str(err.value).startswith(words), str(err.value)


def test_a_reference_may_be_to_a_configmaps_template_when_configmaps_are_listed():
    metrics = [{"name": "shared", "template_ref": {"name": "from-configmap"}}, {"name": "shared", "query": "up"}]
    with pytest.raises(settings.SettingsError, match="rollout_analysis.metrics\\[1\\].name 'shared' is used twice"):
        settings.validate(variables(metrics, metric_template_configmaps=[{"name": "metric-templates"}]))
    assert settings.validate(variables(metrics[:1], metric_template_configmaps=[{"name": "metric-templates"}]))["metrics"] == metrics[:1]
