"""The history filters: what the rollout role calls each interval."""

import re

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.progressive.delivery.plugins.filter import canary_history

VERDICT = {"action": "advance", "state": {"step": 0, "weight": 10}, "message": "Advance podinfo.test canary weight 10",
           "events": [], "reason": None, "phase": "Progressing"}


def test_entry_then_append_through_the_filters():
    entry = canary_history.canary_history_entry(VERDICT, None, 10, "Progressing", "2026-01-02T03:04:05Z")
    assert entry["action"] == "advance" and entry["weight"] == 10
    assert canary_history.canary_history_append(None, entry) == [entry]
    # Jinja may hand the limit over as text
    assert len(canary_history.canary_history_append([dict(entry, weight=n) for n in range(5)], entry, "3")) == 3


def test_entry_defaults_to_now():
    entry = canary_history.canary_history_entry(VERDICT)
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", entry["at"])
    assert entry["weight"] == 10 and entry["phase"] == "Progressing"


def test_errors_name_the_filter():
    with pytest.raises(AnsibleFilterError, match="canary_history_append: limit"):
        canary_history.canary_history_append([], {}, 0)
    with pytest.raises(AnsibleFilterError, match="canary_history_entry"):
        canary_history.canary_history_entry({"state": {}})


def test_the_filters_are_registered():
    assert set(canary_history.FilterModule().filters()) == {"canary_history_append", "canary_history_entry"}
