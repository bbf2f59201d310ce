# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet rollout's decisions (playbooks/fleet.yml): the settings checked before any cluster is
touched, each cluster's result from the rollout status before and after the role, the soak time
before the next cluster, whether to stop, and the summary table.

Plain Python: no Ansible, no network.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime

PROMOTED = "promoted"
ROLLED_BACK = "rolled back"
UNCHANGED = "unchanged"
INITIALIZED = "initialized"
NOT_STARTED = "not started"
FAILED_TO_START = "failed to start"
FAILED = "failed"

RESULTS = (PROMOTED, ROLLED_BACK, UNCHANGED, INITIALIZED, NOT_STARTED, FAILED_TO_START, FAILED)
# A cluster with one of these stops the fleet: no further cluster is touched.
STOPS = (ROLLED_BACK, FAILED_TO_START, FAILED)
# The decisions of canary_state after which the role analyses a revision.
_ANALYSED = ("new", "restart", "resume", "reverted")


class FleetError(ValueError):
    """Bad fleet settings or inventory (nothing was touched)."""


def _empty(value):
    return value is None or (isinstance(value, str) and not value.strip())


def check(hosts, soak_seconds):
    """Refuse a fleet that cannot be rolled out safely, before any cluster is touched.

    ``hosts``: ``[{name, rollout_kubeconfig, rollout_context, rollout_target, rollout_namespace}]`` in
    inventory order. Every host needs its own cluster (a kubeconfig or a context), a target and a
    namespace; two hosts may not name the same cluster, context and canary. Returns the soak time as
    an int.
    """
    if isinstance(soak_seconds, bool):
        raise FleetError("fleet_soak_seconds must be a number of seconds >= 0, got %r" % (soak_seconds,))
    try:
        soak = int(soak_seconds)
    except (TypeError, ValueError):
        raise FleetError("fleet_soak_seconds must be a number of seconds >= 0, got %r" % (soak_seconds,))
    if soak < 0 or soak != float(soak_seconds):
        raise FleetError("fleet_soak_seconds must be a whole number of seconds >= 0, got %r" % (soak_seconds,))
    if not hosts:
        raise FleetError("the fleet has no hosts: put one inventory host per cluster in the group fleet_hosts names")
    problems = []
    seen = {}
    for host in hosts:
        name = host.get("name")
        if _empty(host.get("rollout_kubeconfig")) and _empty(host.get("rollout_context")):
            problems.append("host %s has neither rollout_kubeconfig nor rollout_context: each host of the fleet is one cluster "
                            "and names how to reach it" % name)
        for var in ("rollout_target", "rollout_namespace"):
            if _empty(host.get(var)):
                problems.append("host %s has no %s" % (name, var))
        key = (host.get("rollout_kubeconfig") or "", host.get("rollout_context") or "",
               host.get("rollout_namespace"), host.get("rollout_target"))
        if key in seen and not any(_empty(v) for v in key[2:]):
            problems.append("hosts %s and %s roll out the same canary %s.%s on the same cluster" % (seen[key], name, key[3], key[2]))
        seen.setdefault(key, name)
    if problems:
        raise FleetError("; ".join(problems) + " (no cluster was touched)")
    return soak


def _seconds(started, ended):
    if started is None or ended is None:
        return None
    return round(max(0.0, float(ended) - float(started)), 1)


