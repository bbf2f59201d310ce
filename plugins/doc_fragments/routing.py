# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """How the modules that edit the VirtualService find primary and canary in it."""

    DOCUMENTATION = r"""
options:
  router:
    description:
      - The traffic router (the mesh) that holds the split. V(istio) edits the Istio VirtualService C(<apex>).
      - V(gatewayapi) edits one rule of a Gateway API HTTPRoute (O(http_route)); O(mode), O(destination_host) and O(route_name)
        are Istio options and are refused with it.
    type: str
    choices: [gatewayapi, istio]
    default: istio
  mode:
    description:
      - How primary and canary are addressed in the VirtualService.
      - V(host) (Flagger's model) routes to the Services C(<apex>-primary) and C(<apex>-canary).
      - V(subset) routes to the subsets O(primary_subset) and O(canary_subset) of the single host O(destination_host),
        which a DestinationRule must define.
    type: str
    choices: [host, subset]
    default: host
  destination_host:
    description:
      - With O(mode=subset), the single destination host. Defaults to O(service_name).
      - Every spelling of one Service is the same host, as in Istio, a short name being in O(namespace). V(backend),
        V(backend.test), V(backend.test.svc) and V(backend.test.svc.cluster.local) all find destinations written in any of
        these forms, and the destinations keep the spelling (and port) they are written with. The same holds in O(mode=host)
        for C(<apex>-primary) and C(<apex>-canary).
      - Not to be confused with O(host), the address of the Kubernetes API server.
    type: str
  primary_subset:
    description: With O(mode=subset), the DestinationRule subset of the primary.
    type: str
    default: primary
  canary_subset:
    description: With O(mode=subset), the DestinationRule subset of the canary.
    type: str
    default: canary
  route_name:
    description:
      - Name of the managed weighted http route. Defaults to O(service_name).
      - When no route has that name, the only unnamed route that sends traffic to the primary is used.
    type: str
"""
