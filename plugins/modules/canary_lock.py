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
  target:
    description: Name of the target Deployment (the canary).
    type: str
    required: true
  namespace:
    description: Namespace of the target.
    type: str
    required: true
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

import copy
import datetime
import traceback

from ansible_collections.progressive.delivery.plugins.module_utils.state import lock as lk

try:
    from ansible_collections.kubernetes.core.plugins.module_utils.args_common import AUTH_ARG_SPEC
    from ansible_collections.kubernetes.core.plugins.module_utils.k8s.core import AnsibleK8SModule
    from ansible_collections.kubernetes.core.plugins.module_utils.k8s.exceptions import CoreException
    from ansible_collections.progressive.delivery.plugins.module_utils._k8s import ClusterError, connect
    from ansible_collections.progressive.delivery.plugins.module_utils.state._cluster import Conflict, ObjectAccess, api_message

    HAS_DEPS = True
    IMPORT_ERROR = None
except ImportError:
    HAS_DEPS = False
    IMPORT_ERROR = traceback.format_exc()
    AUTH_ARG_SPEC = {}


def argspec():
    spec = copy.deepcopy(AUTH_ARG_SPEC)
    spec.update(
        target=dict(type="str", required=True),
        namespace=dict(type="str", required=True),
        holder=dict(type="str", required=True),
        ttl=dict(type="int", default=120),
        state=dict(type="str", choices=["acquired", "renewed", "released"], default="acquired"),
        force=dict(type="bool", default=False),
        token=dict(type="str", no_log=False),
    )
    return spec


def _now():
    return datetime.datetime.now(datetime.timezone.utc)


def _decide(params, existing, now):
    target, namespace = params["target"], params["namespace"]
    if params["state"] == "released":
        return lk.release(target, namespace, existing, params["holder"], now, force=params["force"], lease_token=params["token"])
    if params["state"] == "renewed":
        return lk.renew(target, namespace, existing, params["holder"], params["token"], params["ttl"], now)
    return lk.acquire(target, namespace, existing, params["holder"], params["ttl"], now, force=params["force"])


def run(module, client):
    params = module.params
    name = lk.lease_name(params["target"])
    leases = ObjectAccess(client, lk.API_VERSION, lk.KIND)
    existing = leases.get(params["namespace"], name)
    previous_holder = ((existing or {}).get("spec") or {}).get("holderIdentity") or None
    action, lease = _decide(params, existing, _now())
    if action != lk.NONE and not module.check_mode:
        try:
            lease = leases.create(lease) if existing is None else leases.replace(lease)
        except Conflict:
            # Somebody wrote the lease between our read and our write: decide again on what they wrote.
            existing = leases.get(params["namespace"], name)
            previous_holder = ((existing or {}).get("spec") or {}).get("holderIdentity") or None
            action, lease = _decide(params, existing, _now())
            if action != lk.NONE:
                lease = leases.create(lease) if existing is None else leases.replace(lease)
    result = {
        "changed": action != lk.NONE,
        "action": action,
        "previous_holder": previous_holder,
        "lease": dict(lk.summary(lease, _now()), name=name),
    }
    if module._diff and action != lk.NONE:
        result["diff"] = {"before": (existing or {}).get("spec") or {}, "after": (lease or {}).get("spec") or {}}
    return result


def main():
    module = AnsibleK8SModule(argument_spec=argspec(), supports_check_mode=True, required_if=[("state", "renewed", ["token"])])
    if not HAS_DEPS:
        module.fail_json(msg="progressive.delivery.canary_lock needs kubernetes.core and its module_utils", exception=IMPORT_ERROR)
    try:
        client = connect(module)
        module.exit_json(**run(module, client))
    except lk.LockHeld as exc:
        module.fail_json(msg=str(exc), holder=exc.holder)
    except lk.LockLost as exc:
        module.fail_json(msg=str(exc), holder=exc.holder, lock_lost=True)
    except (lk.LockError, Conflict) as exc:
        module.fail_json(msg=str(exc))
    except ClusterError as exc:
        module.fail_json(msg=str(exc))
    except CoreException as exc:
        module.fail_from_exception(exc)
    except Exception as exc:  # pylint: disable=broad-except
        module.fail_json(msg="canary_lock %s.%s: %s" % (module.params["target"], module.params["namespace"], api_message(exc)),
                         exception=traceback.format_exc())


if __name__ == "__main__":
    main()