def cluster_result(host, before, after, error=None, started=None, ended=None):
    """The result of one cluster from what the rollout role left behind.

    ``before`` and ``after``: canary_state's results (``status``, ``revision``) read before and after the
    role (``None`` when the read failed); ``error``: the role's failure message (``None`` when it
    succeeded); ``started``/``ended``: epoch seconds. Returns ``{cluster, result, revision, reason,
    phase, duration, started, ended, stop}``.
    """
    before = before or {}
    after = after or {}
    status_before = before.get("status") or {}
    status_after = after.get("status") or {}
    decision = (before.get("revision") or {}).get("decision")
    revision = ((after.get("revision") or {}).get("hash") or (before.get("revision") or {}).get("hash")
                or status_after.get("last_applied_hash"))
    phase = status_after.get("phase")
    moved = bool(status_after) and status_after != status_before
    if error is not None:
        if phase == "Failed" and moved:
            result, reason = ROLLED_BACK, status_after.get("reason") or str(error)
        elif not moved or decision not in _ANALYSED:
            result, reason = FAILED_TO_START, str(error)
        else:
            result, reason = FAILED, str(error)
    elif decision == "initialize" or (not status_before and phase == "Initialized"):
        result, reason = INITIALIZED, "canary objects created; the primary runs the current revision"
    elif decision in _ANALYSED and phase == "Succeeded":
        result, reason = PROMOTED, status_after.get("message") or "promoted"
    elif decision == "rolled_back":
        result, reason = UNCHANGED, "revision %s was rolled back before and is not analysed again" % revision
    elif decision in _ANALYSED:
        # the role ended without an error but not with a promotion: report what the status says
        result, reason = FAILED, "the rollout ended in phase %s: %s" % (phase, status_after.get("message") or "-")
    else:
        result, reason = UNCHANGED, "no new revision (phase %s)" % (phase or "-")
    return {
        "cluster": host,
        "result": result,
        "revision": revision,
        "promoted_revision": status_after.get("last_promoted_hash"),
        "phase": phase,
        "reason": reason,
        "started": started,
        "ended": ended,
        "duration": _seconds(started, ended),
        "stop": result in STOPS,
    }


def soak_before(results, soak_seconds):
    """Seconds to wait before the next cluster: ``soak_seconds`` after a promoted cluster, else 0.

    ``results``: the clusters done so far, in order. Nothing before the first cluster; the caller never
    asks after the last one (the soak runs before a cluster, not after).
    """
    if not results:
        return 0
    return int(soak_seconds) if results[-1].get("result") == PROMOTED else 0


def _clock(epoch):
    if epoch is None:
        return "-"
    return datetime.datetime.fromtimestamp(float(epoch), datetime.timezone.utc).strftime("%H:%M:%S")


def summary(hosts, results):
    """The fleet's outcome: every host of the plan with its result (``not started`` for the ones the fleet
    never reached), a text table, and the overall result.

    Returns ``{result, failed, message, stopped_at, clusters, counts, table}``; ``result`` is ``promoted`` when at least
    one cluster was promoted and none failed, ``unchanged`` when nothing changed, ``failed`` otherwise.
    """
    by_host = {}
    for entry in results or []:
        by_host[entry["cluster"]] = entry
    clusters = []
    stopped_at = None
    for host in hosts:
        entry = by_host.get(host)
        if entry is None:
            entry = {"cluster": host, "result": NOT_STARTED, "revision": None, "phase": None, "duration": None,
                     "started": None, "ended": None, "stop": False,
                     "reason": "the fleet stopped at %s" % stopped_at if stopped_at else "not reached"}
        elif entry.get("stop") and stopped_at is None:
            stopped_at = host
        clusters.append(entry)
    counts = dict((name, 0) for name in RESULTS)
    for entry in clusters:
        counts[entry["result"]] = counts.get(entry["result"], 0) + 1
    failed = stopped_at is not None
    if failed:
        overall = "failed"
    elif counts[PROMOTED]:
        overall = PROMOTED
    else:
        overall = UNCHANGED
    if failed:
        stop = [entry for entry in clusters if entry["cluster"] == stopped_at][0]
        after = [entry["cluster"] for entry in clusters if entry["result"] == NOT_STARTED]
        message = "The fleet stopped at %s (%s: %s); %s" % (
            stopped_at, stop["result"], " ".join(str(stop.get("reason") or "-").split()),
            "not started: %s" % ", ".join(after) if after else "it was the last cluster")
    else:
        message = "The fleet is done: %s" % ", ".join("%d %s" % (counts[k], k) for k in RESULTS if counts[k])
    return {
        "result": overall,
        "failed": failed,
        "message": message,
        "stopped_at": stopped_at,
        "clusters": clusters,
        "counts": dict((k, v) for k, v in counts.items() if v),
        "table": table(clusters),
    }


def table(clusters):
    """Fixed-width lines: cluster, revision, result, start, duration, reason."""
    header = ("CLUSTER", "REVISION", "RESULT", "START", "DURATION", "REASON")
    rows = [header]
    for entry in clusters:
        duration = entry.get("duration")
        rows.append((
            str(entry["cluster"]),
            str(entry.get("revision") or "-"),
            entry["result"],
            _clock(entry.get("started")),
            "-" if duration is None else "%.1fs" % duration,
            " ".join(str(entry.get("reason") or "-").split()),
        ))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row[:-1], widths)) + "  " + row[-1] for row in rows]
