import datetime
import json

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils.state import status as st

T0 = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
T1 = T0 + datetime.timedelta(seconds=30)


def test_merge_patch_rfc7386():
    doc = {"a": 1, "b": {"c": 2, "d": 3}, "l": [1, 2]}
    assert st.merge_patch(doc, {"a": None, "b": {"c": 5, "d": None}, "l": [3], "n": {"x": 1}}) == {
        "b": {"c": 5},
        "l": [3],
        "n": {"x": 1},
    }
    assert doc == {"a": 1, "b": {"c": 2, "d": 3}, "l": [1, 2]}  # untouched


def test_transition_time_moves_only_with_phase():
    first = st.apply_update({}, {"phase": "Progressing", "canary_weight": 10}, now=T0)
    assert first["last_transition_time"] == "2026-01-02T03:04:05Z"
    second = st.apply_update(first, {"canary_weight": 20, "iterations": 1}, now=T1)
    assert second["last_transition_time"] == "2026-01-02T03:04:05Z"
    assert second["canary_weight"] == 20
    third = st.apply_update(second, {"phase": "Failed", "reason": "failed checks threshold reached 2"}, now=T1)
    assert third["last_transition_time"] == "2026-01-02T03:04:35Z"
    # the same patch again changes nothing (idempotence is decided on equality)
    assert st.apply_update(third, {"phase": "Failed", "reason": "failed checks threshold reached 2"}, now=T1 + T1.resolution) == third


@pytest.mark.parametrize(
    "patch, words",
    [
        ({"phase": "Running"}, "status.phase must be one of Initializing"),
        ({"canary_weight": 101}, "status.canary_weight must be an integer between 0 and 100"),
        ({"canary_weight": "10"}, "status.canary_weight must be an integer"),
        ({"failed_checks": -1}, "status.failed_checks must be an integer >= 0"),
        ({"failed_check": 1}, "status.failed_check is not a status field; known fields:"),
        ({"last_analysis": {"x": 1}}, "status.last_analysis must be a list"),
        ({"requested": "pause"}, "status.requested must be one of promote, abort"),
        ({"last_transition_time": "2026-01-01T00:00:00Z"}, "set automatically"),
        ("Progressing", "status must be a dict"),
    ],
)
def test_bad_updates_name_the_field(patch, words):
    with pytest.raises(st.StatusError) as err:
        st.apply_update({}, patch, now=T0)
    assert words in str(err.value)


def test_none_deletes_a_field():
    current = st.apply_update({}, {"phase": "Progressing", "requested": "promote"}, now=T0)
    assert "requested" not in st.apply_update(current, {"requested": None}, now=T0)


def test_configmap_round_trip_keeps_metadata():
    status = {"phase": "Succeeded", "canary_weight": 0, "last_promoted_hash": "abc"}
    cm = st.build_configmap("podinfo", "test", status)
    assert cm["metadata"]["name"] == "podinfo-canary-status"
    assert cm["metadata"]["labels"]["progressive.delivery/target"] == "podinfo"
    assert st.decode(cm) == status
    cm["metadata"]["resourceVersion"] = "42"
    again = st.build_configmap("podinfo", "test", {"phase": "Failed"}, existing=cm)
    assert again["metadata"]["resourceVersion"] == "42"
    assert json.loads(again["data"]["status.json"]) == {"phase": "Failed"}
    assert st.decode(None) == {}
    assert st.decode({"data": {}}) == {}


def test_decode_reports_broken_json():
    with pytest.raises(st.StatusError, match="podinfo-canary-status: data.status.json is not valid JSON"):
        st.decode({"metadata": {"name": "podinfo-canary-status"}, "data": {"status.json": "{nope"}})
    with pytest.raises(st.StatusError, match="must hold a JSON object"):
        st.decode({"metadata": {"name": "x"}, "data": {"status.json": "[1]"}})


@pytest.mark.parametrize(
    "status, current, expected",
    [
        ({}, "h1", st.INITIALIZE),
        ({"phase": "Initializing"}, "h1", st.INITIALIZE),
        ({"phase": "Initialized", "last_promoted_hash": "h1"}, "h1", st.UNCHANGED),
        ({"phase": "Initialized", "last_promoted_hash": "h1"}, "h2", st.NEW),
        ({"phase": "Succeeded", "last_promoted_hash": "h2", "last_applied_hash": "h2"}, "h2", st.UNCHANGED),
        ({"phase": "Failed", "last_promoted_hash": "h1", "last_applied_hash": "h2"}, "h2", st.ROLLED_BACK),
        ({"phase": "Failed", "last_promoted_hash": "h1", "last_applied_hash": "h2"}, "h3", st.NEW),
        ({"phase": "Failed", "last_promoted_hash": "h1", "last_applied_hash": "h2"}, "h1", st.UNCHANGED),
        ({"phase": "Progressing", "last_promoted_hash": "h1", "last_applied_hash": "h2"}, "h2", st.RESUME),
        ({"phase": "Promoting", "last_promoted_hash": "h1", "last_applied_hash": "h2"}, "h2", st.RESUME),
        ({"phase": "Progressing", "last_promoted_hash": "h1", "last_applied_hash": "h2"}, "h3", st.RESTART),
        ({"phase": "Progressing", "last_promoted_hash": "h1", "last_applied_hash": "h2"}, "h1", st.REVERTED),
    ],
)
def test_revision_decision(status, current, expected):
    assert st.revision_decision(status, current) == expected
