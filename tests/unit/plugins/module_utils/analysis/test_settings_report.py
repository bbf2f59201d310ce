"""The report and Pushgateway settings of the rollout role (rollout_report, rollout_report_dir, rollout_status_report,
rollout_metrics_push): validated with the others before anything is written, each error naming the variable."""

import copy

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.progressive.delivery.plugins.filter.rollout import rollout_settings
from ansible_collections.progressive.delivery.plugins.module_utils.analysis import settings

from tests.unit.plugins.module_utils.analysis.test_settings import BASE


def validate(**extra):
    variables = copy.deepcopy(BASE)
    variables.update(extra)
    return settings.validate(variables)


def test_the_defaults_write_the_report_under_tmp_and_push_nothing():
    result = validate()
    assert result["report"] == {"enabled": True, "on_status": False, "dir": "/tmp/progressive-delivery/test/podinfo"}
    assert result["metrics_push"] == {"enabled": False}
    assert validate(report_dir="  ", report=False)["report"]["dir"] == "/tmp/progressive-delivery/test/podinfo"
    assert validate(report="false", status_report="yes")["report"] == {
        "enabled": False, "on_status": True, "dir": "/tmp/progressive-delivery/test/podinfo"}
    assert validate(report_dir="~/reports")["report"]["dir"] == "~/reports"


def test_a_pushgateway_is_normalised_and_its_secrets_left_out():
    result = validate(metrics_push={"url": " http://pushgateway.monitoring:9091 ", "url_username": "u", "url_password": "s3cret",
                                    "bearer_token": None})["metrics_push"]
    assert result == {"enabled": True, "url": "http://pushgateway.monitoring:9091", "job": "progressive-delivery", "timeout": 5,
                      "validate_certs": True, "ca_path": None}
    assert "s3cret" not in repr(result)
    assert validate(metrics_push={"url": ""})["metrics_push"] == {"enabled": False}


@pytest.mark.parametrize("extra, message", [
    ({"report": "sometimes"}, "rollout_report must be true or false"),
    ({"status_report": 2}, "rollout_status_report must be true or false"),
    ({"report_dir": ["a"]}, "rollout_report_dir must be the path of a directory"),
    ({"metrics_push": "http://pushgateway:9091"}, "rollout_metrics_push must be a dictionary"),
    ({"metrics_push": {"url": "pushgateway:9091"}}, "rollout_metrics_push.url must be an http:// or https:// URL"),
    ({"metrics_push": {"url": "http://me@pushgateway:9091"}}, "rollout_metrics_push.url must not carry credentials"),
    ({"metrics_push": {"url": "http://pushgateway:9091", "jobs": "x"}}, "rollout_metrics_push.jobs is not an option"),
    ({"metrics_push": {"url": "http://pushgateway:9091", "job": "a/b"}}, "rollout_metrics_push.job must be a name"),
    ({"metrics_push": {"url": "http://pushgateway:9091", "timeout": 0}}, "rollout_metrics_push.timeout must be positive"),
    ({"metrics_push": {"url": "http://pushgateway:9091", "validate_certs": "maybe"}},
     "rollout_metrics_push.validate_certs must be true or false"),
])
def test_bad_settings_name_the_variable(extra, message):
    with pytest.raises(settings.SettingsError, match=message):
        validate(**extra)
    variables = copy.deepcopy(BASE)
    variables.update(extra)
    with pytest.raises(AnsibleFilterError, match="nothing was changed in the cluster"):
        rollout_settings(variables)
