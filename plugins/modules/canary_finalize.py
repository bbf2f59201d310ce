#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: canary_finalize
short_description: Give the service back to the target Deployment and remove the canary's objects (Flagger's revertOnDeletion)
version_added: 1.0.0
description:
  - Undoes M(progressive.delivery.canary_init) for O(router=istio) in O(mode=host), in an order that keeps the service up.
  - First scales the target Deployment back to the replicas of C(<target>-primary) (at least 1) and waits until it is ready.
  - Then restores an adopted VirtualService C(<apex>) to the spec saved in its annotation C(progressive.delivery/original-spec)
    when it was adopted (without that annotation and the collection's C(app.kubernetes.io/managed-by) label); a VirtualService
    the collection created is deleted instead.
  - Then points the apex Service C(<apex>) at the target's pods (the target's app label), waits O(scale_down_delay) seconds for
    the proxies to follow, and deletes every object the collection created, found by its C(app.kubernetes.io/managed-by)
    label (the Services C(<apex>-primary) and C(<apex>-canary), the DestinationRules of those names, the primary's HPA, the
    primary Deployment and its ConfigMap/Secret copies, the status ConfigMap C(<target>-canary-status) and last the Lease
    C(<target>-canary-lock)). The apex Service stays, since the restored route and the users of the service need it.
  - Refuses while another run holds the lock (a rollout under way), unless O(force=true) or O(fence) names that holder.
  - An object that is gone or not the collection's is left alone, so a second call has nothing to do.
author:
  - Progressive Delivery maintainers (@progressive-delivery)
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - progressive.delivery.attributes
  - progressive.delivery.target
  - progressive.delivery.target.service_name
  - progressive.delivery.fence
  - progressive.delivery.routing
  - progressive.delivery.gatewayapi
attributes:
  check_mode:
    support: full
    details: Nothing is sent to the API server and nothing is waited for; RV(plan), RV(objects) and the diff show every step.
  diff_mode:
    support: full
    details: A deleted object shows as its last state before and an empty dict after.
  idempotent:
    support: full
    details: A second call finds the primary and the collection's objects gone and the route restored; it writes nothing.
options:
  force:
    description: Finalize even while another run holds the lock of the canary (a rollout run that is gone, or one to be cut short).
    type: bool
    default: false
  scale_down_delay:
    description:
      - Seconds the primary keeps its pods after the apex Service selects the target's pods, before it is deleted. The proxies
        follow a change of endpoints some time after the API write.
    type: int
    default: 30
  timeout:
    description: Seconds to wait for the target to become ready after it is scaled back.
    type: int
    default: 300
seealso:
  - module: progressive.delivery.canary_init
  - module: progressive.delivery.canary_rollback
"""

EXAMPLES = r"""
- name: Hand podinfo back to its own Deployment and remove the canary
  progressive.delivery.canary_finalize:
    namespace: test
    target: podinfo
  register: podinfo_finalize

- name: Show what a finalize would do
  progressive.delivery.canary_finalize:
    namespace: test
    target: podinfo
  check_mode: true
  diff: true
"""

RETURN = r"""
plan:
  description: The steps, one line each, in the order they are (or in check mode would be) carried out.
  returned: success
  type: list
  elements: str
  sample: ["scale Deployment/podinfo from 0 to 2 replicas (the primary's)", "restore VirtualService/podinfo to the spec saved when it was adopted"]
replicas:
  description: The replicas of the target after the call.
  returned: success
  type: int
  sample: 2
restored:
  description: Whether the adopted VirtualService got its saved spec back in this call.
  returned: success
  type: bool
objects:
  description: Every object written or deleted, with C(updated) or C(deleted).
  returned: success
  type: list
  elements: dict
lock_lost:
  description: V(true) when O(fence) was given and the run no longer owns the lock; nothing was written.
  returned: on that failure
  type: bool
diff:
  description: The objects before and after, keyed by C(<kind>/<name>).
  returned: when diff mode is on
  type: dict
"""

from ansible_collections.progressive.delivery.plugins.module_utils._finalize import run_finalize
from ansible_collections.progressive.delivery.plugins.module_utils.k8s import CanaryModule
from ansible_collections.progressive.delivery.plugins.module_utils.routing import gatewayapi_argument_spec, routing_argument_spec


def main():
    CanaryModule(dict(dict(routing_argument_spec(), **gatewayapi_argument_spec()),
                      force=dict(type="bool", default=False),
                      scale_down_delay=dict(type="int", default=30),
                      timeout=dict(type="int", default=300))).run(run_finalize)


if __name__ == "__main__":
    main()
