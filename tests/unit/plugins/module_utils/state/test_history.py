"""The bounded history of a rollout (state/history.py) and its place in the status."""

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils.state import history
from ansible_collections.progressive.delivery.plugins.module_utils.state import status as st

CHECK = {"passed": False, "metrics": [
    {"name": "request-success-rate", "source": "prometheus", "template": "request-success-rate", "query": "sum(rate(...))",
     "interval": "1m", "value": 97.6, "threshold_range": {"min": 99, "max": None}, "status": "fail",
     "message": "request success rate 97.60% < 99%"},
    {"name": "request-duration", "source": "prometheus", "template": "request-duration", "query": "histogram_quantile(...)",
     "interval": "1m", "value": None, "threshold_range": {"min": None, "max": 500}, "status": "no_data",
     "message": "no values found"},
]}
HALT = {"action": "halt", "state": {"step": 1, "weight": 20, "failed_checks": 1, "iterations": 3}, "route_weight": None,
        "reason": None, "events": [{"text": "Halt podinfo.test advancement request success rate 97.60% < 99%", "type": "Warning"}],
        "message": "Halt podinfo.test advancement request success rate 97.60% < 99%", "outcome": "failed",
        "phase": "Progressing", "limit": None}


def entry(n):
    return {"at": "2026-01-02T03:%02d:00Z" % n, "weight": n, "phase": "Progressing", "action": "advance", "metrics": [], "event": ""}


def test_append_keeps_the_newest_entries_up_to_the_limit():
    kept = []
    for n in range(7):
        kept = history.append(kept, entry(n), limit=5)
    assert [e["weight"] for e in kept] == [2, 3, 4, 5, 6]
    assert len(history.append(kept, entry(7), limit=5)) == 5


def test_append_default_limit_is_200():
    kept = [entry(n % 60) for n in range(250)]
    assert len(history.append(kept, entry(59) | {"weight": 99})) == 200


def test_append_does_not_modify_its_arguments_and_starts_from_none():
    original = [entry(1)]
    new = entry(2)
    result = history.append(original, new)
    assert original == [entry(1)] and len(result) == 2
    result[-1]["weight"] = 77
    assert new["weight"] == 2
    assert history.append(None, new) == [new]


def test_append_does_not_repeat_the_same_interval():
    once = history.append([], entry(1))
    assert history.append(once, entry(1)) == once
    assert len(history.append(once, entry(2))) == 2


@pytest.mark.parametrize("limit", [0, -1, True, "5", None])
def test_append_refuses_a_bad_limit(limit):
    with pytest.raises(history.HistoryError, match="limit"):
        history.append([], entry(1), limit=limit)


def test_append_refuses_a_history_that_is_not_a_list_of_entries():
    with pytest.raises(history.HistoryError):
        history.append({"a": 1}, entry(1))
    with pytest.raises(history.HistoryError):
        history.append([1], entry(1))
    with pytest.raises(history.HistoryError):
        history.append([], "advance")


def test_entry_of_a_halt_keeps_the_metrics_without_their_queries():
    got = history.entry_of(HALT, CHECK, 20, "Progressing", "2026-01-02T03:04:05Z")
    assert got == {
        "at": "2026-01-02T03:04:05Z", "weight": 20, "phase": "Progressing", "action": "halt",
        "event": "Halt podinfo.test advancement request success rate 97.60% < 99%",
        "metrics": [
            {"name": "request-success-rate", "value": 97.6, "threshold_range": {"min": 99, "max": None}, "status": "fail",
             "message": "request success rate 97.60% < 99%"},
            {"name": "request-duration", "value": None, "threshold_range": {"min": None, "max": 500}, "status": "no_data",
             "message": "no values found"},
        ],
    }


def test_entry_of_takes_weight_and_phase_from_the_verdict_when_not_given():
    got = history.entry_of(HALT, None, None, None, "2026-01-02T03:04:05Z")
    assert got["weight"] == 20 and got["phase"] == "Progressing" and got["metrics"] == []


def test_entry_of_a_rollback_keeps_its_reason():
    verdict = dict(HALT, action="rollback", reason="failed checks threshold reached 2", message="",
                   events=[{"text": "Rolling back podinfo.test failed checks threshold reached 2", "type": "Warning"}])
    got = history.entry_of(verdict, CHECK, 0, "Failed", "2026-01-02T03:05:05Z")
    assert got["reason"] == "failed checks threshold reached 2"
    assert got["event"] == "Rolling back podinfo.test failed checks threshold reached 2"  # the last event when no message
    assert "reason" not in history.entry_of(HALT, CHECK, 20, "Progressing", "2026-01-02T03:04:05Z")


def test_entry_of_keeps_a_judgment_when_there_is_no_range_and_cuts_long_messages():
    check = {"metrics": [{"name": "latency", "value": 1.2, "classification": "High", "status": "fail", "message": "x" * 1000}]}
    metric = history.entry_of(HALT, check, 20, "Progressing", "2026-01-02T03:04:05Z")["metrics"][0]
    assert metric["judgment"] == "High" and "threshold_range" not in metric
    assert len(metric["message"]) == history.MESSAGE_LIMIT and metric["message"].endswith("...")


@pytest.mark.parametrize("verdict, at", [({}, "2026-01-02T03:04:05Z"), (None, "2026-01-02T03:04:05Z"), (HALT, ""), (HALT, 5)])
def test_entry_of_refuses_what_is_no_verdict_or_no_time(verdict, at):
    with pytest.raises(history.HistoryError):
        history.entry_of(verdict, CHECK, 20, "Progressing", at)


def test_history_is_a_status_field():
    kept = history.append([], history.entry_of(HALT, CHECK, 20, "Progressing", "2026-01-02T03:04:05Z"))
    assert st.apply_update({"phase": "Progressing"}, {"history": kept})["history"] == kept
    with pytest.raises(st.StatusError, match="status.history"):
        st.apply_update({}, {"history": "advance"})
    with pytest.raises(st.StatusError, match="status.history"):
        st.apply_update({}, {"history": [1, 2]})
