"""Manual gates on the status dict: never operated is closed, open stays, approve lets one run through."""

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils.state import gates
from ansible_collections.progressive.delivery.plugins.module_utils.state import status as st

AT = "2026-12-01T12:00:00Z"


def operated(status, gate, action):
    return st.apply_update(status, gates.operate(gate, action, "alice", AT))


def test_a_gate_never_operated_is_closed():
    assert gates.state({}, "promotion") == "closed" and gates.passes({"phase": "Progressing"}, "promotion") is False
    assert gates.pass_through({}, "promotion", AT) is None


def test_open_lets_every_run_through_until_closed():
    status = operated({"phase": "Progressing"}, "promotion", "open")
    assert status["gates"]["promotion"] == {"state": "open", "by": "alice", "at": AT}
    assert gates.passes(status, "promotion") and gates.pass_through(status, "promotion", AT) is None
    assert gates.passes(operated(status, "promotion", "close"), "promotion") is False


def test_approve_lets_the_next_run_through_and_closes_behind_it():
    status = operated({"phase": "WaitingPromotion"}, "promotion", "approve")
    assert gates.passes(status, "promotion")
    used = st.apply_update(status, gates.pass_through(status, "promotion", "2026-12-01T12:05:00Z"))
    assert used["gates"]["promotion"] == {"state": "closed", "by": "alice", "at": AT, "used_at": "2026-12-01T12:05:00Z"}
    assert gates.passes(used, "promotion") is False
    # the other gates are untouched
    assert gates.state(used, "traffic") == "closed"


def test_the_status_refuses_an_unknown_gate_or_state():
    with pytest.raises(st.StatusError) as error:
        st.apply_update({}, {"gates": {"deploy": {"state": "open"}}})
    assert "status.gates" in str(error.value)
    with pytest.raises(st.StatusError):
        st.apply_update({}, {"gates": {"promotion": {"state": "ajar"}}})


@pytest.mark.parametrize("gate, action, field", [("deploy", "open", "gate"), ("promotion", "unlock", "action")])
def test_bad_gate_or_action_names_the_option(gate, action, field):
    with pytest.raises(gates.GateError) as error:
        gates.operate(gate, action, "alice", AT)
    assert error.value.field == field
