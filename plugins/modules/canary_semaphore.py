#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: canary_semaphore
short_description: Take or give back a slot of the concurrency limit of canaries (a semaphore of Leases)
version_added: 1.1.0
author:
  - Progressive Delivery maintainers (@progressive-delivery)
description:
  - Limits how many canaries analyse at once in a namespace or in the whole cluster. The limit O(limit) of a scope is
    that many C(coordination.k8s.io/v1) Leases, the I(slots) C(progressive-delivery-slot-<i>) (O(scope=namespace), in
    the canary's namespace) or C(progressive-delivery-cluster-slot-<i>) (O(scope=cluster), in O(slot_namespace)),
    labelled C(app.kubernetes.io/managed-by=progressive.delivery).
  - Each slot works like the canary's lock (M(progressive.delivery.canary_lock)) - holder, C(acquireTime),
    C(renewTime) plus C(leaseDurationSeconds) expiry, writes guarded by the resourceVersion that was read. Its holder
    is C(<namespace>/<target> <holder>).
  - A slot belongs to the canary, not to the run - the canary's own lock already keeps two runs of one canary apart.
    V(acquired) renews the slot the canary already holds (a re-run keeps its slot), else takes the first missing, free
    or expired slot. When every slot is held by other canaries the task fails with RV(full=true), naming them in the
    message and in RV(holders).
  - V(released) frees every slot of the scope the canary holds (also slots above a limit that was lowered since).
  - A separate module rather than an option of M(progressive.delivery.canary_lock) - the lock is one Lease named
    after the target, a slot is one of N Leases shared by many targets and found by its label.
options:
  holder:
    description: Who runs the canary (the lock's holder, for example C(user@controller:pid)); no spaces.
    type: str
    required: true
  scope:
    description: V(namespace) limits the canaries of O(namespace); V(cluster) the canaries of every namespace.
    type: str
    choices: [namespace, cluster]
    default: namespace
  slot_namespace:
    description:
      - Where the slots live. Defaults to O(namespace) - right for O(scope=namespace); with O(scope=cluster) every
        canary must name the same namespace.
    type: str
  limit:
    description: How many canaries of the scope may hold a slot at once (1 to 1000). Required with O(state=acquired).
    type: int
  ttl:
    description: Seconds the slot stays held after each acquire; a dead runner's slot frees after this long.
    type: int
    default: 120
  state:
    description: V(acquired) takes or renews the canary's slot; V(released) gives it back.
    type: str
    choices: [acquired, released]
    default: acquired
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - progressive.delivery.attributes
  - progressive.delivery.target
attributes:
  check_mode:
    support: full
    details: Decides (including the failure of a full scope) and reports the slot it would take without writing.
  diff_mode:
    support: full
  idempotent:
    support: partial
    details:
      - Acquiring again renews the same slot (a write, so C(changed=true)); it never takes a second one.
      - Releasing twice changes nothing the second time.
requirements:
  - kubernetes >= 24.2.0
  - PyYAML >= 3.11
"""

EXAMPLES = r"""
- name: Take one of the 3 slots of namespace test
  progressive.delivery.canary_semaphore:
    target: podinfo
    namespace: test
    holder: "ci@runner:1234"
    limit: 3
    ttl: 600

- name: Take one of the 10 cluster-wide slots, kept in namespace progressive-delivery
  progressive.delivery.canary_semaphore:
    target: podinfo
    namespace: test
    holder: "ci@runner:1234"
    scope: cluster
    slot_namespace: progressive-delivery
    limit: 10

- name: Give the namespace slot back
  progressive.delivery.canary_semaphore:
    target: podinfo
    namespace: test
    holder: "ci@runner:1234"
    state: released
"""

RETURN = r"""
action:
  description: V(created), V(renewed), V(taken_over) (a free or expired slot another canary held), V(released) or V(none).
  returned: always
  type: str
  sample: created
slot:
  description: The slot taken.
  returned: when O(state=acquired) and a slot was free
  type: dict
  contains:
    name:
      description: Name of the slot Lease.
      type: str
      sample: progressive-delivery-slot-0
    canary:
      description: The canary (C(namespace/target)) that holds it.
      type: str
    holder:
      description: The slot's holderIdentity (C(<namespace>/<target> <holder>)).
      type: str
    expires_at:
      description: When it frees unless renewed.
      type: str
    token:
      description: The holder's tenure (the slot's acquire time).
      type: str
holders:
  description: The canary (C(namespace/target)) holding each slot of the scope, null for a free one.
  returned: when O(state=acquired)
  type: list
  elements: str
  sample: [test/podinfo, null]
full:
  description: V(true) when the task failed because every slot is held by another canary.
  returned: on failure for a full scope
  type: bool
previous_holder:
  description: The taken slot's holder before the call.
  returned: when O(state=acquired) and a slot was free
  type: str
released:
  description: The slots given back.
  returned: when O(state=released)
  type: list
  elements: str
diff:
  description: The slot's spec before and after.
  returned: when diff mode is on
  type: dict
"""

from ansible_collections.progressive.delivery.plugins.module_utils._semaphore import run_semaphore
from ansible_collections.progressive.delivery.plugins.module_utils.k8s import CanaryModule


def main():
    CanaryModule(dict(
        holder=dict(type="str", required=True),
        scope=dict(type="str", choices=["namespace", "cluster"], default="namespace"),
        slot_namespace=dict(type="str"),
        limit=dict(type="int"),
        ttl=dict(type="int", default=120),
        state=dict(type="str", choices=["acquired", "released"], default="acquired"),
    ), service_name=False, fence=False, rehearse=False, name="canary_semaphore",
        required_if=[("state", "acquired", ["limit"])]).run(run_semaphore)


if __name__ == "__main__":
    main()
