# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Manual gates, kept in the rollout's status (not in a process): they survive a restarted runner.

A gate is one of Flagger's confirmation points (``rollout`` before the canary is scaled up,
``traffic`` before each weight increase, ``promotion`` before the promotion) or ``rollback`` (an
operator asking for the rollback). ``open`` lets every pass through until it is closed, ``approve``
lets the next one through and closes behind it (Flagger's load tester ``/gate/approve``), ``close``
holds. A gate never operated is closed: a run that waits on it waits for an operator.

Plain Python on the status dict; ``status.gates`` is ``{gate: {state, by, at}}``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# gate -> the Flagger webhook type it stands for
GATES = {
    "rollout": "confirm-rollout",
    "traffic": "confirm-traffic-increase",
    "promotion": "confirm-promotion",
    "rollback": "rollback",
}
ACTIONS = {"open": "open", "approve": "approved", "close": "closed"}
STATES = tuple(ACTIONS.values())


class GateError(ValueError):
    """An unknown gate or action; ``field`` names the option."""

    def __init__(self, message, field):
        super(GateError, self).__init__(message)
        self.message = message
        self.field = field


def check(gate, action=None):
    if gate not in GATES:
        raise GateError("gate %r is not a gate; use one of %s" % (gate, ", ".join(sorted(GATES))), "gate")
    if action is not None and action not in ACTIONS:
        raise GateError("action %r is not a gate action; use open, approve or close" % (action,), "action")


def valid_gates(value):
    """The check of ``status.gates``."""
    return isinstance(value, dict) and all(
        gate in GATES and isinstance(entry, dict) and entry.get("state") in STATES for gate, entry in value.items())


def state(status, gate):
    """``open``, ``approved`` or ``closed`` (never operated)."""
    check(gate)
    return (((status or {}).get("gates") or {}).get(gate) or {}).get("state") or "closed"


def operate(gate, action, by, at):
    """The status patch of an operator's action on ``gate``."""
    check(gate, action)
    return {"gates": {gate: {"state": ACTIONS[action], "by": by or "an operator", "at": at}}}


def passes(status, gate):
    """Whether a run may pass ``gate`` now."""
    return state(status, gate) in ("open", "approved")


_WAITING_FOR = {"rollout": "approval", "traffic": "traffic increase approval", "promotion": "promotion approval"}


def held_message(canary, gate):
    """Flagger's halt event for a closed gate, with the command that opens it."""
    check(gate)
    if gate == "rollback":
        return ""
    return ("Halt %s advancement waiting for %s: gate %s is closed (open it with ansible-playbook progressive.delivery.gate "
            "-e rollout_gate=%s -e rollout_gate_action=open, or approve it once with rollout_gate_action=approve)"
            % (canary, _WAITING_FOR[gate], gate, gate))


def pass_through(status, gate, at):
    """The status patch a run writes once it passed ``gate``: an approval is used up; None when nothing changes."""
    if state(status, gate) != "approved":
        return None
    entry = dict(((status or {}).get("gates") or {}).get(gate) or {})
    entry.update(state="closed", used_at=at)
    return {"gates": {gate: entry}}
