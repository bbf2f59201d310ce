# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Names of the objects the collection derives from the user's ones (Flagger's convention)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.progressive.delivery.plugins.module_utils._errors import CanaryError

PRIMARY_SUFFIX = "-primary"
CANARY_SUFFIX = "-canary"
MATCH_ROUTE_SUFFIX = "-canary-match"
MIRROR_ROUTE_SUFFIX = "-canary-mirror"
STICKY_ROUTE_SUFFIX = "-canary-sticky"
STATUS_SUFFIX = "-canary-status"
LOCK_SUFFIX = "-canary-lock"

MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGER = "progressive.delivery"
TARGET_LABEL = "progressive.delivery/target"


def primary_name(name):
    """``<name>-primary``: the primary Deployment, Service, DestinationRule, config copy or HPA."""
    return name + PRIMARY_SUFFIX


def canary_name(name):
    """``<name>-canary``: the canary Service and DestinationRule."""
    return name + CANARY_SUFFIX


def status_name(target):
    """``<target>-canary-status``: the ConfigMap holding the rollout's status."""
    return target + STATUS_SUFFIX


def lock_name(target):
    """``<target>-canary-lock``: the Lease that is the rollout's lock."""
    return target + LOCK_SUFFIX


def target_names(target):
    """The names derived from the target that an operator reads in messages: primary, status, lock."""
    return {"primary": primary_name(target), "status": status_name(target), "lock": lock_name(target)}


def apex_name(params):
    """The apex Service / VirtualService: ``service_name``, defaulting to the target's name."""
    return params.get("service_name") or params["target"]


def match_route_name(route_name):
    """The A/B route placed ahead of the weighted route ``route_name``."""
    return route_name + MATCH_ROUTE_SUFFIX


def mirror_route_name(route_name):
    """The route placed ahead of the weighted route ``route_name`` that mirrors the requests of ``mirror_match``."""
    return route_name + MIRROR_ROUTE_SUFFIX


def sticky_route_name(route_name):
    """The route placed ahead of the weighted route ``route_name`` that keeps session-affinity cookie holders on the canary."""
    return route_name + STICKY_ROUTE_SUFFIX


def managed_labels(labels=None):
    """``labels`` plus the label that marks an object as created by this collection."""
    result = dict(labels or {})
    result[MANAGED_BY_LABEL] = MANAGER
    return result


def target_labels(target, labels=None):
    """``managed_labels`` plus the label naming the target an object belongs to (status, lock)."""
    result = managed_labels(labels)
    result[TARGET_LABEL] = target
    return result


def is_managed(obj):
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return labels.get(MANAGED_BY_LABEL) == MANAGER


# ---------------------------------------------------------------------------------------------
# Kubernetes name rules (apimachinery's validation), checked on the options before anything is written

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")

_RULES = {
    # kind: (pattern, longest, what it is)
    "label": (_DNS1123_LABEL, 63, "a DNS-1123 label (lowercase letters, digits and '-', starting and ending with a letter or digit"),
    "subdomain": (_DNS1123_SUBDOMAIN, 253, "a DNS-1123 subdomain (lowercase letters, digits, '-' and '.', starting and ending with "
                                           "a letter or digit"),
    "service": (_DNS1035_LABEL, 63, "a DNS-1035 label, as Service names are (lowercase letters, digits and '-', starting with a "
                                    "letter and ending with a letter or digit"),
}


def check_name(value, field, rule="subdomain", suffixes=(), what=None):
    """Refuse a name the API server would refuse, also once ``suffixes`` are appended to it.

    ``rule``: ``label`` (Namespaces), ``subdomain`` (most objects) or ``service`` (Services). The
    longest allowed length is reduced by the longest suffix, since e.g. ``<target>-primary`` is
    written too. ``what`` names where the value came from when it is not the option itself.
    """
    pattern, longest, description = _RULES[rule]
    option = re.split(r"[.\[]", field, maxsplit=1)[0]
    if not isinstance(value, str) or not value:
        raise CanaryError("%s must be a non-empty string, got %r" % (field, value), field=option)
    extra = max([len(suffix) for suffix in suffixes] or [0])
    source = " (%s)" % what if what else ""
    if not pattern.match(value):
        raise CanaryError("%s%s must be %s), got %r" % (field, source, description, value), field=option)
    if len(value) + extra > longest:
        written = " (%s are written too)" % " and ".join("<%s>%s" % (field, suffix) for suffix in suffixes) if suffixes else ""
        raise CanaryError("%s%s is %d characters long; names may have at most %d characters%s, so %s may have at most %d"
                          % (field, source, len(value), longest, written, field, longest - extra), field=option)
    return value
