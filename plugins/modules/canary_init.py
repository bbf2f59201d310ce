#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: canary_init
short_description: Prepare a Deployment for canary releases with Istio (primary, Services, DestinationRules, VirtualService)
version_added: 1.0.0
description:
  - Does what Flagger does when a canary is initialised. The user's Deployment O(target) becomes the canary; this module
    creates and owns C(<target>-primary), which runs a copy of the target's pod template.
  - The app label value (C(app), C(name) or C(app.kubernetes.io/name), looked up in that order in the target's selector) gets the
    suffix C(-primary) in the primary's selector and pod template. A target without one of these labels is an error.
  - ConfigMaps and Secrets used by the pod template (volumes, projected volumes, C(env[].valueFrom), C(envFrom)) are copied as
    C(<name>-primary) and the primary's pod spec uses the copies. An object annotated C(progressive.delivery/config-tracking=disabled)
    or C(flagger.app/config-tracking=disabled) is not copied.
  - Creates the ClusterIP Services C(<apex>) and C(<apex>-primary) (primary pods) and C(<apex>-canary) (target pods), the
    DestinationRules C(<apex>-primary) and C(<apex>-canary), and the VirtualService C(<apex>) routing 100% to primary.
  - Waits until the primary is ready, then scales the target to 0 replicas, unless the target already runs a newer revision than
    the primary (a canary under analysis when the module is run again), which is left running.
  - The primary Deployment and its config copies are only created here; later template changes reach the primary through
    M(progressive.delivery.canary_promote). Running the module again during a rollout keeps the current weights, A/B route and mirror.
  - Every option is checked before anything is read or written, and the error names the option and the fix. Then every object the
    module writes (config copies, primary, HPA, Services, DestinationRules, VirtualService, the target's scale-down) is first sent
    to the API server as a dry run (C(dryRun=All), C(fieldValidation=Strict)); only when the server accepts all of them are they
    written for real, so an object the server refuses (its schema, an admission policy) leaves nothing written. A field the
    cluster's schema does not know is refused rather than dropped.
author:
  - Progressive Delivery maintainers (@progressive-delivery)
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - progressive.delivery.attributes
  - progressive.delivery.target
  - progressive.delivery.target.service_name
  - progressive.delivery.fence
  - progressive.delivery.gatewayapi
  - progressive.delivery.gatewayapi.init
attributes:
  check_mode:
    support: full
    details: Nothing is sent to the API server (not even a dry run); the result and diff are computed from the objects read.
  diff_mode:
    support: full
  idempotent:
    support: full
options:
  router:
    description:
      - The traffic router (the mesh) whose objects are created. V(istio) creates the DestinationRules
        C(<apex>-primary) and C(<apex>-canary) and the VirtualService C(<apex>).
      - V(gatewayapi) creates the Gateway API HTTPRoute C(<apex>) when O(parent_refs) is set, and otherwise checks that the
        user's HTTPRoute (O(http_route)) routes to C(<apex>-primary). The Services are the same for both.
      - With O(mode=subset) (Istio) nothing is created; see O(mode).
    type: str
    choices: [gatewayapi, istio]
    default: istio
  mode:
    description:
      - V(host) (Flagger's model) creates C(<target>-primary), the Services and the routing objects.
      - V(subset) (seed 001, Argo Rollouts' subset-level Istio) creates nothing. The user's VirtualService C(<apex>), a
        DestinationRule with the subsets O(primary_subset) and O(canary_subset) of O(destination_host), and the stable Deployment
        O(primary_deployment) must exist. The managed route is set to 100% primary subset (checked against the DestinationRule
        before it is written), and the target is scaled to 0 unless it runs a newer revision than the stable.
      - The options of the objects created in host mode (O(hosts), O(gateways), O(retries), O(timeout), O(cors_policy),
        O(headers), O(traffic_policy), O(hpa), O(port), O(target_port)) are refused with V(subset).
    type: str
    choices: [host, subset]
    default: host
  destination_host:
    description: With O(mode=subset), the single destination host of both subsets. Defaults to O(service_name).
    type: str
  primary_subset:
    description: With O(mode=subset), the DestinationRule subset of the stable Deployment.
    type: str
    default: primary
  canary_subset:
    description: With O(mode=subset), the DestinationRule subset of the target.
    type: str
    default: canary
  route_name:
    description: With O(mode=subset), the name of the weighted http route of the VirtualService. Defaults to O(service_name).
    type: str
  primary_deployment:
    description:
      - With O(mode=subset), the user's Deployment behind O(primary_subset) (for example C(backend-v1) beside the target
        C(backend-v2)). Required with O(mode=subset), refused without it.
    type: str
  port:
    description: Port of the Services. Defaults to the first C(containerPort) of the target's pod template.
    type: int
  port_name:
    description: Name of the Services' port (Istio uses it to detect the protocol); a DNS-1123 label.
    type: str
    default: http
  target_port:
    description: Container port (number or name) the Services send traffic to. Defaults to O(port).
    type: raw
  hosts:
    description: Extra hosts of the VirtualService (for example the public name served by a gateway); the apex is always added.
    type: list
    elements: str
  gateways:
    description: Gateways of the VirtualService. When none are given the VirtualService applies to the mesh (C(mesh)).
    type: list
    elements: str
  retries:
    description:
      - "Istio C(HTTPRetry) of the route, for example C({attempts: 3, perTryTimeout: 2s})."
      - C(attempts) is an integer >= 0 (0 disables retries, and then no other field may be set); C(perTryTimeout) is a duration as
        O(timeout).
    type: dict
  timeout:
    description:
      - Istio route timeout, a number and a unit such as C(10s), C(1.5s), C(500ms) or C(1m30s).
      - A bare number (C(120)) is refused.
    type: str
  cors_policy:
    description: Istio C(CorsPolicy) of the route.
    type: dict
  headers:
    description: Istio C(Headers) manipulation of the route.
    type: dict
  traffic_policy:
    description: Istio C(TrafficPolicy) copied into both DestinationRules.
    type: dict
  adopt:
    description:
      - Take over an existing VirtualService C(<apex>) that this collection did not create. Its spec is saved in the annotation
        C(progressive.delivery/original-spec) (once) so it can be restored.
      - Without it such a VirtualService is an error and nothing is written.
    type: bool
    default: false
  hpa:
    description: Name of the target's HorizontalPodAutoscaler (autoscaling/v2) to copy as C(<hpa>-primary) for the primary.
    type: str
  config_tracking:
    description: Copy the ConfigMaps and Secrets of the pod template for the primary (see the description).
    type: bool
    default: true
  wait_timeout:
    description: Seconds (0 or more) to wait for the primary Deployment to become ready.
    type: int
    default: 300
seealso:
  - module: progressive.delivery.canary_route
  - module: progressive.delivery.canary_promote
  - module: progressive.delivery.canary_rollback
"""

EXAMPLES = r"""
- name: Initialise podinfo for canary releases behind the public gateway
  progressive.delivery.canary_init:
    namespace: test
    target: podinfo
    port: 9898
    target_port: 9898
    hosts:
      - app.example.com
    gateways:
      - public-gateway.istio-system.svc.cluster.local
    hpa: podinfo
    retries:
      attempts: 3
      perTryTimeout: 1s
  register: podinfo_init

- name: Take over a VirtualService written by hand
  progressive.delivery.canary_init:
    namespace: test
    target: backend
    adopt: true
"""

RETURN = r"""
lock_lost:
  description: V(true) when O(fence) was given and the run no longer owns the lock; nothing was written.
  returned: on that failure
  type: bool
objects:
  description: Every object the module looked at, with what happened to it (or would happen, in check mode).
  returned: always
  type: list
  elements: dict
  contains:
    kind:
      description: Kind of the object.
      type: str
      sample: Deployment
    name:
      description: Name of the object.
      type: str
      sample: podinfo-primary
    action:
      description: C(created), C(updated) or C(unchanged).
      type: str
      sample: created
primary:
  description: Name of the primary Deployment.
  returned: success
  type: str
  sample: podinfo-primary
virtual_service:
  description: Name of the VirtualService.
  returned: success
  type: str
  sample: podinfo
pod_template_hash:
  description: Hash of the pod template (and tracked configs) the primary runs; compare it with the target's to detect a new revision.
  returned: success
  type: str
  sample: 3f2c1a9b8d7e6f50
diff:
  description: The objects before and after, keyed by C(<kind>/<name>); only changed objects. Secret values are masked.
  returned: when diff mode is on
  type: dict
  contains:
    before:
      description: Objects before the change (an empty dict for a new object).
      type: dict
    after:
      description: Objects after the change.
      type: dict
"""

from ansible_collections.progressive.delivery.plugins.module_utils._canary import run_init
from ansible_collections.progressive.delivery.plugins.module_utils.k8s import CanaryModule
from ansible_collections.progressive.delivery.plugins.module_utils.routing import (
    gatewayapi_init_argument_spec, primary_deployment_argument_spec, routing_argument_spec)


def main():
    CanaryModule(dict(
        dict(routing_argument_spec(), **dict(gatewayapi_init_argument_spec(), **primary_deployment_argument_spec())),
        port=dict(type="int"),
        port_name=dict(type="str", default="http"),
        target_port=dict(type="raw"),
        hosts=dict(type="list", elements="str"),
        gateways=dict(type="list", elements="str"),
        retries=dict(type="dict"),
        timeout=dict(type="str"),
        cors_policy=dict(type="dict"),
        headers=dict(type="dict"),
        traffic_policy=dict(type="dict"),
        adopt=dict(type="bool", default=False),
        hpa=dict(type="str"),
        config_tracking=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=300),
    )).run(run_init)


if __name__ == "__main__":
    main()
