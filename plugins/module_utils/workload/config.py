# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Config tracking: the ConfigMaps and Secrets a pod template uses get ``-primary`` copies.

The primary runs on copies so that editing a ConfigMap for the next release changes only the
canary; promotion copies the configs again together with the pod template.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import hashlib
import json

from ansible_collections.progressive.delivery.plugins.module_utils._errors import CanaryError
from ansible_collections.progressive.delivery.plugins.module_utils._names import managed_labels, primary_name

CONFIG_MAP = "ConfigMap"
SECRET = "Secret"

TRACKING_ANNOTATIONS = ("progressive.delivery/config-tracking", "flagger.app/config-tracking")
TRACKING_DISABLED = "disabled"


class ConfigRef(object):
    """A ConfigMap or Secret referenced by a pod template; ``optional`` only when every use is."""

    def __init__(self, kind, name, optional):
        self.kind = kind
        self.name = name
        self.optional = optional

    @property
    def key(self):
        return (self.kind, self.name)

    def __eq__(self, other):
        return isinstance(other, ConfigRef) and (self.kind, self.name, self.optional) == (other.kind, other.name, other.optional)

    def __hash__(self):
        return hash((self.kind, self.name, self.optional))

    def __repr__(self):
        return "ConfigRef(%r, %r, optional=%r)" % (self.kind, self.name, self.optional)


def _containers(pod_spec):
    return list(pod_spec.get("initContainers") or []) + list(pod_spec.get("containers") or [])


def _walk_refs(pod_spec):
    """Yield ``(kind, holder, name_key)`` for every config reference; ``holder[name_key]`` is the name."""
    for volume in pod_spec.get("volumes") or []:
        if volume.get("configMap"):
            yield CONFIG_MAP, volume["configMap"], "name"
        if volume.get("secret"):
            yield SECRET, volume["secret"], "secretName"
        for source in (volume.get("projected") or {}).get("sources") or []:
            if source.get("configMap"):
                yield CONFIG_MAP, source["configMap"], "name"
            if source.get("secret"):
                yield SECRET, source["secret"], "name"
    for container in _containers(pod_spec):
        for env in container.get("env") or []:
            value_from = env.get("valueFrom") or {}
            if value_from.get("configMapKeyRef"):
                yield CONFIG_MAP, value_from["configMapKeyRef"], "name"
            if value_from.get("secretKeyRef"):
                yield SECRET, value_from["secretKeyRef"], "name"
        for env_from in container.get("envFrom") or []:
            if env_from.get("configMapRef"):
                yield CONFIG_MAP, env_from["configMapRef"], "name"
            if env_from.get("secretRef"):
                yield SECRET, env_from["secretRef"], "name"


def referenced_configs(pod_spec):
    """The ConfigMaps and Secrets ``pod_spec`` uses, sorted by kind and name."""
    found = {}
    for kind, holder, name_key in _walk_refs(pod_spec):
        name = holder.get(name_key)
        if not name:
            continue
        optional = bool(holder.get("optional"))
        found[(kind, name)] = found.get((kind, name), True) and optional
    return [ConfigRef(kind, name, optional) for (kind, name), optional in sorted(found.items())]


def tracking_disabled(obj):
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    return any(annotations.get(key) == TRACKING_DISABLED for key in TRACKING_ANNOTATIONS)


def tracked_objects(pod_spec, fetch, strict=True, owner=None, namespace=None):
    """The ConfigMaps/Secrets of ``pod_spec`` that are tracked, and the renames for the primary.

    ``fetch(kind, name)`` returns the object or None. A missing object that is not optional is an
    error when ``strict`` (init and promote must not start pods on a missing config), else skipped
    (hashing a revision). Objects with the opt-out annotation are neither copied nor hashed.
    """
    tracked, renames = [], {}
    for ref in referenced_configs(pod_spec):
        obj = fetch(ref.kind, ref.name)
        if obj is None:
            if strict and not ref.optional:
                raise CanaryError("%s %s, used by the pod template of %s, does not exist; create it, mark the reference optional, "
                                  "or set config_tracking=false" % (ref.kind, "%s/%s" % (namespace, ref.name) if namespace else ref.name,
                                                                    owner or "the target"), field="target")
            continue
        if tracking_disabled(obj):
            continue
        tracked.append(obj)
        renames[ref.key] = primary_name(ref.name)
    return tracked, renames


def build_primary_config(obj):
    """The ``-primary`` copy of a ConfigMap or Secret: same data, type and labels."""
    metadata = obj.get("metadata") or {}
    result = {
        "apiVersion": "v1",
        "kind": obj["kind"],
        "metadata": {
            "name": primary_name(metadata["name"]),
            "namespace": metadata.get("namespace"),
            "labels": managed_labels(metadata.get("labels")),
        },
    }
    for key in ("data", "binaryData", "stringData", "type"):
        if obj.get(key) is not None:
            result[key] = copy.deepcopy(obj[key])
    return result


def rewrite_pod_spec(pod_spec, renames):
    """A copy of ``pod_spec`` using the copies: ``renames`` maps ``(kind, name)`` to the new name."""
    result = copy.deepcopy(pod_spec)
    for kind, holder, name_key in _walk_refs(result):
        new_name = renames.get((kind, holder.get(name_key)))
        if new_name:
            holder[name_key] = new_name
    return result


def config_checksum(objects):
    """One checksum over the content of the tracked objects ('' when nothing is tracked)."""
    if not objects:
        return ""
    content = []
    for obj in sorted(objects, key=lambda o: (o["kind"], o["metadata"]["name"])):
        content.append({
            "kind": obj["kind"],
            "name": obj["metadata"]["name"],
            "data": obj.get("data") or {},
            "binaryData": obj.get("binaryData") or {},
            "stringData": obj.get("stringData") or {},
            "type": obj.get("type") or "",
        })
    return hashlib.sha256(json.dumps(content, sort_keys=True, separators=(",", ":")).encode("utf-8")).hexdigest()[:16]
