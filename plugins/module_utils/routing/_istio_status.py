# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Istio's configuration distribution status: does the mesh serve a given VirtualService generation?

Kubernetes has no standard way to ask the proxies which configuration they serve. istiod can
report it in the object's ``status`` when it runs with ``PILOT_ENABLE_STATUS=true`` and
``PILOT_ENABLE_CONFIG_DISTRIBUTION_TRACKING=true`` (what ``istioctl x wait`` reads): a condition
``Reconciled`` (``False``/``stillPropagating`` with a message such as ``61/122 complete`` until
every proxy acknowledged the configuration, then ``True``) and ``observedGeneration``, the
generation the condition refers to (top-level in newer Istio, on the condition in older ones;
an int64, so a string in JSON). Without them there is nothing to read, and the caller waits a
fixed time instead.

Plain Python on dicts shaped like the Kubernetes objects; nothing here talks to a cluster.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

RECONCILED = "Reconciled"


def _generation(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def reconciled_condition(obj):
    """The ``Reconciled`` condition of ``obj``'s Istio status, or None."""
    for condition in ((obj or {}).get("status") or {}).get("conditions") or []:
        if isinstance(condition, dict) and condition.get("type") == RECONCILED:
            return condition
    return None


def distribution(obj, generation):
    """``(reconciled, message)`` for ``generation`` of the Istio object ``obj``.

    ``reconciled`` is True when Istio reports that generation (or a later one) distributed to
    every proxy, False while it reports it still propagating or reports an older generation, and
    None when ``obj`` carries no distribution status that names a generation (status reporting
    off, or not Istio's): then nothing can be learnt from it.
    """
    condition = reconciled_condition(obj)
    if condition is None:
        return None, "the VirtualService carries no Istio Reconciled condition (istiod's distribution status is off)"
    status = (obj or {}).get("status") or {}
    observed = _generation(status.get("observedGeneration"))
    if observed is None:
        observed = _generation(condition.get("observedGeneration"))
    if observed is None:
        return None, "Istio's Reconciled condition does not say which generation it refers to"
    wanted = _generation(generation)
    if wanted is not None and observed < wanted:
        return False, "Istio reports generation %d, waiting for generation %d to be distributed" % (observed, wanted)
    if condition.get("status") == "True":
        return True, "Istio reports generation %d distributed to every proxy" % observed
    detail = ": ".join(part for part in (condition.get("reason"), condition.get("message")) if part)
    return False, "Istio reports generation %d still propagating%s" % (observed, " (%s)" % detail if detail else "")
