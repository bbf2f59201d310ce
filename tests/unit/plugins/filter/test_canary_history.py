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
    assert set(canary_history.FilterModule().filters()) == {"canary_history_append", "canary_history_entry",
                                                            "canary_history_record"}


START = "2026-01-02T03:00:00Z"


def test_record_appends_the_intervals_entry_to_the_current_history():
    entry = canary_history.canary_history_entry(VERDICT, None, 10, "Progressing", "2026-01-02T03:04:05Z")
    current = {"started_at": START, "history": [dict(entry, weight=0, action="advance")]}
    patch = canary_history.canary_history_record({"phase": "Progressing", "canary_weight": 10}, current, entry)
    assert patch["history"] == current["history"] + [entry] and patch["canary_weight"] == 10
    assert "history" not in canary_history.canary_history_record({"phase": "Progressing"}, current, None)


def test_record_starts_a_new_history_with_a_new_analysis_and_keeps_it_on_resume():
    old = {"started_at": START, "history": [{"at": START, "action": "promote", "weight": 50}]}
    assert canary_history.canary_history_record({"phase": "Progressing", "started_at": "2026-01-03T00:00:00Z"}, old)["history"] == []
    assert "history" not in canary_history.canary_history_record({"phase": "Progressing", "started_at": START}, old)


def test_record_closes_a_run_the_judge_did_not_end():
    current = {"started_at": START, "history": [{"at": START, "action": "advance", "weight": 50}]}
    failed = canary_history.canary_history_record({"phase": "Failed", "canary_weight": 0, "reason": "progress deadline exceeded",
                                                   "message": "Canary failed! Scaling down podinfo.test"}, current)
    last = failed["history"][-1]
    assert (last["action"], last["weight"], last["phase"], last["reason"]) == ("rollback", 0, "Failed", "progress deadline exceeded")
    # the judge's rollback was already recorded: not a second one
    again = canary_history.canary_history_record({"phase": "Failed", "canary_weight": 0, "reason": "x"}, failed)
    assert "history" not in again
    done = canary_history.canary_history_record({"phase": "Succeeded", "canary_weight": 0, "message": "Promotion completed!"}, current)
    assert [e["action"] for e in done["history"]] == ["advance", "promoted"] and done["history"][-1]["weight"] == 0
    assert "reason" not in done["history"][-1]


def test_record_refuses_a_patch_that_is_not_a_dict():
    with pytest.raises(AnsibleFilterError, match="canary_history_record"):
        canary_history.canary_history_record(["phase"], {})


def test_the_judges_rollback_entry_takes_the_weight_and_phase_recorded_with_it():
    verdict = dict(VERDICT, action="rollback", reason="failed checks threshold reached 2", state={"weight": 50})
    entry = canary_history.canary_history_entry(verdict, None, None, None, "2026-01-02T03:04:05Z")
    assert (entry["weight"], entry["phase"]) == (50, "Progressing")
    patch = canary_history.canary_history_record({"phase": "Failed", "canary_weight": 0, "reason": "x"}, {}, entry)
    assert [(e["action"], e["weight"], e["phase"], e["reason"]) for e in patch["history"]] == [
        ("rollback", 0, "Failed", "failed checks threshold reached 2")]
