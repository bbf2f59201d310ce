#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: canary_lock
short_description: Take, renew or give back the lock of a canary rollout (a Kubernetes Lease)
version_added: 1.0.0
author:
  - Progressive Delivery maintainers (@progressive-delivery)
description:
  - Keeps two runs from driving the same canary at once with a C(coordination.k8s.io/v1) Lease named
    C(<target>-canary-lock) in the target's namespace, with the fields and meaning of Kubernetes leader election
    (C(holderIdentity), C(leaseDurationSeconds), C(acquireTime), C(renewTime), C(leaseTransitions)).
  - V(acquired) takes a free lease, renews one this O(holder) already has, and takes over one whose holder stopped
    renewing it for longer than its duration. A lease somebody else holds and renews makes the task fail at once,
    naming the holder, since when it holds it and when it expires.
  - V(renewed) renews the tenure this run got (O(token), the RV(lease.token) that V(acquired) returned) and fails with
    RV(lock_lost=true) when the run no longer owns it - taken over after it ran out, or released or taken by a forced
    abort - even when the lease is free again. This is how a run notices, before its next write, that it must stop.
  - V(released) gives the lease back (clears the holder, keeps the object and its transition count). With O(token) only
    that tenure is released; a lease the run already lost is left alone.
  - Writes replace the Lease with the resourceVersion that was read, so two runs racing for a free lease cannot both
    get it; the loser fails naming the winner.
options:
  holder:
    description:
      - Who holds the lock - unique per run, for example C(user@controller:pid) or an AWX job id. The same value must be
        used to renew and to release.
    type: str
    required: true
  ttl:
    description:
      - Seconds the lease stays valid after each acquire or renewal (C(leaseDurationSeconds)). A run that is killed
        keeps the lock this long at most.
    type: int
    default: 120
  state:
    description: V(acquired) takes or renews the lock; V(renewed) renews the tenure O(token) only; V(released) gives it back.
    type: str
    choices: [acquired, renewed, released]
    default: acquired
  token:
    description:
      - The tenure this run holds, RV(lease.token) of the V(acquired) call (the lease's C(acquireTime)).
      - Required with O(state=renewed); optional with O(state=released).
    type: str
  force:
    description:
      - Take (or release) the lease even though another holder renews it. For an operator who knows the holder is gone,
        for example right after killing C(ansible-playbook).
    type: bool
    default: false
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - progressive.delivery.attributes
  - progressive.delivery.target
attributes:
  check_mode:
    support: full
    details: Reports what would happen (including the failure when someone else holds the lock) without writing.
  diff_mode:
    support: full
  idempotent:
    support: partial
    details:
      - Releasing twice, or releasing a free lease, changes nothing.
      - Acquiring a lock you already hold renews it (a write, so C(changed=true)).
requirements:
  - kubernetes >= 24.2.0
  - PyYAML >= 3.11
"""

EXAMPLES = r"""
- name: Take the lock of podinfo's rollout for two minutes
  progressive.delivery.canary_lock:
    target: podinfo
    namespace: test
    holder: "{{ lookup('ansible.builtin.env', 'USER') }}@{{ inventory_hostname }}:{{ tower_job_id | default('cli') }}"
    ttl: 120

- name: Give it back
  progressive.delivery.canary_lock:
    target: podinfo
    namespace: test
    holder: "{{ lookup('ansible.builtin.env', 'USER') }}@{{ inventory_hostname }}:{{ tower_job_id | default('cli') }}"
    state: released

- name: Take it over from a run that was killed a moment ago
  progressive.delivery.canary_lock:
    target: podinfo
    namespace: test
    holder: operator@laptop
    force: true
"""

RETURN = r"""
action:
  description: What happened - V(created), V(renewed), V(taken_over), V(released) or V(none).
  returned: always
  type: str
  sample: created
lease:
  description: The lock after the call.
  returned: always
  type: dict
  contains:
    name:
      description: Name of the Lease.
      type: str
      sample: podinfo-canary-lock
    holder:
      description: Who holds it (null when free).
      type: str
    acquired_at:
      description: When the holder took it.
      type: str
    renewed_at:
      description: Last renewal.
      type: str
    expires_at:
      description: When it runs out unless renewed.
      type: str
    token:
      description: The holder's tenure (the lease's acquire time); pass it to renew, release and fenced writes.
      type: str
      sample: "2026-12-01T10:00:00.000000Z"
    expired:
      description: Whether the holder stopped renewing it in time.
      type: bool
    ttl:
      description: Lease duration in seconds.
      type: int
    transitions:
      description: How many times it changed hands.
      type: int
previous_holder:
  description: The holder before the call (null when it was free).
  returned: always
  type: str
lock_lost:
  description: V(true) when O(state=renewed) failed because the run no longer owns the lease (the message says who has it).
  returned: on failure to renew
  type: bool
diff:
  description: The Lease spec before and after.
  returned: when diff mode is on and something changed
  type: dict
"""

from ansible_collections.progressive.delivery.plugins.module_utils._state import run_lock
from ansible_collections.progressive.delivery.plugins.module_utils.k8s import CanaryModule


def main():
    CanaryModule(dict(
        holder=dict(type="str", required=True),
        ttl=dict(type="int", default=120),
        state=dict(type="str", choices=["acquired", "renewed", "released"], default="acquired"),
        force=dict(type="bool", default=False),
        token=dict(type="str", no_log=False),
    ), service_name=False, fence=False, rehearse=False, name="canary_lock",
        required_if=[("state", "renewed", ["token"])]).run(run_lock)


if __name__ == "__main__":
    main()
