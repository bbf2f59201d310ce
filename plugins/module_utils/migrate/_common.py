# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the Flagger and Argo migrations share: the error, the warnings, and reading a manifest.

A migration must never lose a field silently: every field of the manifest is either carried over or
named, by its full path, in the warnings. So each reader declares the fields it knows
(``Warnings.unknown``) and every other field becomes a warning.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.progressive.delivery.plugins.module_utils.analysis.render import BUILTIN_VARIABLES


class MigrationError(ValueError):
    """The manifest cannot be migrated at all; the message names the field and the fix."""


class Warnings(object):
    """The fields that were not carried over, each with its full path and why."""

    def __init__(self):
        self.items = []

    def add(self, path, reason):
        self.items.append("%s: %s" % (path, reason))

    def unknown(self, mapping, path, known, reason="not supported by the rollout role; not migrated"):
        """Warn about every key of ``mapping`` that is not in ``known`` (in the manifest's order)."""
        for key in mapping:
            if key not in known:
                self.add(join(path, key), reason)


def join(path, key):
    return "%s.%s" % (path, key) if path else key


def mapping(value, path, required=False):
    """``value`` as a dict; None when absent (unless required); MigrationError when it is not a mapping."""
    if value is None:
        if required:
            raise MigrationError("%s is required" % path)
        return None
    if not isinstance(value, dict):
        raise MigrationError("%s must be a mapping, got %r" % (path, value))
    return value


def sequence(value, path):
    if value is None:
        return []
    if not isinstance(value, list):
        raise MigrationError("%s must be a list, got %r" % (path, value))
    return value


def check_kind(manifest, api_group, kinds, what, example):
    """The manifest's kind (one of ``kinds``) after checking apiVersion's group; raise naming the field otherwise."""
    if not isinstance(manifest, dict):
        raise MigrationError("expected %s manifest (a mapping, for example the result of from_yaml), got %s; %s"
                             % (what, _short(manifest), example))
    api_version = manifest.get("apiVersion")
    kind = manifest.get("kind")
    if kind not in kinds or not isinstance(api_version, str) or api_version.split("/")[0] != api_group:
        raise MigrationError("expected %s (apiVersion %s/..., kind %s), got apiVersion %r, kind %r; %s"
                             % (what, api_group, " or ".join(kinds), api_version, kind, example))
    return kind


def name_of(reference, path, fix):
    """The ``name`` of a reference such as targetRef; raise naming the field and the fix when it is missing."""
    reference = mapping(reference, path)
    if not reference or not isinstance(reference.get("name"), str) or not reference["name"]:
        raise MigrationError("%s.name is required: %s" % (path, fix))
    return reference["name"]


def namespace_of(manifest, namespace, what):
    """The namespace given to the filter wins over metadata.namespace; one of them is required."""
    if namespace:
        return namespace
    value = (manifest.get("metadata") or {}).get("namespace")
    if not value:
        raise MigrationError("metadata.namespace is missing from the %s: add it to the manifest, or give the namespace to the "
                             "filter (namespace='test')" % what)
    return value


def by_name(manifests, kinds, path, namespace):
    """Index the extra manifests handed to the filter (MetricTemplates, AnalysisTemplates) by (namespace, name).

    ``manifests`` is one manifest, a list of them, or None. A template without a namespace is taken to be
    in the migrated object's namespace, where Flagger and Argo look first.
    """
    if manifests is None:
        return {}
    if isinstance(manifests, dict):
        manifests = [manifests]
    if not isinstance(manifests, list):
        raise MigrationError("%s must be a manifest or a list of manifests, got %s" % (path, _short(manifests)))
    index = {}
    for position, manifest in enumerate(manifests):
        field = "%s[%d]" % (path, position)
        if not isinstance(manifest, dict) or manifest.get("kind") not in kinds:
            raise MigrationError("%s must be a %s manifest, got %s" % (
                field, " or ".join(kinds), "kind %r" % manifest.get("kind") if isinstance(manifest, dict) else _short(manifest)))
        metadata = manifest.get("metadata") or {}
        if not metadata.get("name"):
            raise MigrationError("%s.metadata.name is required" % field)
        index[(metadata.get("namespace") or namespace, metadata["name"])] = manifest
    return index


def _short(value):
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


# Flagger's and Argo's template placeholders ({{ namespace }}, {{ args.name }}), Jinja-like.
_JINJA_PLACEHOLDER = re.compile(r"\{\{-?\s*([A-Za-z_][A-Za-z0-9_.\-]*)\s*-?\}\}")


def placeholders_to_dollar(query, replace=None):
    """Rewrite ``{{ name }}`` placeholders as ``${name}`` (render.py's form, which Jinja leaves alone).

    A query carried into Ansible variables with ``{{ }}`` in it would be rendered by Jinja when the
    variables are used (or loaded back from a vars file), so the migrated query uses ``${name}``.
    ``replace(name)`` may return a literal value for a placeholder (Flagger's ``variables.*``, Argo's
    ``args.*``), or None. Returns the query and the placeholders left: neither replaced nor one of the
    variables the role's metric check fills in (render.BUILTIN_VARIABLES), which would fail at run time.
    """
    left = []

    def substitute(found):
        name = found.group(1)
        if replace is not None:
            value = replace(name)
            if value is not None:
                return value
        if name in BUILTIN_VARIABLES:
            return "${%s}" % name
        if name not in left:
            left.append(name)
        return found.group(0)

    return _JINJA_PLACEHOLDER.sub(substitute, query), left
