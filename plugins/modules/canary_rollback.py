#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: canary_rollback
short_description: Roll a canary back - all traffic to the primary, the target scaled to 0
version_added: 1.0.0
description:
  - In one idempotent call routes 100% of the traffic to the primary, removes the A/B route and the mirror, scales the target
    Deployment to 0 replicas. Only the target's C(spec.replicas) is written, no annotation or label on its metadata, which a
    GitOps controller (Argo CD, Flux) would show as drift from Git; O(reason) is returned (the rollout role records it in the
    status ConfigMap).
  - The order is fixed - the route first, always; then a wait until the mesh serves it (O(scale_down_delay), Argo Rollouts'
    C(abortScaleDownDelaySeconds)); then the scale-down. When the scale-down part fails, the task fails with a message saying
    that the traffic is on the primary, and returns RV(weights) and RV(previous_weights) anyway.
  - Safe to call twice, when the canary already gets no traffic, and when the VirtualService was left half-changed (weights
    that do not sum to 100, a left-over A/B route or mirror, a missing canary destination).
  - The target keeps its (bad) pod template; the primary is not touched.
  - Every option is checked before anything is read or written, and the error names the option and the fix. Unlike the other
    cluster modules a rollback is not rehearsed as a server-side dry run first - it is not all-or-nothing on purpose, since traffic
    safety comes first, so a refused scale-down (an RBAC rule, an admission policy) never keeps the traffic on the canary.
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
    details: >-
      Nothing is sent to the API server and nothing is waited for; the result and diff are computed from the objects read.
  diff_mode:
    support: full
  idempotent:
    support: full
    details: A second call finds the route at 100/0 and the target at 0 replicas; it writes nothing and does not wait.
options:
  reason:
    description:
      - Why the canary is rolled back (for example the failed check); returned as RV(reason). Nothing is written on the target.
    type: str
  scale_down_delay:
    description:
      - Seconds the target keeps its pods after the traffic was routed to the primary, before it is scaled to 0. The proxies
        serve a route change some time after the API write (istiod debounces and pushes to every sidecar); a request a proxy
        still sends to a canary pod that is gone fails with 503.
      - When the VirtualService carries Istio's distribution status (istiod with C(PILOT_ENABLE_STATUS) and
        C(PILOT_ENABLE_CONFIG_DISTRIBUTION_TRACKING), what C(istioctl x wait) reads), the wait ends as soon as its
        C(Reconciled) condition reports the current generation distributed to every proxy (RV(route_reconciled)); it never
        lasts longer than O(scale_down_delay).
      - The wait happens whenever the target still has replicas to remove, also when the route was already at 100/0 (it may
        have been switched just before this call). Nothing is waited in check mode or when the target is already at 0.
      - The default is Argo Rollouts' C(scaleDownDelaySeconds), well above istiod's push debounce (at most 10 s by default).
        V(0) scales the target down right after the route change, which drops requests under live traffic.
    type: int
    default: 30
seealso:
  - module: progressive.delivery.canary_route
  - module: progressive.delivery.canary_promote
"""

EXAMPLES = r"""
- name: Roll podinfo back after a failed analysis
  progressive.delivery.canary_rollback:
    namespace: test
    target: podinfo
    reason: "request-success-rate 87.5 < 99 (5 failed checks)"
  register: podinfo_rollback

- name: Roll back at once where nobody sends traffic (a test namespace)
  progressive.delivery.canary_rollback:
    namespace: test
    target: podinfo
    scale_down_delay: 0
"""

RETURN = r"""
lock_lost:
  description: V(true) when O(fence) was given and the run no longer owns the lock; nothing was written.
  returned: on that failure
  type: bool
weights:
  description: The weights after the rollback (always primary 100, canary 0).
  returned: success
  type: dict
  sample: {"primary": 100, "canary": 0}
previous_weights:
  description: The weights found before the rollback (they may not sum to 100 if the VirtualService was half-changed).
  returned: success
  type: dict
  sample: {"primary": 60, "canary": 40}
reason:
  description: The O(reason) given.
  returned: success
  type: str
scaled_down:
  description: Whether the target had replicas before this call (and was scaled to 0 by it).
  returned: success
  type: bool
drained_seconds:
  description: The drain before the scale-down, as RV(progressive.delivery.canary_promote#module:drained_seconds).
  returned: success
  type: float
  sample: 30.002
route_reconciled:
  description: Whether every proxy served the route before the scale-down, as RV(progressive.delivery.canary_promote#module:route_reconciled).
  returned: success
  type: bool
  sample: null
objects:
  description: The objects written or checked, with C(action) C(updated) or C(unchanged).
  returned: success
  type: list
  elements: dict
diff:
  description: The changed objects before and after, keyed by C(<kind>/<name>).
  returned: when diff mode is on
  type: dict
"""

from ansible_collections.progressive.delivery.plugins.module_utils._canary import SCALE_DOWN_DELAY, run_rollback
from ansible_collections.progressive.delivery.plugins.module_utils.k8s import CanaryModule
from ansible_collections.progressive.delivery.plugins.module_utils.routing import gatewayapi_argument_spec, routing_argument_spec


def main():
    # Not rehearsed: a rollback writes what it can even when a later write is refused.
    CanaryModule(dict(dict(routing_argument_spec(), **gatewayapi_argument_spec()), reason=dict(type="str"),
                      scale_down_delay=dict(type="int", default=SCALE_DOWN_DELAY)),
                 rehearse=False).run(run_rollback)


if __name__ == "__main__":
    main()
