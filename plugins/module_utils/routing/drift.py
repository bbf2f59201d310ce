# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Route drift: someone else (Argo CD's self-heal, Flux, a person) changed the managed split mid-analysis.

``compare`` tells the split a router reads (its ``get_routes`` state) from the canary weight the run
set; ``RouteWatch`` does that at every poll of a wait (state/watch.py), through a reader the caller
gives (a router's ``read`` + ``get_routes``), so this file stays plain Python: no Ansible, no network.
Only the weighted split is compared: the A/B match route, the mirror and the sticky route are not the split.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.progressive.delivery.plugins.module_utils._errors import CanaryError

ROUTE_DRIFT = "route_drift"


def canary_percent(weights):
    """The canary's share of the split in percent (an integer), or None when the split sends nothing anywhere."""
    primary, canary = int((weights or {}).get("primary") or 0), int((weights or {}).get("canary") or 0)
    total = primary + canary
    if total <= 0:
        return None
    return int(round(100.0 * canary / total))


def compare(expected_canary, found, route=None):
    """None when ``found`` (a router's routing state, or None when the managed route is gone) splits as the run set it
    (``expected_canary``, in percent); otherwise the drift: ``{route, expected, found, weights, reason}``.

    ``found`` may also be a string: why the managed route could not be read (object or route missing) - a drift too.
    """
    expected = int(expected_canary)
    if isinstance(found, dict):
        weights = found.get("weights") or {}
        percent = canary_percent(weights)
        if percent == expected:
            return None
        seen = "no traffic to either side" if percent is None else "canary %d %%" % percent
        return {"route": route, "expected": expected, "found": percent, "weights": dict(weights),
                "reason": "found %s, expected %d %%" % (seen, expected)}
    missing = found or "the managed route is missing"
    return {"route": route, "expected": expected, "found": None, "weights": None,
            "reason": "found no managed route (%s), expected canary %d %%" % (missing, expected)}


class RouteWatch(object):
    """The split at each look of a wait: ``read()`` returns the router's routing state (raises CanaryError when the
    object or its managed route is missing); ``look()`` answers compare's drift or None."""

    def __init__(self, read, expected_canary, route=None):
        self.read, self.expected, self.route = read, int(expected_canary), route
        self.looks = 0

    def look(self):
        self.looks += 1
        try:
            found = self.read()
        except CanaryError as exc:
            found = str(exc)
        return compare(self.expected, found, self.route)
