# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Readiness predicates by kind (as kubernetes.core's waiter.py) and the wait that polls them.

A predicate takes the object read and returns ``(done, message)``. In check mode nothing is written,
so there is nothing to wait for: ``get_waiter`` returns a no-op waiter.

Plain Python: no Ansible, no network (the reads go through the Cluster given).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time


def deployment_ready(deployment):
    """``(done, message)`` for a Deployment rollout (the rules of ``kubectl rollout status``)."""
    metadata = deployment.get("metadata") or {}
    spec = deployment.get("spec") or {}
    status = deployment.get("status") or {}
    name = metadata.get("name")
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Progressing" and condition.get("reason") == "ProgressDeadlineExceeded":
            return False, "Deployment %s exceeded its progress deadline: %s" % (name, condition.get("message", ""))
    if (status.get("observedGeneration") or 0) < (metadata.get("generation") or 0):
        return False, "waiting for Deployment %s spec update to be observed" % name
    wanted = spec.get("replicas", 1)
    updated = status.get("updatedReplicas") or 0
    total = status.get("replicas") or 0
    available = status.get("availableReplicas") or 0
    ready = status.get("readyReplicas") or 0
    if updated < wanted:
        return False, "Deployment %s: %d of %d new replicas have been updated" % (name, updated, wanted)
    if total > updated:
        return False, "Deployment %s: %d old replicas are pending termination" % (name, total - updated)
    if available < updated or ready < updated:
        return False, "Deployment %s: %d of %d updated replicas are available" % (name, available, updated)
    return True, "Deployment %s successfully rolled out" % name


# (apiVersion, kind) -> readiness predicate
READY = {
    ("apps/v1", "Deployment"): deployment_ready,
}


def _absent(kind, namespace, name):
    return False, "%s %s/%s does not exist" % (kind, namespace, name)


class Waiter(object):
    """Polls ``cluster.get`` until the predicate of the kind says done or ``timeout`` passes."""

    def __init__(self, cluster, api_version, kind, predicate=None):
        self.cluster = cluster
        self.api_version = api_version
        self.kind = kind
        self.predicate = predicate or READY[(api_version, kind)]

    def wait(self, namespace, name, timeout):
        """``(done, message, obj)``."""
        deadline = time.time() + timeout
        while True:
            obj = self.cluster.get(self.api_version, self.kind, namespace, name)
            done, message = self.predicate(obj) if obj is not None else _absent(self.kind, namespace, name)
            if done or time.time() >= deadline:
                return done, message, obj
            time.sleep(self.cluster.poll_interval)


class DummyWaiter(object):
    """Check mode: nothing was written, nothing to wait for; the object as it is."""

    def __init__(self, cluster, api_version, kind):
        self.cluster = cluster
        self.api_version = api_version
        self.kind = kind

    def wait(self, namespace, name, timeout):
        obj = self.cluster.get(self.api_version, self.kind, namespace, name)
        return True, "check mode: not waited for", obj


def get_waiter(cluster, api_version, kind, check_mode=False, predicate=None):
    if check_mode:
        return DummyWaiter(cluster, api_version, kind)
    return Waiter(cluster, api_version, kind, predicate)
