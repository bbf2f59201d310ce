# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The watch a run keeps while it waits (an interval, or the canary getting ready).

A wait ends early for what must be acted on at once: an operator's request (abort, promote)
recorded in the status, a new revision of the target, the loss of the lock (raised by the
fence), or - when asked - an unhealthy canary (crash-looping, failing to pull, restarting), or a
route someone else changed (routing/drift.py).
``watch`` polls through a Cluster (``get``), renews the lock through ``hold`` every
``heartbeat`` seconds, and returns what ended the wait.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.progressive.delivery.plugins.module_utils.k8s._errors import ClusterError
from ansible_collections.progressive.delivery.plugins.module_utils.k8s._waiter import deployment_ready
from ansible_collections.progressive.delivery.plugins.module_utils.state import status as st
from ansible_collections.progressive.delivery.plugins.module_utils.workload import health as canary_health
from ansible_collections.progressive.delivery.plugins.module_utils.workload import revision

ELAPSED = "elapsed"
CANARY_READY = "canary_ready"
UNTIL_CHOICES = (ELAPSED, CANARY_READY)
REVISION = "revision"
FAST_ABORT = "fast_abort"
ROUTE_DRIFT = "route_drift"
# A health look lists the canary's pods: at most this often, however short the poll.
HEALTH_EVERY = 1.0


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


