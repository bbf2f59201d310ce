# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reads and guarded writes of single objects through kubernetes.core's client (private).

The state modules only ever get one object, then create it or replace it with the
resourceVersion they read, so a concurrent writer makes the write fail (409) instead of being
silently overwritten.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import json

from ansible_collections.progressive.delivery.plugins.module_utils.state import lock as lk

try:
    from kubernetes.dynamic.exceptions import ConflictError, NotFoundError
except ImportError:  # reported by AnsibleK8SModule (requires kubernetes)
    ConflictError = NotFoundError = Exception


class Conflict(Exception):
    """Someone else wrote the object between our read and our write."""


def _to_dict(instance):
    if instance is None:
        return None
    return instance.to_dict() if hasattr(instance, "to_dict") else dict(instance)


def api_message(exc):
    """The API server's message from a DynamicApiError, else str(exc)."""
    body = getattr(exc, "body", None)
    if body:
        try:
            return json.loads(body).get("message") or str(exc)
        except (ValueError, AttributeError, TypeError):
            pass
    return getattr(exc, "summary", lambda: str(exc))()


class ObjectAccess(object):
    """get / create / replace / delete of objects of one kind, through a kubernetes.core K8SClient."""

    def __init__(self, client, api_version, kind):
        self.client = client
        self.resource = client.resource(kind, api_version)

    def get(self, namespace, name):
        try:
            return _to_dict(self.client.get(self.resource, name=name, namespace=namespace))
        except NotFoundError:
            return None

    def create(self, obj):
        try:
            return _to_dict(self.client.create(self.resource, obj, namespace=obj["metadata"]["namespace"]))
        except ConflictError as exc:  # 409 AlreadyExists: somebody created it after our read
            raise Conflict(api_message(exc))

    def replace(self, obj):
        try:
            return _to_dict(self.client.replace(self.resource, obj, name=obj["metadata"]["name"], namespace=obj["metadata"]["namespace"]))
        except ConflictError as exc:
            raise Conflict(api_message(exc))

    def delete(self, namespace, name):
        try:
            self.client.delete(self.resource, name=name, namespace=namespace)
            return True
        except NotFoundError:
            return False


def hold_lock(client, target, namespace, fence, check_mode=False):
    """Prove that this run still owns the lock ``fence`` names, and renew it (the heartbeat).

    Every write made under the lock calls this first: a run that lost the lock (taken over after
    its lease ran out, or released by a forced abort) gets LockLost before it writes anything. The
    renewal replaces the Lease guarded by the resourceVersion read, so a takeover that lands between
    the read and the write makes it fail too. In check mode the lease is checked, not renewed.
    """
    leases = ObjectAccess(client, lk.API_VERSION, lk.KIND)
    name = lk.lease_name(target)
    for attempt in range(2):
        existing = leases.get(namespace, name)
        ttl = fence.get("ttl") or int(((existing or {}).get("spec") or {}).get("leaseDurationSeconds") or 1)
        _action, lease = lk.renew(target, namespace, existing, fence["holder"], fence["token"], ttl,
                                  datetime.datetime.now(datetime.timezone.utc))
        if check_mode:
            return lease
        try:
            return leases.replace(lease)
        except Conflict:
            # Somebody wrote the Lease between our read and our write: decide again on what they wrote.
            if attempt:
                raise
    return None
