# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rollout lock: a coordination.k8s.io/v1 Lease ``<target>-canary-lock``.

Same fields and meaning as Kubernetes leader election: ``holderIdentity``, ``leaseDurationSeconds``,
``acquireTime``, ``renewTime``, ``leaseTransitions``. A lease is free when it has no holder or when
``renewTime + leaseDurationSeconds`` has passed. Release clears the holder and keeps the object, so
``leaseTransitions`` keeps counting. Writes are guarded by ``resourceVersion`` (the caller replaces
the object it read), so two runs racing for a free lease cannot both win.

Plain Python: decisions only, no Ansible, no network.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import datetime

API_VERSION = "coordination.k8s.io/v1"
KIND = "Lease"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "progressive.delivery"
TARGET_LABEL = "progressive.delivery/target"

# Actions reported to the caller.
CREATED = "created"
RENEWED = "renewed"
TAKEN_OVER = "taken_over"
RELEASED = "released"
NONE = "none"


class LockError(ValueError):
    """Bad lock parameters."""


class LockHeld(Exception):
    """The lease is held by someone else; ``str()`` names the holder, since when and until when."""

    def __init__(self, message, holder):
        super(LockHeld, self).__init__(message)
        self.holder = holder


def lease_name(target):
    return "%s-canary-lock" % target


def format_time(moment):
    """Kubernetes MicroTime."""
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text):
    if not text:
        return None
    text = text.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        return datetime.datetime.fromisoformat(text)
    except ValueError:
        # Python < 3.11 only reads 0, 3 or 6 fraction digits.
        head, _sep, rest = text.partition(".")
        if not rest:
            return None
        digits = "".join(c for c in rest if c.isdigit())
        zone = rest[len(digits):]
        try:
            return datetime.datetime.fromisoformat("%s.%s%s" % (head, (digits + "000000")[:6], zone))
        except ValueError:
            return None


def expires_at(spec):
    """When the lease runs out (``None`` = no holder or no renewal time: free)."""
    renewed = parse_time(spec.get("renewTime") or spec.get("acquireTime"))
    if not spec.get("holderIdentity") or renewed is None:
        return None
    return renewed + datetime.timedelta(seconds=int(spec.get("leaseDurationSeconds") or 0))


def describe(target, namespace, spec, now):
    """One sentence naming the holder, since when, and when the lease runs out."""
    until = expires_at(spec)
    remaining = ""
    if until is not None:
        seconds = int(round((until - now).total_seconds()))
        remaining = " (in %ds)" % seconds if seconds >= 0 else " (expired %ds ago)" % -seconds
    return "canary %s.%s is locked by %s since %s; the lease expires at %s%s" % (
        target,
        namespace,
        spec.get("holderIdentity"),
        spec.get("acquireTime") or "an unknown time",
        format_time(until) if until else "an unknown time",
        remaining,
    )


def _check(holder, ttl):
    if not holder or not isinstance(holder, str):
        raise LockError("holder must be a non-empty string identifying this run (for example user@host:pid)")
    if not isinstance(ttl, int) or isinstance(ttl, bool) or ttl < 1:
        raise LockError("ttl must be a positive number of seconds, got %r" % (ttl,))


def acquire(target, namespace, existing, holder, ttl, now, force=False):
    """Decide how to take the lock.

    Returns ``(action, lease)``: the Lease to create (``existing`` is None) or to replace
    (guarded by the resourceVersion it carries), or ``(NONE, existing)`` when nothing changes.
    Raises LockHeld when somebody else holds a lease that has not expired (unless ``force``).
    """
    _check(holder, ttl)
    stamp = format_time(now)
    if existing is None:
        return CREATED, {
            "apiVersion": API_VERSION,
            "kind": KIND,
            "metadata": {
                "name": lease_name(target),
                "namespace": namespace,
                "labels": {MANAGED_BY_LABEL: MANAGED_BY, TARGET_LABEL: target},
            },
            "spec": {
                "holderIdentity": holder,
                "leaseDurationSeconds": ttl,
                "acquireTime": stamp,
                "renewTime": stamp,
                "leaseTransitions": 0,
            },
        }
    lease = copy.deepcopy(existing)
    spec = lease.setdefault("spec", {})
    current = spec.get("holderIdentity")
    if current == holder:
        spec["renewTime"] = stamp
        spec["leaseDurationSeconds"] = ttl
        return RENEWED, lease
    until = expires_at(spec)
    if current and until is not None and until > now and not force:
        raise LockHeld(describe(target, namespace, spec, now), current)
    spec["holderIdentity"] = holder
    spec["leaseDurationSeconds"] = ttl
    spec["acquireTime"] = stamp
    spec["renewTime"] = stamp
    spec["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + (1 if current else 0)
    return (TAKEN_OVER if current else CREATED), lease


def release(target, namespace, existing, holder, now, force=False):
    """Decide how to give the lock back: ``(RELEASED, lease)`` or ``(NONE, existing)``.

    Releasing a lease that is free, or that nobody holds, changes nothing. Releasing somebody
    else's live lease raises LockHeld unless ``force``.
    """
    if not holder or not isinstance(holder, str):
        raise LockError("holder must be a non-empty string identifying this run (for example user@host:pid)")
    if existing is None:
        return NONE, None
    spec = existing.get("spec") or {}
    current = spec.get("holderIdentity")
    if not current:
        return NONE, existing
    if current != holder and not force:
        until = expires_at(spec)
        if until is not None and until > now:
            raise LockHeld("cannot release: " + describe(target, namespace, spec, now), current)
    lease = copy.deepcopy(existing)
    lease["spec"]["holderIdentity"] = None
    lease["spec"]["renewTime"] = format_time(now)
    return RELEASED, lease


def summary(lease, now):
    """What a caller wants to know about a lease: holder, acquired, renewed, expires, expired."""
    spec = (lease or {}).get("spec") or {}
    until = expires_at(spec)
    return {
        "holder": spec.get("holderIdentity") or None,
        "acquired_at": spec.get("acquireTime"),
        "renewed_at": spec.get("renewTime"),
        "expires_at": format_time(until) if until else None,
        "expired": bool(spec.get("holderIdentity")) and (until is None or until <= now),
        "ttl": spec.get("leaseDurationSeconds"),
        "transitions": spec.get("leaseTransitions", 0),
    }
