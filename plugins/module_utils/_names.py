# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Names of the objects the collection derives from the user's ones (Flagger's convention)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

PRIMARY_SUFFIX = "-primary"
CANARY_SUFFIX = "-canary"
MATCH_ROUTE_SUFFIX = "-canary-match"

MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGER = "progressive.delivery"


def primary_name(name):
    """``<name>-primary``: the primary Deployment, Service, DestinationRule, config copy or HPA."""
    return name + PRIMARY_SUFFIX


def canary_name(name):
    """``<name>-canary``: the canary Service and DestinationRule."""
    return name + CANARY_SUFFIX


def match_route_name(route_name):
    """The A/B route placed ahead of the weighted route ``route_name``."""
    return route_name + MATCH_ROUTE_SUFFIX


def managed_labels(labels=None):
    """``labels`` plus the label that marks an object as created by this collection."""
    result = dict(labels or {})
    result[MANAGED_BY_LABEL] = MANAGER
    return result


def is_managed(obj):
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return labels.get(MANAGED_BY_LABEL) == MANAGER
