# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rollout lock: a coordination.k8s.io/v1 Lease ``<target>-canary-lock``.

Same fields and meaning as Kubernetes leader election: ``holderIdentity``, ``leaseDurationSeconds``,
``acquireTime``, ``renewTime``, ``leaseTransitions``. A lease is free when it has no holder or when
``renewTime + leaseDurationSeconds`` has passed. Release clears the holder and keeps the object, so
``leaseTransitions`` keeps counting. Writes are guarded by ``resourceVersion`` (the caller replaces
the object it read), so two runs racing for a free lease cannot both win.

A lease's identity is its holder plus its ``acquireTime`` (the *token* a run gets when it takes the
lease). A run that renews, releases or writes under the lock presents its token: when somebody
else took the lease meanwhile, or released it (a forced abort), the token no longer matches and the
run has lost the lock, even if the lease is free again. Expiry only allows a takeover: a holder
whose lease ran out but was not taken over still owns it.

Plain Python: decisions only, no Ansible, no network.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import datetime

from ansible_collections.progressive.delivery.plugins.module_utils._names import lock_name, target_labels

API_VERSION = "coordination.k8s.io/v1"
KIND = "Lease"

# The option by which a module writes under the lock (doc fragment progressive.delivery.fence).
FENCE_ARG_SPEC = dict(
    fence=dict(type="dict", options=dict(
        holder=dict(type="str", required=True),
        token=dict(type="str", required=True, no_log=False),
        ttl=dict(type="int"),
    )),
)

# Actions reported to the caller.
CREATED = "created"
RENEWED = "renewed"
TAKEN_OVER = "taken_over"
RELEASED = "released"
NONE = "none"


class LockError(ValueError):
    """Bad lock parameters."""


class LockLost(Exception):
    """The run no longer owns the lease it took (taken over, released by force, or deleted)."""

    def __init__(self, message, holder=None):
        super(LockLost, self).__init__(message)
        self.holder = holder


class LockHeld(Exception):
    """The lease is held by someone else; ``str()`` names the holder, since when and until when."""

    def __init__(self, message, holder):
        super(LockHeld, self).__init__(message)
        self.holder = holder


lease_name = lock_name


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


def token(spec):
    """The identity of a holder's tenure: the time it acquired the lease."""
    return (spec or {}).get("acquireTime")


def owned(spec, holder, lease_token):
    """Whether ``holder`` still holds the tenure ``lease_token`` it was given."""
    spec = spec or {}
    return bool(holder) and spec.get("holderIdentity") == holder and token(spec) == lease_token


def lost_message(target, namespace, spec, holder, lease_token, now):
    """Why ``holder`` lost the lock, naming who (if anybody) has it now."""
    spec = spec or {}
    current = spec.get("holderIdentity")
    if current == holder:
        why = "the lease was taken again at %s (this run took it at %s)" % (token(spec), lease_token)
    elif current:
        why = describe(target, namespace, spec, now)
    else:
        why = "the lease was released by somebody else (a forced abort or release) at %s" % (spec.get("renewTime") or "an unknown time")
    return "this run (%s) lost the lock of canary %s.%s: %s; it stops without touching the canary" % (holder, target, namespace, why)


def renew(target, namespace, existing, holder, lease_token, ttl, now):
    """Renew the tenure ``lease_token`` of ``holder``: the Lease to replace, or LockLost."""
    _check(holder, ttl)
    if not lease_token:
        raise LockError("token must be the lease's acquire time this run got when it took the lock (canary_lock's lease.token)")
    if existing is None:
        raise LockLost("this run (%s) lost the lock of canary %s.%s: the Lease %s was deleted; it stops without touching the canary"
                       % (holder, target, namespace, lease_name(target)))
    spec = existing.get("spec") or {}
    if not owned(spec, holder, lease_token):
        raise LockLost(lost_message(target, namespace, spec, holder, lease_token, now), spec.get("holderIdentity"))
    lease = copy.deepcopy(existing)
    lease["spec"]["renewTime"] = format_time(now)
    lease["spec"]["leaseDurationSeconds"] = ttl
    return RENEWED, lease


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
                "labels": target_labels(target),
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


def release(target, namespace, existing, holder, now, force=False, lease_token=None):
    """Decide how to give the lock back: ``(RELEASED, lease)`` or ``(NONE, existing)``.

    Releasing a lease that is free, or that nobody holds, changes nothing. Releasing somebody
    else's live lease raises LockHeld unless ``force``. With ``lease_token``, only that tenure is
    released: a lease the run lost (taken over, re-taken) is left alone.
    """
    if not holder or not isinstance(holder, str):
        raise LockError("holder must be a non-empty string identifying this run (for example user@host:pid)")
    if existing is None:
        return NONE, None
    spec = existing.get("spec") or {}
    current = spec.get("holderIdentity")
    if not current:
        return NONE, existing
    if lease_token and not force and not owned(spec, holder, lease_token):
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
        "token": token(spec) if spec.get("holderIdentity") else None,
        "transitions": spec.get("leaseTransitions", 0),
    }
