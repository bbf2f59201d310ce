#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: canary_state
short_description: Read and update the persisted status of a canary rollout
version_added: 1.0.0
author:
  - Progressive Delivery maintainers (@progressive-delivery)
description:
  - Reads and writes the status of the canary rollout of a target Deployment, kept in the ConfigMap
    C(<target>-canary-status) (key C(status.json)) in the target's namespace.
  - The status holds what Flagger keeps in a Canary's status, with snake_case names - the C(phase), C(canary_weight),
    C(failed_checks), C(iterations), C(step), C(last_applied_hash), C(last_promoted_hash), C(last_transition_time),
    C(last_analysis) (the last metric results), C(message), C(reason), C(requested) (a promote or abort request to the
    running rollout), C(strategy), C(started_at), C(schedule) (the weights of the analysis, to detect a changed schedule
    on resume), C(run) and C(extra).
  - O(status) is applied as a JSON merge patch (RFC 7386) - fields it names are replaced, V(null) deletes a field,
    fields it leaves out are kept. C(last_transition_time) is set automatically when C(phase) changes.
  - Writes replace the ConfigMap with the resourceVersion that was read; when another writer got there first the patch
    is merged again into the fresh status (up to three times).
  - With O(detect_revision=true) it also reads the target Deployment, computes its pod-template hash (plus the
    tracked ConfigMaps and Secrets, as M(progressive.delivery.canary_init) does) and says what a rollout should do
    with it (RV(revision.decision)).
  - The ConfigMap is used rather than annotations on the target so that a status write never modifies the user's
    Deployment (GitOps tools re-applying it do not erase the status, and status writes never race the user's edits).
options:
  status:
    description:
      - A JSON merge patch applied to the stored status. Leave it out to only read.
      - Unknown fields and values of the wrong type are refused, naming the field.
    type: dict
  state:
    description:
      - V(present) reads or updates the status; V(absent) deletes the ConfigMap (forgets every rollout of the target).
    type: str
    choices: [present, absent]
    default: present
  detect_revision:
    description:
      - Read the target Deployment and return RV(revision).
    type: bool
    default: false
  events:
    description:
      - Kubernetes Events to record on the target Deployment with this call (one line of progress each, in Flagger's words).
      - Written after the status, also when the status does not change; nothing is written in check mode.
    type: list
    elements: dict
    default: []
    suboptions:
      text:
        description:
          - The event's message, for example C(Advance podinfo.test canary weight 20).
          - Called C(text) because Ansible reserves the option name C(message).
        type: str
        required: true
      type:
        description: The event's type.
        type: str
        choices: [Normal, Warning]
        default: Normal
      reason:
        description: The event's reason.
        type: str
        default: Synced
  config_tracking:
    description:
      - Include the ConfigMaps and Secrets the pod template references in the hash, as
        M(progressive.delivery.canary_init) O(progressive.delivery.canary_init#module:config_tracking) does. Keep both equal.
    type: bool
    default: true
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - progressive.delivery.attributes
  - progressive.delivery.target
  - progressive.delivery.fence
attributes:
  check_mode:
    support: full
    details: Computes the status that would be written and reports it with the diff; writes nothing.
  diff_mode:
    support: full
  idempotent:
    support: full
    details: Writing a patch that does not change the stored status reports C(changed=false).
requirements:
  - kubernetes >= 24.2.0
  - PyYAML >= 3.11
"""

EXAMPLES = r"""
- name: Read the status of podinfo's rollout
  progressive.delivery.canary_state:
    target: podinfo
    namespace: test
  register: rollout_status

- name: Record a step of the analysis
  progressive.delivery.canary_state:
    target: podinfo
    namespace: test
    status:
      phase: Progressing
      canary_weight: 20
      iterations: 2
      message: Advance podinfo.test canary weight 20

- name: Ask the running rollout to promote at its next step
  progressive.delivery.canary_state:
    target: podinfo
    namespace: test
    status:
      requested: promote

- name: Decide whether there is a new revision to analyse
  progressive.delivery.canary_state:
    target: podinfo
    namespace: test
    detect_revision: true
  register: rollout_state

- name: Record a step and its event on the target Deployment
  progressive.delivery.canary_state:
    target: podinfo
    namespace: test
    status:
      canary_weight: 30
    events:
      - text: Advance podinfo.test canary weight 30

- name: Forget every rollout of podinfo
  progressive.delivery.canary_state:
    target: podinfo
    namespace: test
    state: absent
"""

RETURN = r"""
status:
  description: The status after the update (the stored one in check mode is left untouched). Empty when there is none.
  returned: always
  type: dict
  sample:
    phase: Progressing
    canary_weight: 20
    failed_checks: 1
    iterations: 3
    last_applied_hash: 5d0c8f3b8a2e4f10
    last_promoted_hash: 9a1b2c3d4e5f6071
    last_transition_time: "2026-01-02T03:04:05Z"
previous_status:
  description: The status before the update.
  returned: always
  type: dict
configmap:
  description: Name of the ConfigMap holding the status.
  returned: always
  type: str
  sample: podinfo-canary-status
exists:
  description: Whether the ConfigMap exists after the call (would exist, in check mode).
  returned: always
  type: bool
revision:
  description: The target's revision compared with the status.
  returned: when O(detect_revision=true)
  type: dict
  contains:
    hash:
      description: The pod-template hash of the target now (with tracked configs).
      type: str
    promoted_hash:
      description: The hash the primary Deployment carries (what was promoted last), or null without a primary.
      type: str
    decision:
      description:
        - V(initialize) (no status yet), V(unchanged), V(new), V(rolled_back) (this revision failed before and is not retried),
          V(resume) (an interrupted analysis of this revision), V(restart) (a newer revision arrived during an analysis),
          V(reverted) (the target went back to the promoted revision during an analysis).
      type: str
    target_exists:
      description: Whether the target Deployment exists.
      type: bool
events:
  description: Names of the Events recorded on the target.
  returned: always
  type: list
  elements: str
  sample: [podinfo.187a3c5e2f1d0a00]
lock_lost:
  description: V(true) when O(fence) was given and the run no longer owns the lock; nothing was written.
  returned: on that failure
  type: bool
diff:
  description: The status before and after.
  returned: when diff mode is on and something changed
  type: dict
"""

from ansible_collections.progressive.delivery.plugins.module_utils._state import run_state
from ansible_collections.progressive.delivery.plugins.module_utils.k8s import CanaryModule


def main():
    CanaryModule(dict(
        status=dict(type="dict"),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        detect_revision=dict(type="bool", default=False),
        config_tracking=dict(type="bool", default=True),
        events=dict(type="list", elements="dict", default=[], options=dict(
            text=dict(type="str", required=True),
            type=dict(type="str", choices=["Normal", "Warning"], default="Normal"),
            reason=dict(type="str", default="Synced"),
        )),
    ), service_name=False, rehearse=False, name="canary_state").run(run_state)


if __name__ == "__main__":
    main()
