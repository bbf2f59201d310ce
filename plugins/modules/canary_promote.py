#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: canary_promote
short_description: Promote the canary - copy the target's pod template and configs to the primary, then switch traffic back
version_added: 1.0.0
description:
  - Copies the pod template of the target Deployment onto C(<target>-primary) (app label suffixed, tracked ConfigMaps and Secrets
    copied as C(<name>-primary) again, as in M(progressive.delivery.canary_init)).
  - Waits until the primary rollout is complete (observed generation, updated, ready and available replicas) within O(timeout);
    on timeout it fails with the Deployment's conditions and neither moves traffic nor scales anything down.
  - Then, unless O(route=false), routes 100% to the primary and removes the A/B route and the mirror; and unless
    O(scale_down=false), waits until the mesh serves that route (O(scale_down_delay)) and only then scales the target to
    0 replicas, so that no request is sent to a canary pod that is gone. This is Flagger's C(Finalising) phase and Argo
    Rollouts' C(scaleDownDelaySeconds).
  - With O(expected_hash), only the revision that was analysed is promoted; a target changed since then is refused and
    nothing is written.
  - The primary's annotation C(progressive.delivery/pod-template-hash) records the promoted revision.
  - When the scale-down fails after the traffic moved, the task fails with a message saying that the traffic is on the
    primary, and returns RV(weights), RV(primary) and RV(scaled_down) anyway.
  - Every option is checked before anything is read or written, and the error names the option and the fix. Then every object the
    module writes (config copies, the primary, the VirtualService, the target's scale-down) is first sent to the API server as a dry
    run (C(dryRun=All), C(fieldValidation=Strict)); only when the server accepts all of them are they written for real, so an object
    the server refuses (its schema, an admission policy) leaves nothing written. A field the cluster's schema does not know is
    refused rather than dropped.
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
      Nothing is sent to the API server (not even a dry run) and nothing is waited for (neither the primary rollout nor
      O(scale_down_delay)); the result and diff are computed from the objects read.
  diff_mode:
    support: full
  idempotent:
    support: full
    details: A second call finds the primary promoted, the route at 100/0 and the target at 0 replicas; it writes nothing and
      does not wait.
options:
  primary_deployment:
    description:
      - With O(mode=subset), the user's stable Deployment behind O(primary_subset), promoted in place of C(<target>-primary)
        (Argo Rollouts' subset mode - the stable subset now runs the new version). It gets the target's pod template and keeps
        every pod label of its own (its subset's among them), its selector, replicas and strategy.
    type: str
  timeout:
    description: Seconds (0 or more) to wait for the primary rollout to complete.
    type: int
    default: 600
  route:
    description: After the primary rollout, route 100% of the traffic to the primary and remove the A/B route and the mirror.
    type: bool
    default: true
  scale_down:
    description: After the primary rollout (and routing), scale the target to 0 replicas, O(scale_down_delay) after the route.
    type: bool
    default: true
  scale_down_delay:
    description:
      - Seconds the target keeps its pods after the traffic was routed to the primary, before it is scaled to 0. The proxies
        serve a route change some time after the API write (istiod debounces and pushes to every sidecar); a request a proxy
        still sends to a canary pod that is gone fails with 503.
      - When the VirtualService carries Istio's distribution status (istiod with C(PILOT_ENABLE_STATUS) and
        C(PILOT_ENABLE_CONFIG_DISTRIBUTION_TRACKING), what C(istioctl x wait) reads), the wait ends as soon as its
        C(Reconciled) condition reports the current generation distributed to every proxy (RV(route_reconciled)); it never
        lasts longer than O(scale_down_delay).
      - The wait happens whenever the target still has replicas to remove, also when the route was already at 100/0 (the
        last step of a step-wise promotion switches it just before this call). Nothing is waited in check mode, with
        O(scale_down=false), or when the target is already at 0.
      - The default is Argo Rollouts' C(scaleDownDelaySeconds), well above istiod's push debounce (at most 10 s by default).
        V(0) scales the target down right after the route change, which drops requests under live traffic.
    type: int
    default: 30
  expected_hash:
    description:
      - The pod-template hash of the revision that was analysed, as RV(progressive.delivery.canary_state#module:revision.hash)
        reported it (the target's pod template plus the checksum of its tracked ConfigMaps and Secrets; the same value as
        RV(pod_template_hash)).
      - When the target's hash now differs (a revision was pushed during the analysis), the task fails naming both hashes and
        nothing is written; analyse the new revision first.
      - When omitted, whatever pod template the target has now is promoted.
    type: str
  config_tracking:
    description: Copy the ConfigMaps and Secrets of the pod template for the primary (as O(progressive.delivery.canary_init#module:config_tracking)).
    type: bool
    default: true
seealso:
  - module: progressive.delivery.canary_init
  - module: progressive.delivery.canary_rollback
"""

EXAMPLES = r"""
- name: Promote podinfo once the analysis passed
  progressive.delivery.canary_promote:
    namespace: test
    target: podinfo
    timeout: 300
  register: podinfo_promotion

- name: Promote only the revision that was analysed, keeping the canary pods 10 s after the switch
  progressive.delivery.canary_promote:
    namespace: test
    target: podinfo
    expected_hash: "{{ podinfo_state.revision.hash }}"   # from canary_state with detect_revision=true before the analysis
    scale_down_delay: 10
  register: podinfo_promotion

- name: Promote but keep the traffic split to shift it back step by step
  progressive.delivery.canary_promote:
    namespace: test
    target: podinfo
    route: false
    scale_down: false
"""

RETURN = r"""
lock_lost:
  description: V(true) when O(fence) was given and the run no longer owns the lock; nothing was written.
  returned: on that failure
  type: bool
pod_template_hash:
  description: Hash of the promoted pod template (and tracked configs) the primary now runs.
  returned: success
  type: str
  sample: 3f2c1a9b8d7e6f50
primary:
  description: Rollout status of the primary Deployment after the promotion.
  returned: success
  type: dict
  contains:
    name:
      description: Name of the primary Deployment.
      type: str
    replicas:
      description: Desired replicas.
      type: int
    ready_replicas:
      description: Ready replicas.
      type: int
    updated_replicas:
      description: Replicas running the promoted template.
      type: int
    available_replicas:
      description: Available replicas.
      type: int
    generation:
      description: C(metadata.generation) of the Deployment.
      type: int
    observed_generation:
      description: C(status.observedGeneration) of the Deployment.
      type: int
    conditions:
      description: The Deployment's status conditions.
      type: list
      elements: dict
weights:
  description: The weights after the promotion, or null with O(route=false).
  returned: success
  type: dict
  sample: {"primary": 100, "canary": 0}
scaled_down:
  description: Whether this call scaled the target down (it had replicas; false with O(scale_down=false) or when it was at 0).
  returned: success
  type: bool
drained_seconds:
  description:
    - Seconds waited between the route switch and the scale-down (see O(scale_down_delay)); V(0) when nothing was scaled down,
      in check mode, and with O(scale_down_delay=0).
  returned: success
  type: float
  sample: 30.002
route_reconciled:
  description:
    - V(true) when Istio's distribution status reported the route served by every proxy before the scale-down, V(false) when it
      still reported it propagating at the end of O(scale_down_delay) (the target was scaled down anyway, with a warning), and
      null when there was no such status to read (or no wait).
  returned: success
  type: bool
  sample: null
phase:
  description:
    - Flagger's phase the promotion reached. V(Succeeded) - primary promoted, traffic on the primary, target scaled down.
      V(Finalising) - with O(scale_down=false) - traffic on the primary, the target still running. V(Promoting) - with
      O(route=false) - primary promoted, traffic not moved by this call.
  returned: success
  type: str
  sample: Succeeded
objects:
  description: Every object written or checked, with C(action) C(created), C(updated) or C(unchanged).
  returned: success
  type: list
  elements: dict
diff:
  description: The changed objects before and after, keyed by C(<kind>/<name>). Secret values are masked.
  returned: when diff mode is on
  type: dict
"""

from ansible_collections.progressive.delivery.plugins.module_utils._canary import SCALE_DOWN_DELAY, run_promote
from ansible_collections.progressive.delivery.plugins.module_utils.k8s import CanaryModule
from ansible_collections.progressive.delivery.plugins.module_utils.routing import (
    gatewayapi_argument_spec, primary_deployment_argument_spec, routing_argument_spec)


def main():
    CanaryModule(dict(
        dict(routing_argument_spec(), **dict(gatewayapi_argument_spec(), **primary_deployment_argument_spec())),
        timeout=dict(type="int", default=600),
        route=dict(type="bool", default=True),
        scale_down=dict(type="bool", default=True),
        scale_down_delay=dict(type="int", default=SCALE_DOWN_DELAY),
        expected_hash=dict(type="str"),
        config_tracking=dict(type="bool", default=True),
    )).run(run_promote)


if __name__ == "__main__":
    main()
