# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Objects as dicts: what a diff and a merge patch compare, and the record of a run's changes.

Plain Python: no Ansible, no network (unit-tested without a cluster).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

_VOLATILE_METADATA = ("resourceVersion", "uid", "creationTimestamp", "generation", "managedFields", "selfLink")


def _drop_nulls(value):
    # A null means "absent" to a merge patch (the API server shows e.g. template creationTimestamp: null).
    if isinstance(value, dict):
        return dict((key, _drop_nulls(item)) for key, item in value.items() if item is not None)
    if isinstance(value, list):
        return [_drop_nulls(item) for item in value]
    return value


def strip_object(obj):
    """``obj`` without status, nulls and server-maintained metadata: what a diff and a patch compare."""
    if obj is None:
        return None
    result = _drop_nulls(obj)
    result.pop("status", None)
    metadata = result.get("metadata") or {}
    for key in _VOLATILE_METADATA:
        metadata.pop(key, None)
    annotations = metadata.get("annotations")
    if annotations is not None:
        annotations.pop("kubectl.kubernetes.io/last-applied-configuration", None)
        if not annotations:
            metadata.pop("annotations")
    return result


def merge_patch(old, new):
    """The RFC 7386 JSON merge patch that turns ``old`` into ``new`` (lists are replaced whole)."""
    patch = {}
    for key in old:
        if key not in new:
            patch[key] = None
    for key, value in new.items():
        if key not in old:
            patch[key] = copy.deepcopy(value)
        elif isinstance(value, dict) and isinstance(old[key], dict):
            nested = merge_patch(old[key], value)
            if nested:
                patch[key] = nested
        elif value != old[key]:
            patch[key] = copy.deepcopy(value)
    return patch


def patches_overlap(first, second):
    """Whether two merge patches set any common field (a list or scalar counts as one field)."""
    for key in set(first) & set(second):
        if not (isinstance(first[key], dict) and isinstance(second[key], dict)) or patches_overlap(first[key], second[key]):
            return True
    return False


def without_paths(patch, paths):
    """``patch`` without the dotted ``paths`` (and without the mappings that leaves empty)."""
    result = copy.deepcopy(patch)
    for path in paths:
        keys = path.split(".")
        node = result
        for key in keys[:-1]:
            node = node.get(key) if isinstance(node, dict) else None
            if node is None:
                break
        if isinstance(node, dict):
            node.pop(keys[-1], None)
    return _prune(result)


def _prune(value):
    """``value`` without the mappings left empty."""
    if not isinstance(value, dict):
        return value
    pruned = dict((key, _prune(item)) for key, item in value.items())
    return dict((key, item) for key, item in pruned.items() if item != {})


def overlay(existing, desired, replace=()):
    """``existing`` with ``desired`` written over it.

    Mappings merge key by key (so server defaults and other people's labels stay); lists and the
    dotted paths in ``replace`` are taken from ``desired`` whole.
    """
    def merge(current, wanted, path):
        if path in replace or not isinstance(current, dict) or not isinstance(wanted, dict):
            return copy.deepcopy(wanted)
        result = copy.deepcopy(current)
        for key, value in wanted.items():
            child = "%s.%s" % (path, key) if path else key
            result[key] = merge(current.get(key), value, child) if key in current else copy.deepcopy(value)
        return result
    return merge(existing, desired, "")


def describe(obj):
    return "%s %s/%s" % (obj.get("kind"), (obj.get("metadata") or {}).get("namespace"), (obj.get("metadata") or {}).get("name"))


def object_key(obj):
    return "%s/%s" % (obj.get("kind"), (obj.get("metadata") or {}).get("name"))


class Changes(object):
    """What a module run did (or, in check mode, would do) to each object, and the diff."""

    def __init__(self):
        self.objects = []
        self.before = {}
        self.after = {}

    def record(self, obj, action, before=None, after=None):
        self.objects.append({"kind": obj["kind"], "name": obj["metadata"]["name"], "action": action})
        if action != "unchanged":
            key = object_key(obj)
            self.before[key] = strip_object(before) if before is not None else {}
            self.after[key] = strip_object(after) if after is not None else {}

    @property
    def changed(self):
        return any(item["action"] != "unchanged" for item in self.objects)

    def diff(self):
        return {"before": self.before, "after": self.after}
