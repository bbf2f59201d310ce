# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """The options of O(router=gatewayapi): which Gateway API HTTPRoute, and which of its rules, holds the split."""

    DOCUMENTATION = r"""
options:
  http_route:
    description:
      - With O(router=gatewayapi), the C(gateway.networking.k8s.io/v1) HTTPRoute that holds the split. Ignored by O(router=istio).
      - Only the C(backendRefs) weights of the Services C(<apex>-primary) and C(<apex>-canary) in the chosen rule are set (a
        C(backendRef) to C(<apex>-canary) is added next to the primary's when missing); every other rule, hostname, parentRef and
        filter is left as it is. An A/B C(match) adds the rule C(<rule>-canary-match) ahead of it; C(mirror) adds a
        C(RequestMirror) filter to it (with C(percent) from C(mirror_weight)).
      - C(mirror_match) and C(session_affinity) are refused with this router.
    type: dict
    suboptions:
      name:
        description: Name of the HTTPRoute. Defaults to O(service_name).
        type: str
      namespace:
        description: Namespace of the HTTPRoute. Defaults to O(namespace); the Services are always in O(namespace).
        type: str
      rule:
        description:
          - The rule to split, by index in C(spec.rules) (an integer) or by its C(name) (Gateway API v1.2 and later).
          - Defaults to the only rule with a C(backendRef) to C(<apex>-primary) or C(<apex>-canary).
        type: raw
"""

    INIT = r"""
options:
  parent_refs:
    description:
      - With O(router=gatewayapi), the C(parentRefs) (Gateways) of the HTTPRoute C(<apex>) (or O(http_route.name)) that the module
        creates and owns, labelled C(app.kubernetes.io/managed-by=progressive.delivery), routing 100% to C(<apex>-primary)
        (Flagger's C(provider=gatewayapi)).
      - Without it the HTTPRoute is the user's (Argo Rollouts' Gateway API plugin), which must exist and route to
        C(<apex>-primary), and is not written.
    type: list
    elements: dict
  hostnames:
    description: With O(parent_refs), the C(hostnames) of the HTTPRoute the module creates.
    type: list
    elements: str
"""
