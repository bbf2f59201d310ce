# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What finalizing a canary restores and deletes (Flagger's ``revertOnDeletion``), decided from what exists.

Plain Python on the objects as read; ``_finalize.run_finalize`` reads them and carries the steps out
in the order given here, which keeps the service up throughout:

1. ``scale``: the target back to the primary's replicas (it serves again once ready);
2. ``restore``: the adopted route gets the spec saved at adoption back, without the collection's label
   and annotation; a route the collection created is deleted instead (step 4);
3. ``select``: the apex Service selects the target's pods instead of the primary's;
4. ``delete``: every object the collection created (the label ``app.kubernetes.io/managed-by``), the
   primary last but the status and the lock, which go at the very end.

An object that is gone or not the collection's gets no step, so a second finalize plans nothing.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

from ansible_collections.progressive.delivery.plugins.module_utils._names import MANAGED_BY_LABEL, is_managed

SCALE, RESTORE, SELECT, DELETE = "scale", "restore", "select", "delete"


def _meta(obj):
    return (obj or {}).get("metadata") or {}


def _step(action, obj, new=None, **extra):
    step = {"action": action, "kind": obj["kind"], "name": _meta(obj)["name"], "object": obj, "new": new}
    step.update(extra)
    return step


def primary_replicas(primary):
    """The replicas the target gets back: the primary's, at least 1."""
    return max(int(((primary or {}).get("spec") or {}).get("replicas") or 1), 1)


def restored_route(route, spec, annotation):
    """``route`` with ``spec`` and without the collection's label and the ``annotation`` that saved the spec."""
    result = copy.deepcopy(route)
    result["spec"] = copy.deepcopy(spec)
    metadata = result.setdefault("metadata", {})
    for key, name in (("labels", MANAGED_BY_LABEL), ("annotations", annotation)):
        values = dict(metadata.get(key) or {})
        values.pop(name, None)
        if values:
            metadata[key] = values
        else:
            metadata.pop(key, None)
    return result


def plan(target, primary=None, route=None, original_spec=None, annotation=None, apex_service=None, target_selector=None,
         owned=()):
    """The ordered steps of a finalize.

    ``target``: the user's Deployment. ``primary``: ``<target>-primary`` or None. ``route``: the
    VirtualService (or None); ``original_spec`` the spec saved in its ``annotation`` at adoption (None:
    not adopted). ``apex_service``: the apex Service, pointed at ``target_selector`` (the target's pod
    labels). ``owned``: the other objects the collection may have created, in deletion order (None for
    one that does not exist); only those labelled as the collection's are deleted.
    """
    steps = []
    if primary is not None and is_managed(primary):
        replicas = primary_replicas(primary)
        current = (target.get("spec") or {}).get("replicas")
        if current != replicas:
            steps.append(_step(SCALE, target, replicas=replicas, previous_replicas=current))
    else:
        primary = None
    deletes = []
    if route is not None:
        if original_spec is not None:
            new = restored_route(route, original_spec, annotation)
            if new != route:
                steps.append(_step(RESTORE, route, new))
        elif is_managed(route):
            deletes.append(_step(DELETE, route))
    if apex_service is not None and is_managed(apex_service) and target_selector:
        if (apex_service.get("spec") or {}).get("selector") != target_selector:
            new = copy.deepcopy(apex_service)
            new.setdefault("spec", {})["selector"] = dict(target_selector)
            steps.append(_step(SELECT, apex_service, new))
    for obj in owned:
        if obj is not None and is_managed(obj):
            deletes.append(_step(DELETE, obj))
    return steps + deletes


def summary(steps):
    """One line per step, as the role prints the plan."""
    lines = []
    for step in steps:
        what = "%s/%s" % (step["kind"], step["name"])
        if step["action"] == SCALE:
            lines.append("scale %s from %s to %d replicas (the primary's)" % (what, step["previous_replicas"], step["replicas"]))
        elif step["action"] == RESTORE:
            lines.append("restore %s to the spec saved when it was adopted" % what)
        elif step["action"] == SELECT:
            lines.append("point %s at the target's pods %s" % (what, step["new"]["spec"]["selector"]))
        else:
            lines.append("delete %s" % what)
    return lines
