#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: canary_route_info
short_description: Read the traffic split, A/B match and mirror between primary and canary
version_added: 1.0.0
description:
  - Reads the routes that M(progressive.delivery.canary_route) manages, through the router of O(router), and returns their
    state - the weights of primary and canary, the A/B match, the mirror, the mirror match and the session affinity - without
    writing anything.
  - Fails, naming the object and the fix, when the route object (the VirtualService C(<apex>)) or its weighted route is missing.
author:
  - Progressive Delivery maintainers (@progressive-delivery)
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - progressive.delivery.attributes
  - progressive.delivery.target
  - progressive.delivery.target.service_name
  - progressive.delivery.routing
  - progressive.delivery.gatewayapi
attributes:
  check_mode:
    support: full
    details: The module only reads; it behaves the same in check mode.
  diff_mode:
    support: none
  idempotent:
    support: full
seealso:
  - module: progressive.delivery.canary_route
"""

EXAMPLES = r"""
- name: Read podinfo's traffic split
  progressive.delivery.canary_route_info:
    namespace: test
    target: podinfo
  register: podinfo_split

- name: Show it
  ansible.builtin.debug:
    msg: "{{ podinfo_split.weights.canary }}% to the canary"
"""

RETURN = r"""
router:
  description: The router that read the routes.
  returned: success
  type: str
  sample: istio
route_object:
  description: The object that holds the split.
  returned: success
  type: dict
  sample: {"apiVersion": "networking.istio.io/v1beta1", "kind": "VirtualService", "name": "podinfo"}
weights:
  description: Percent of the traffic the primary and the canary get.
  returned: success
  type: dict
  sample: {"primary": 80, "canary": 20}
match:
  description: The conditions of the A/B route, or null when there is none.
  returned: success
  type: list
  elements: dict
mirror:
  description: Whether the weighted route mirrors to the canary.
  returned: success
  type: bool
mirror_weight:
  description:
    - Percent of the requests mirrored (null - all of them - when not set or not mirroring); of the weighted route's requests
      with RV(mirror), of the matching ones with RV(mirror_match).
  returned: success
  type: float
mirror_match:
  description: The conditions of the mirror route (matching requests go to the primary and are mirrored to the canary), or null.
  returned: success
  type: list
  elements: dict
session_affinity:
  description: The session affinity in force (the sticky route and the canary's cookie), or null.
  returned: success
  type: dict
  contains:
    cookie_name:
      description: Name of the cookie.
      type: str
      sample: canary-affinity
    max_age:
      description: Seconds a client keeps the cookie.
      type: int
      sample: 86400
    cookie_value:
      description: The value of the cookie the canary sets.
      type: str
      sample: 3f1c9a0b7d2e4f61
destinations:
  description: The primary and canary destinations with their weights, in that order.
  returned: success
  type: list
  elements: dict
  sample: [{"role": "primary", "destination": "podinfo-primary", "weight": 80}, {"role": "canary", "destination": "podinfo-canary", "weight": 20}]
"""

from ansible_collections.progressive.delivery.plugins.module_utils._canary import run_route_info
from ansible_collections.progressive.delivery.plugins.module_utils.k8s import CanaryModule
from ansible_collections.progressive.delivery.plugins.module_utils.routing import gatewayapi_argument_spec, routing_argument_spec


def main():
    CanaryModule(dict(routing_argument_spec(), **gatewayapi_argument_spec()), fence=False, rehearse=False, name="canary_route_info").run(run_route_info)


if __name__ == "__main__":
    main()
