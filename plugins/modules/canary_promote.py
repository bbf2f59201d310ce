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
    O(scale_down=false), scales the target to 0 replicas.
  - The primary's annotation C(progressive.delivery/pod-template-hash) records the promoted revision.
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
  - progressive.delivery.routing
attributes:
  check_mode:
    support: full
    details: >-
      Nothing is sent to the API server (not even a dry run) and nothing is waited for; the result and diff are computed from
      the objects read.
  diff_mode:
    support: full
  idempotent:
    support: full
options:
  namespace:
    description: Namespace of the target and the objects of the canary.
    type: str
    required: true
  target:
    description: Name of the user's Deployment (the canary) whose pod template is promoted.
    type: str
    required: true
  service_name:
    description: The apex name (VirtualService and Services). Defaults to O(target).
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
    description: After the primary rollout (and routing), scale the target to 0 replicas.
    type: bool
    default: true
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

- name: Promote but keep the traffic split to shift it back step by step
  progressive.delivery.canary_promote:
    namespace: test
    target: podinfo
    route: false
    scale_down: false
"""

RETURN = r"""
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

from ansible_collections.progressive.delivery.plugins.module_utils._canary import run_promote
from ansible_collections.progressive.delivery.plugins.module_utils._k8s import (
    CanaryModule,
    common_argument_spec,
    routing_argument_spec,
)


def argument_spec():
    spec = common_argument_spec()
    spec.update(routing_argument_spec())
    spec.update(
        timeout=dict(type="int", default=600),
        route=dict(type="bool", default=True),
        scale_down=dict(type="bool", default=True),
        config_tracking=dict(type="bool", default=True),
    )
    return spec


def main():
    CanaryModule(argument_spec()).run(run_promote)


if __name__ == "__main__":
    main()
