# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The watch a run keeps while it waits (an interval, or the canary getting ready).

A wait ends early for what must be acted on at once: an operator's request (abort, promote)
recorded in the status, a new revision of the target, or the loss of the lock (raised by the
fence). ``watch`` polls through a Cluster (``get``), renews the lock through ``hold`` every
``heartbeat`` seconds, and returns what ended the wait.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.progressive.delivery.plugins.module_utils.k8s._waiter import deployment_ready
from ansible_collections.progressive.delivery.plugins.module_utils.state import status as st
from ansible_collections.progressive.delivery.plugins.module_utils.workload import revision

ELAPSED = "elapsed"
CANARY_READY = "canary_ready"
UNTIL_CHOICES = (ELAPSED, CANARY_READY)
REVISION = "revision"


def interruption(status, current_hash, analysed_hash):
    """What ends a wait now: ``abort``, ``promote``, ``revision`` or None.

    An abort wins over everything, a new revision over a promotion request (promoting would copy
    a template nobody analysed).
    """
    request = (status or {}).get("requested")
    if request == "abort":
        return "abort"
    if analysed_hash and current_hash is not None and current_hash != analysed_hash:
        return REVISION
    if request == "promote":
        return "promote"
    return None


def canary_ready(deployment):
    """``(ready, message)``: the canary rolled out with at least one ready replica."""
    if deployment is None:
        return False, "the target Deployment does not exist"
    done, message = deployment_ready(deployment)
    if done and not ((deployment.get("status") or {}).get("readyReplicas") or 0):
        return False, "Deployment %s has no ready replica" % deployment["metadata"]["name"]
    return done, message


def watch(cluster, target, namespace, seconds, until=ELAPSED, analysed_hash=None, config_tracking=True, poll=0.5,
          hold=None, heartbeat=None, on_abort=None, clock=time.monotonic, sleep=time.sleep):
    """Wait up to ``seconds``; return a dict: interrupted, waited, status, revision, ready, message.

    ``on_abort()`` runs the moment an abort is seen, before anything else (its answer is returned
    as ``on_abort``), so that the traffic is safe a poll after the request, not a task later.
    """
    started = clock()
    deadline = started + max(seconds, 0)
    last_beat = started
    while True:
        status = st.decode(cluster.get("v1", "ConfigMap", namespace, st.status_name(target)))
        current_hash, _promoted, deployment = revision.current(cluster.get, target, namespace, config_tracking)
        result = {"interrupted": interruption(status, current_hash, analysed_hash), "status": status,
                  "revision": {"hash": current_hash}, "ready": None, "message": ""}
        if until == CANARY_READY:
            result["ready"], result["message"] = canary_ready(deployment)
        if result["interrupted"] == "abort" and on_abort is not None:
            result["on_abort"] = on_abort()
        now = clock()
        result["waited"] = round(now - started, 3)
        if result["interrupted"] or result["ready"] or now >= deadline:
            return result
        if hold is not None and heartbeat and now - last_beat >= heartbeat:
            hold()
            last_beat = now
        sleep(max(min(poll, deadline - clock()), 0))