def _selector(deployment):
    labels = ((deployment.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    return ",".join("%s=%s" % (key, labels[key]) for key in sorted(labels))


def _culprit_log(cluster, namespace, answer):
    """``answer`` with the culprit container's last log lines, or why they could not be read."""
    culprit = answer["culprit"]
    entry = [e for e in answer["pods"] if e["name"] == culprit["pod"] and e["container"] == culprit["container"]][0]
    # A crash-looping container waits for its restart: what it said before dying is in the previous instance's log.
    previous = bool(entry["last_state"] and (entry["state"] or {}).get("state") != "running")

    def read(previous):
        return cluster.pod_log(namespace, culprit["pod"], culprit["container"], canary_health.LOG_TAIL_LINES,
                               canary_health.LOG_LIMIT_BYTES, previous=previous)
    try:
        lines = read(previous)
        # restarted a moment ago, the new instance has said nothing yet: why it restarted is in the previous one's log
        if not lines.strip() and not previous and entry["last_state"]:
            lines = read(True)
    except ClusterError as exc:
        return canary_health.with_logs(answer, error=str(exc))
    return canary_health.with_logs(answer, lines=lines) if lines.strip() else canary_health.with_logs(answer, error="empty log")


class HealthWatch(object):
    """The canary's health across the polls of one wait (and from the previous wait, given its restart counts):
    the restart counts of the previous look."""

    def __init__(self, cluster, namespace, grace=None, wall_clock=time.time, restarts=None):
        self.cluster, self.namespace, self.grace, self.wall_clock = cluster, namespace, grace, wall_clock
        # the counts of the previous wait, when the caller kept them: a restart between two waits is seen too
        self.restarts = dict((str(key), int(value)) for key, value in restarts.items()) if restarts else None

    def look(self, deployment):
        if deployment is None:
            pods = []
        else:
            selector = _selector(deployment)
            pods = self.cluster.list("v1", "Pod", self.namespace, label_selector=selector) if selector else []
        answer = canary_health.assess(deployment, pods, previous_restarts=self.restarts, grace_seconds=self.grace,
                                      now=self.wall_clock())
        self.restarts = answer["restarts"]
        if not answer["healthy"] and answer["culprit"]:
            answer = _culprit_log(self.cluster, self.namespace, answer)
        return answer


def watch(cluster, target, namespace, seconds, until=ELAPSED, analysed_hash=None, config_tracking=True, poll=0.5,
          hold=None, heartbeat=None, on_abort=None, health=None, probe=None, clock=time.monotonic, sleep=time.sleep,
          route=None):
    """Wait up to ``seconds``; return a dict: interrupted, waited, status, revision, ready, message.

    ``on_abort()`` runs the moment an abort is seen, before anything else (its answer is returned
    as ``on_abort``), so that the traffic is safe a poll after the request, not a task later.

    ``health`` (a HealthWatch) looks at the canary's pods at most every HEALTH_EVERY seconds of an
    ``elapsed`` wait; its last answer is returned as ``health``, and an unhealthy canary ends the
    wait with ``unhealthy`` (``{reason, pods}``); ``interrupted`` stays what the status says. A
    ``canary_ready`` wait that ends ready looks once, unjudged, for the baseline of the next waits.

    ``probe`` (analysis/fast_abort.Probe) tests the canary's counters every ``probe.every`` seconds of an ``elapsed``
    wait; its last answer is returned as ``fast_abort``, and an abort decision ends the wait with ``interrupted``
    ``fast_abort`` (unless the status or the revision interrupts it first), after ``on_abort()`` as for an abort. A
    probe that cannot read its counters (``probe_errors``, e.g. a Prometheus error) answers
    ``{"abort": false, "error": message}``: the interval's metric check still judges.

    ``route`` (routing/drift.RouteWatch) compares the managed split with the weight the run set at every poll of an
    ``elapsed`` wait; its answer is returned as ``route_drift`` (None while the split is the run's), and a drift ends
    the wait with ``interrupted`` ``route_drift`` (unless the status, the revision or the fast abort interrupts it first).
    """
    started = clock()
    deadline = started + max(seconds, 0)
    last_beat = started
    last_health, answer = None, None
    last_probe, decision = None, None
    while True:
        status = st.decode(cluster.get("v1", "ConfigMap", namespace, st.status_name(target)))
        current_hash, _promoted, deployment = revision.current(cluster.get, target, namespace, config_tracking)
        result = {"interrupted": interruption(status, current_hash, analysed_hash), "status": status,
                  "revision": {"hash": current_hash}, "ready": None, "message": ""}
        if until == CANARY_READY:
            result["ready"], result["message"] = canary_ready(deployment)
        if result["interrupted"] == "abort" and on_abort is not None:
            result["on_abort"] = on_abort()
        if health is not None and until == ELAPSED:
            if last_health is None or clock() - last_health >= HEALTH_EVERY:
                answer = health.look(deployment)
                last_health = clock()
            result["health"] = answer
            result["unhealthy"] = None if answer["healthy"] else {"reason": answer["reason"], "pods": answer["pods"]}
        if probe is not None and until == ELAPSED:
            if last_probe is None or clock() - last_probe >= probe.every:
                last_probe = clock()
                try:
                    decision = probe.look()
                except probe.errors as exc:
                    decision = {"abort": False, "error": str(exc)}
            result["fast_abort"] = decision
            if decision["abort"] and not result["interrupted"]:
                result["interrupted"] = FAST_ABORT
                # the rollback's first half now, like an operator's abort: the judge's tasks come after the traffic is safe
                if on_abort is not None:
                    result["on_abort"] = on_abort()
        if route is not None and until == ELAPSED:
            result["route_drift"] = route.look()
            if result["route_drift"] and not result["interrupted"]:
                result["interrupted"] = ROUTE_DRIFT
        now = clock()
        result["waited"] = round(now - started, 3)
        if result["interrupted"] or result["ready"] or result.get("unhealthy") or now >= deadline:
            if health is not None and until == CANARY_READY and result["ready"]:
                # not judged (a canary may restart while it starts), but the counts once it is ready are the
                # baseline of the waits that follow: a restart after this one is seen even between two waits
                result["health"] = health.look(deployment)
            return result
        if hold is not None and heartbeat and now - last_beat >= heartbeat:
            hold()
            last_beat = now
        sleep(max(min(poll, deadline - clock()), 0))
