# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The concurrency limit of canaries: a semaphore of N slot Leases per scope (docs/rollout.md, "Concurrency limit").

A scope (a namespace, or the whole cluster) allows ``limit`` canaries to analyse at once. Its slots are
coordination.k8s.io/v1 Leases ``progressive-delivery-slot-<i>`` (namespace scope, in the canary's namespace) or
``progressive-delivery-cluster-slot-<i>`` (cluster scope, in one namespace chosen for it), ``i`` in ``0..limit-1``,
labelled as ours. A slot is the rollout lock's design (state/lock.py) once per slot: same fields, same expiry
(``renewTime + leaseDurationSeconds``), same resourceVersion-guarded replace, same token (``acquireTime``).

A slot's ``holderIdentity`` is ``<namespace>/<target> <run holder>``. It belongs to the *canary*: the canary's own lock
already keeps two runs of one canary apart, so a re-run of the same canary (a new run holder) keeps the slot it finds
instead of taking a second one, and any run of that canary (an abort, a rollback handler) can give it back.

Plain Python: decisions only, no Ansible, no network.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

from ansible_collections.progressive.delivery.plugins.module_utils._names import managed_labels
from ansible_collections.progressive.delivery.plugins.module_utils.state import lock as lk

API_VERSION = lk.API_VERSION
KIND = lk.KIND
SCOPES = ("namespace", "cluster")
SLOT_PREFIX = {"namespace": "progressive-delivery-slot-", "cluster": "progressive-delivery-cluster-slot-"}
SCOPE_LABEL = "progressive.delivery/slot-scope"
# Above this, a scope is a mistake: every acquire reads every slot.
MAX_LIMIT = 1000

CREATED = lk.CREATED
RENEWED = lk.RENEWED
TAKEN_OVER = lk.TAKEN_OVER
RELEASED = lk.RELEASED
NONE = lk.NONE


class SemaphoreError(ValueError):
    """Bad semaphore parameters."""


class SemaphoreFull(Exception):
    """Every slot of the scope is held by another canary; ``holders`` name them (namespace/target)."""

    def __init__(self, message, holders):
        super(SemaphoreFull, self).__init__(message)
        self.holders = holders


def slot_name(scope, index):
    return "%s%d" % (SLOT_PREFIX[scope], index)


def slot_names(scope, limit):
    return [slot_name(scope, index) for index in range(limit)]


def canary_id(target, namespace):
    return "%s/%s" % (namespace, target)


def identity(target, namespace, holder):
    """The slot's holderIdentity: the canary, then the run."""
    return "%s %s" % (canary_id(target, namespace), holder)


def slot_canary(spec):
    """The canary (namespace/target) that holds a slot, or None when nobody does."""
    current = (spec or {}).get("holderIdentity")
    return current.split(" ", 1)[0] if current else None


def is_free(spec, now):
    """No holder, or its holder stopped renewing it for longer than its duration."""
    spec = spec or {}
    if not spec.get("holderIdentity"):
        return True
    until = lk.expires_at(spec)
    return until is None or until <= now


def _check(scope, limit, holder, ttl):
    if scope not in SCOPES:
        raise SemaphoreError("scope must be one of %s, got %r" % (", ".join(SCOPES), scope))
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1 or limit > MAX_LIMIT:
        raise SemaphoreError("limit must be a whole number of canaries from 1 to %d, got %r" % (MAX_LIMIT, limit))
    if not holder or not isinstance(holder, str) or " " in holder:
        raise SemaphoreError("holder must be a non-empty string without spaces identifying this run (for example user@host:pid)")
    if not isinstance(ttl, int) or isinstance(ttl, bool) or ttl < 1:
        raise SemaphoreError("ttl must be a positive number of seconds, got %r" % (ttl,))


def _new_slot(scope, index, slot_namespace, holder_identity, ttl, stamp):
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {
            "name": slot_name(scope, index),
            "namespace": slot_namespace,
            "labels": managed_labels({SCOPE_LABEL: scope}),
        },
        "spec": {
            "holderIdentity": holder_identity,
            "leaseDurationSeconds": ttl,
            "acquireTime": stamp,
            "renewTime": stamp,
            "leaseTransitions": 0,
        },
    }


