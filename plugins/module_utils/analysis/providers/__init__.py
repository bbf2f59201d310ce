# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Builtin metric templates, one module per metrics provider.

A new provider is one new file defining ``TEMPLATES`` (and optionally ``default_variables()`` and
``COMPARE_TEMPLATES``, the canary-versus-primary queries with their failing ``direction``) plus one
line in ``PROVIDERS`` below.
"""

from ansible_collections.progressive.delivery.plugins.module_utils.analysis.providers import envoy, istio

PROVIDERS = {
    "istio": istio,
    "envoy": envoy,
}


class MetricTemplate(object):
    """A builtin query: ``query`` (a template, see render.py), how to name and show its value."""

    def __init__(self, name, query, title, unit="", direction=None):
        self.name = name
        self.query = query
        self.title = title
        self.unit = unit
        self.direction = direction      # compare templates: the deviation that fails (increase, decrease)


def provider_names():
    return sorted(PROVIDERS)


def builtin_templates(provider):
    """``{name: MetricTemplate}`` of ``provider``; raises KeyError with the valid names."""
    try:
        module = PROVIDERS[provider]
    except KeyError:
        raise KeyError("unknown metrics provider %r; choose one of: %s" % (provider, ", ".join(provider_names())))
    return dict((name, MetricTemplate(name, spec["query"], spec["title"], spec.get("unit", "")))
                for name, spec in module.TEMPLATES.items())


def compare_templates(provider):
    """``{name: MetricTemplate}`` of ``provider``'s canary-versus-primary queries (may be empty)."""
    try:
        module = PROVIDERS[provider]
    except KeyError:
        raise KeyError("unknown metrics provider %r; choose one of: %s" % (provider, ", ".join(provider_names())))
    return dict((name, MetricTemplate(name, spec["query"], spec["title"], spec.get("unit", ""), spec.get("direction")))
                for name, spec in getattr(module, "COMPARE_TEMPLATES", {}).items())


def default_variables(provider, variables):
    """Provider-specific variables derived from the builtin ones (e.g. Envoy's cluster name)."""
    module = PROVIDERS[provider]
    derive = getattr(module, "default_variables", None)
    return derive(variables) if derive else {}


def count_templates(provider):
    """``{"requests": query, "failed": query}``: the canary's request counters for a fast abort; KeyError when
    ``provider`` has none."""
    try:
        module = PROVIDERS[provider]
    except KeyError:
        raise KeyError("unknown metrics provider %r; choose one of: %s" % (provider, ", ".join(provider_names())))
    templates = getattr(module, "COUNT_TEMPLATES", None)
    if not templates:
        raise KeyError("the metrics provider %r has no request counters for a fast abort" % (provider,))
    return dict(templates)
