"""The rollout_fast_abort filter: the poll checked against the scrape interval the preflight read."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.progressive.delivery.plugins.filter.rollout import rollout_fast_abort

ON = {"fast_abort": {"enabled": True, "poll": None, "false_alarm_rate": 0.01, "ratio": 3.0, "min_success_rate": 99.0}}


def preflight(scrape):
    return {"window": {"scrape_interval_seconds": scrape, "job": None, "checked": ["request-success-rate"]}}


def test_the_scrape_interval_is_the_poll_and_the_fallback_is_said():
    assert rollout_fast_abort(ON, preflight(15.0))["poll"] == 15.0
    assert rollout_fast_abort(ON, preflight(15.0))["poll_source"] == "scrape_interval"
    chosen = rollout_fast_abort(ON, None)
    assert chosen["poll"] == 1.0 and chosen["poll_source"] == "fallback"
    assert rollout_fast_abort({"fast_abort": {"enabled": False}}, preflight(1.0)) == {"enabled": False}


def test_a_poll_shorter_than_the_scrape_interval_fails_naming_the_variable():
    given = {"fast_abort": dict(ON["fast_abort"], poll=5.0)}
    assert rollout_fast_abort(given, preflight(5.0))["poll_source"] == "setting"
    with pytest.raises(AnsibleFilterError) as error:
        rollout_fast_abort(given, preflight(15.0))
    assert "rollout_analysis.fast_abort.poll is 5s, shorter than Prometheus' scrape interval of 15s" in str(error.value)
    assert "nothing was changed in the cluster" in str(error.value)