def describe_holders(slots, now):
    """``namespace/target (expires in Ns)`` for every held slot, in slot order."""
    names = []
    for lease in slots:
        spec = (lease or {}).get("spec") or {}
        if is_free(spec, now):
            continue
        until = lk.expires_at(spec)
        seconds = int(round((until - now).total_seconds()))
        names.append("%s (slot %s, expires in %ds)" % (slot_canary(spec), lease["metadata"]["name"], seconds))
    return names


def acquire(scope, slot_namespace, limit, slots, target, namespace, holder, ttl, now):
    """Decide which slot this canary takes.

    ``slots``: the ``limit`` slots of the scope in index order, each the Lease read or None (missing).
    Returns ``(action, index, lease)``: the slot this canary already holds renewed (RENEWED; a re-run keeps its slot,
    even one that expired, unless another canary took it), else the first missing slot (CREATED) or the first free or
    expired one (CREATED or TAKEN_OVER), to create or replace with the resourceVersion it carries.
    Raises SemaphoreFull naming the canaries that hold the slots when none is free.
    """
    _check(scope, limit, holder, ttl)
    if len(slots) != limit:
        raise SemaphoreError("slots must hold the %d slots of the scope (None for a missing one), got %d" % (limit, len(slots)))
    me = canary_id(target, namespace)
    wanted = identity(target, namespace, holder)
    stamp = lk.format_time(now)
    for index, lease in enumerate(slots):
        spec = (lease or {}).get("spec") or {}
        if lease is not None and slot_canary(spec) == me:
            lease = copy.deepcopy(lease)
            lease["spec"]["holderIdentity"] = wanted
            lease["spec"]["renewTime"] = stamp
            lease["spec"]["leaseDurationSeconds"] = ttl
            return RENEWED, index, lease
    for index, lease in enumerate(slots):
        if lease is None:
            return CREATED, index, _new_slot(scope, index, slot_namespace, wanted, ttl, stamp)
        spec = lease.get("spec") or {}
        if is_free(spec, now):
            previous = spec.get("holderIdentity")
            lease = copy.deepcopy(lease)
            spec = lease.setdefault("spec", {})
            spec.update(holderIdentity=wanted, leaseDurationSeconds=ttl, acquireTime=stamp, renewTime=stamp,
                        leaseTransitions=int(spec.get("leaseTransitions") or 0) + 1)
            return (TAKEN_OVER if previous else CREATED), index, lease
    holders = [slot_canary((lease.get("spec") or {})) for lease in slots]
    raise SemaphoreFull(full_message(scope, slot_namespace, limit, me, slots, now), holders)


def full_message(scope, slot_namespace, limit, me, slots, now):
    where = "namespace %s" % slot_namespace if scope == "namespace" else "the cluster (slots in namespace %s)" % slot_namespace
    return ("canary %s cannot start: %d of %d concurrent canaries of %s already run, held by %s; it waits for a slot "
            "(rollout_concurrency.on_limit: wait) or fails (on_limit: fail)"
            % (me, limit, limit, where, ", ".join(describe_holders(slots, now))))


def release(slots, target, namespace, now):
    """The slots this canary holds, freed: ``[(index, lease)]`` to replace (nothing when it holds none).

    ``slots``: the Leases of the scope (any order, any count - a lowered limit leaves slots above it). Releasing clears
    the holder and keeps the object, as the lock does.
    """
    me = canary_id(target, namespace)
    freed = []
    for index, lease in enumerate(slots):
        spec = (lease or {}).get("spec") or {}
        if lease is not None and slot_canary(spec) == me:
            lease = copy.deepcopy(lease)
            lease["spec"]["holderIdentity"] = None
            lease["spec"]["renewTime"] = lk.format_time(now)
            freed.append((index, lease))
    return freed


def summary(lease, now):
    """The slot as the module returns it."""
    spec = (lease or {}).get("spec") or {}
    result = dict(lk.summary(lease, now), name=((lease or {}).get("metadata") or {}).get("name"))
    result["canary"] = slot_canary(spec)
    return result
