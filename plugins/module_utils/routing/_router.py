# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Router interface: what a mesh's router does for one canary (Flagger's pkg/router).

A router is built by the factory (``routing.get_router``) for a Cluster and the module's params.
It reads and writes through the Cluster it is given and imports no network library itself, so a
provider file stays plain Python on dicts plus this one class.

The routing state is the same for every provider: ``{"weights": {"primary": p, "canary": c},
"match": [...] or None, "mirror": bool, "mirror_weight": float or None, "mirror_match": [...] or None,
"session_affinity": {"cookie_name", "max_age", "cookie_value"} or None}``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

from ansible_collections.progressive.delivery.plugins.module_utils._names import apex_name


class Router(object):
    """One provider's routing of one canary. Subclasses set ``name`` and implement every method below."""

    name = None

    def __init__(self, cluster, params):
        self.cluster = cluster
        self.params = params
        self.namespace = params["namespace"]
        self.apex = apex_name(params)

    # -- options, checked before anything is read

    @classmethod
    def validate_options(cls, params):
        """Refuse routing options (mode, destinations, route name) the provider cannot use."""
        raise NotImplementedError

    @classmethod
    def validate_init_options(cls, params):
        """Refuse the options of the objects the provider creates (hosts, gateways, retries, ...)."""
        raise NotImplementedError

    # -- the objects the provider owns (canary_init)

    def owned_objects(self):
        """``[(existing, desired)]``: every object the provider creates or reconciles, in writing order.

        Read and validated at once, written by the caller after the primary is ready.
        """
        raise NotImplementedError

    # -- the route object and its state

    def read(self):
        """The object that holds the split (as a dict); CanaryError saying how to create it when missing."""
        raise NotImplementedError

    def get_routes(self, obj):
        """The routing state of ``obj``; CanaryError when its managed routes are not found."""
        raise NotImplementedError

    def set_routes(self, obj, weights, match=None, mirror=False, mirror_weight=None, mirror_match=None, session_affinity=None):
        """A copy of ``obj`` whose managed routes carry exactly this state (None removes a match, mirror match or affinity)."""
        raise NotImplementedError

    def check_destinations(self, roles=("primary", "canary")):
        """Refuse to route to a destination (of the ``roles`` named) that does not exist."""
        raise NotImplementedError

    def distribution(self, obj, generation):
        """``(reconciled, message)``: whether the mesh serves ``generation`` of ``obj`` (None: it cannot tell)."""
        raise NotImplementedError

    def restore(self, obj):
        """``obj`` with the spec it had before it was adopted, or None (Flagger's finalize)."""
        raise NotImplementedError

    # -- the same for every provider

    @staticmethod
    def weights_for(canary_weight):
        return {"primary": 100 - canary_weight, "canary": canary_weight}

    def write_routes(self, obj, weights, match, mirror, mirror_weight, changes, roles=("primary", "canary"), mirror_match=None,
                     session_affinity=None):
        """Write the managed routes of ``obj``; return ``(previous_state, resulting_obj)``.

        ``mirror_match`` and ``session_affinity`` default to None, so a caller that routes to the
        primary (promotion, rollback) removes the mirror route and the session affinity too.

        The destinations named in ``roles`` are checked only when the routes change: an unchanged
        route object stays valid whatever happened to the destinations since.
        """
        previous = self.get_routes(obj)
        new_obj = self.set_routes(obj, weights, match=match, mirror=mirror, mirror_weight=mirror_weight, mirror_match=mirror_match,
                                  session_affinity=session_affinity)
        if new_obj.get("spec") != obj.get("spec") and roles:
            self.check_destinations(roles)
        return previous, self.cluster.write(obj, copy.deepcopy(new_obj), changes)
