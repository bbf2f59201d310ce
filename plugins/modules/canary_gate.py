#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: canary_gate
short_description: Open, approve or close a manual gate of a canary, or pass one
version_added: 1.0.0
author:
  - Progressive Delivery maintainers (@progressive-delivery)
description:
  - Manual gates of Flagger's confirmation points, kept in the rollout's status (C(<target>-canary-status), see
    M(progressive.delivery.canary_state)) rather than in a process, so they survive a restarted runner and a gate opened while
    no run is active is honoured by the next run.
  - The gates - V(rollout) (before the canary is scaled up, Flagger's C(confirm-rollout)), V(traffic) (before each weight
    increase, C(confirm-traffic-increase)), V(promotion) (before the promotion, C(confirm-promotion)) and V(rollback) (an
    operator asking for the rollback, as Flagger's load tester C(/rollback/open)).
  - With O(action), an operator's action - V(open) lets every run through until it is closed, V(approve) lets the next one
    through and closes behind it (Flagger's load tester C(/gate/approve)), V(close) holds. A gate never operated is closed.
  - Without O(action), a run asks whether it may pass (RV(passed)); passing an approved gate uses the approval up.
  - It writes only the status ConfigMap, with the resourceVersion it read; an operator's action does not need the rollout's lock
    (it is how an operator talks to a run that holds it).
attributes:
  check_mode:
    support: full
    details: Computes the new state and the diff; writes nothing.
  diff_mode:
    support: full
  idempotent:
    support: full
    details: An action that finds the gate already in that state writes nothing; passing an open or closed gate writes nothing.
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - progressive.delivery.attributes
  - progressive.delivery.target
options:
  gate:
    description: The gate.
    type: str
    required: true
    choices: [promotion, rollback, rollout, traffic]
  action:
    description: The operator's action. Omitted, the call is a run passing the gate.
    type: str
    choices: [open, approve, close]
  by:
    description: Who acted, recorded with the gate.
    type: str
seealso:
  - module: progressive.delivery.canary_webhook
"""

EXAMPLES = r"""
- name: Let podinfo's promotion go ahead once
  progressive.delivery.canary_gate:
    target: podinfo
    namespace: test
    gate: promotion
    action: approve
    by: "{{ lookup('ansible.builtin.env', 'USER') }}"

- name: May the run promote now?
  progressive.delivery.canary_gate:
    target: podinfo
    namespace: test
    gate: promotion
  register: podinfo_promotion_gate
  # podinfo_promotion_gate.passed
"""

RETURN = r"""
gate:
  description: The gate.
  returned: success
  type: str
state:
  description: The gate's state after the call - V(open), V(approved) or V(closed).
  returned: success
  type: str
passed:
  description: Without O(action), whether the run may pass the gate; null with O(action).
  returned: success
  type: bool
message:
  description:
    - "Without O(action), when the gate holds - Flagger's halt event with the command that opens the gate (for example
      C(Halt podinfo.test advancement waiting for promotion approval: gate promotion is closed ...)); empty otherwise."
  returned: success
  type: str
diff:
  description: The status before and after, when it changed.
  returned: when diff mode is on and the status changed
  type: dict
"""

from ansible_collections.progressive.delivery.plugins.module_utils._state import GATE_ACTIONS, GATE_NAMES, run_gate
from ansible_collections.progressive.delivery.plugins.module_utils.k8s import CanaryModule


def main():
    CanaryModule(dict(
        gate=dict(type="str", required=True, choices=GATE_NAMES),
        action=dict(type="str", choices=GATE_ACTIONS),
        by=dict(type="str"),
    ), service_name=False, fence=False, rehearse=False, name="canary_gate").run(run_gate)


if __name__ == "__main__":
    main()
