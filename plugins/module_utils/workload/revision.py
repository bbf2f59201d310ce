# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The revision of a target: its pod-template hash with the tracked configs, and the promoted one.

``read(api_version, kind, namespace, name)`` returns an object as a dict or None, so every access
layer (and the unit tests) can use the one computation that canary_init, canary_promote,
canary_state and canary_wait agree on.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.progressive.delivery.plugins.module_utils._names import primary_name
from ansible_collections.progressive.delivery.plugins.module_utils.workload import config as configs
from ansible_collections.progressive.delivery.plugins.module_utils.workload import primary as workload


def config_checksum(read, deployment, config_tracking=True):
    """Checksum of the ConfigMaps/Secrets the target's pod template references ("" when not tracked)."""
    if not config_tracking:
        return ""
    namespace = deployment["metadata"]["namespace"]
    pod_spec = ((deployment.get("spec") or {}).get("template") or {}).get("spec") or {}
    tracked, _renames = configs.tracked_objects(pod_spec, lambda kind, name: read("v1", kind, namespace, name), strict=False)
    return configs.config_checksum(tracked)


def current(read, target, namespace, config_tracking=True):
    """``(hash, promoted_hash, deployment)``: the target's revision now (None without a target) and the primary's."""
    deployment = read("apps/v1", "Deployment", namespace, target)
    if deployment is None:
        return None, None, None
    primary = read("apps/v1", "Deployment", namespace, primary_name(target))
    promoted = workload.promoted_hash(primary) if primary else None
    return workload.target_hash(deployment, config_checksum(read, deployment, config_tracking)), promoted, deployment
