"""rollout_concurrency: validated with the other settings before anything is written, each error naming the variable."""

import copy

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.progressive.delivery.plugins.filter.rollout import rollout_settings
from ansible_collections.progressive.delivery.plugins.module_utils.analysis import settings

from tests.unit.plugins.module_utils.analysis.test_settings import BASE


def validate(concurrency):
    variables = copy.deepcopy(BASE)
    variables["concurrency"] = concurrency
    return settings.validate(variables)["concurrency"]


def test_no_limit_by_default():
    for value in (None, {}, {"namespace": None, "cluster": None}):
        assert validate(value)["enabled"] is False


def test_limits_are_normalised():
    result = validate({"namespace": 2, "cluster": 10, "cluster_namespace": "progressive-delivery", "wait_timeout": 90})
    # interval 1m: asks again every 60 s, so 90 s of waiting is one more question; slot held deadline + lock ttl
    assert result == {"enabled": True, "namespace": 2, "cluster": 10, "on_limit": "wait", "wait_timeout": 90,
                      "cluster_namespace": "progressive-delivery", "poll": 60, "retries": 1, "ttl": 600 + 60}
    assert validate({"namespace": 1, "on_limit": "fail"})["retries"] == 0


@pytest.mark.parametrize("concurrency,variable", [
    ({"namespace": 0}, "rollout_concurrency.namespace must be a whole number of canaries from 1"),
    ({"cluster": 0, "cluster_namespace": "pd"}, "rollout_concurrency.cluster must be a whole number"),
    ({"namespace": -1}, "rollout_concurrency.namespace must be a whole number"),
    ({"namespace": "two"}, "rollout_concurrency.namespace must be a whole number"),
    ({"namespace": 1.5}, "rollout_concurrency.namespace must be a whole number"),
    ({"namespace": True}, "rollout_concurrency.namespace must be a whole number"),
    ({"namespace": 1, "on_limit": "queue"}, "rollout_concurrency.on_limit must be one of wait, fail"),
    ({"namespace": 1, "wait_timeout": 0}, "rollout_concurrency.wait_timeout must be at least 1"),
    ({"cluster": 3}, "rollout_concurrency.cluster_namespace must name the namespace"),
    ({"cluster": 3, "cluster_namespace": "Not_A_Namespace"}, "rollout_concurrency.cluster_namespace must be the name"),
    ({"limit": 3}, "rollout_concurrency.limit is not an option"),
    ([1], "rollout_concurrency must be a dictionary"),
])
def test_bad_concurrency_is_refused_naming_the_variable(concurrency, variable):
    with pytest.raises(settings.SettingsError, match=variable):
        validate(concurrency)


def test_the_filter_reports_a_limit_of_zero():
    variables = copy.deepcopy(BASE)
    variables["concurrency"] = {"namespace": 0}
    with pytest.raises(AnsibleFilterError, match="rollout_concurrency.namespace"):
        rollout_settings(variables)
