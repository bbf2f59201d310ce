# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The canary's health at one look: is it crash-looping, failing to pull, restarting, stuck?

Flagger checks the canary's readiness only before the analysis starts and then trusts the metrics;
a canary that crash-loops without traffic (or with too little to move a metric) is only noticed at
the progress deadline. ``assess`` answers from what the API already returns - the canary
Deployment and its pods as dicts - so a wait can look at every poll without extra machinery.

Pure: no Ansible, no network. The caller lists the pods, keeps the restart counts of the previous
look (``answer["restarts"]``) and may add the culprit container's last log lines with
``with_logs``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime

# Waiting reasons a container does not leave by itself: the kubelet backs off and retries, but the
# revision will not become ready without a change to it (ContainerCreating and PodInitializing pass).
FATAL_WAITING = ("CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "CreateContainerConfigError",
                 "CreateContainerError", "InvalidImageName")

# What the pods/log read asks for: enough to name the error, little enough to keep a result small.
LOG_TAIL_LINES = 10
LOG_LIMIT_BYTES = 4096


def parse_time(value):
    """Seconds since the epoch of a UTC timestamp as the API writes it (``2026-12-01T16:03:36Z``); None if absent or unreadable."""
    if not value:
        return None
    # The API writes UTC with a Z; a fraction (MicroTime) is dropped: a second is as fine as a stuck time needs.
    text = str(value).rstrip("Z").split(".", 1)[0]
    try:
        moment = datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        return None
    return (moment - datetime.datetime(1970, 1, 1)).total_seconds()


def _condition(obj, kind):
    for condition in (obj.get("status") or {}).get("conditions") or []:
        if condition.get("type") == kind:
            return condition
    return None


def _state_words(state):
    """``{"state": "waiting"|"terminated"|"running", "reason", "message", "exit_code"}`` of a container state dict."""
    for key in ("waiting", "terminated", "running"):
        if key in (state or {}) and state[key] is not None:
            detail = state[key] or {}
            words = {"state": key, "reason": detail.get("reason") or "", "message": detail.get("message") or ""}
            if key == "terminated":
                words["exit_code"] = detail.get("exitCode")
            return words
    return None


def _describe_pod(pod):
    status = pod.get("status") or {}
    ready = _condition(pod, "Ready")
    containers = []
    for spec in (pod.get("spec") or {}).get("containers") or []:
        container_status = None
        for candidate in status.get("containerStatuses") or []:
            if candidate.get("name") == spec.get("name"):
                container_status = candidate
        if container_status is None:
            # Not started yet (just scheduled, or the node has not reported): nothing to judge.
            containers.append({"name": spec.get("name"), "ready": False, "restarts": 0, "state": None, "last_state": None})
            continue
        containers.append({
            "name": spec.get("name"),
            "ready": bool(container_status.get("ready")),
            "restarts": int(container_status.get("restartCount") or 0),
            "state": _state_words(container_status.get("state")),
            "last_state": _state_words(container_status.get("lastState")),
        })
    return {
        "name": (pod.get("metadata") or {}).get("name"),
        "ready": bool(ready and ready.get("status") == "True"),
        "ready_changed": parse_time((ready or {}).get("lastTransitionTime")),
        "created": parse_time((pod.get("metadata") or {}).get("creationTimestamp")),
        "deleting": bool((pod.get("metadata") or {}).get("deletionTimestamp")),
        "phase": status.get("phase"),
        "containers": containers,
    }


def _restart_words(container):
    if not container["restarts"]:
        return ""
    words = "restarted %d time%s" % (container["restarts"], "" if container["restarts"] == 1 else "s")
    last = container["last_state"]
    if last and last["state"] == "terminated":
        words += ", last exit code %s" % last.get("exit_code")
        if last["reason"]:
            words += ": %s" % last["reason"]
    return words


def _fatal(container):
    """The words of a container's fatal state, or None."""
    state = container["state"]
    if not state:
        return None
    if state["state"] == "waiting" and state["reason"] in FATAL_WAITING:
        return state["reason"]
    if state["state"] == "terminated" and state.get("exit_code") not in (None, 0):
        return "terminated with exit code %s%s" % (state["exit_code"], ": %s" % state["reason"] if state["reason"] else "")
    return None


def _explain(pod_name, container, what, extra=""):
    details = [word for word in (_restart_words(container), extra) if word]
    message = (container["state"] or {}).get("message") or ""
    reason = "canary %s container %s %s" % (pod_name, container["name"], what)
    if details:
        reason += " (%s)" % ", ".join(details)
    if message and message not in reason:
        reason += ": %s" % message
    return reason


def stuck_since(deployment, pods):
    """When the canary stopped being fully ready (seconds since the epoch), None when it is.

    Read from the objects, not from the caller's memory, so that one module call after another
    (each interval of a run) measures the same stretch: the oldest not-ready pod's Ready transition
    (its creation when it has none yet), else the Deployment's Available transition.
    """
    spec = deployment.get("spec") or {}
    status = deployment.get("status") or {}
    desired = spec.get("replicas", 1)
    ready = status.get("readyReplicas") or 0
    not_ready = [pod for pod in pods if not pod["ready"] and not pod["deleting"]]
    if ready >= desired and not not_ready:
        return None
    times = [pod["ready_changed"] or pod["created"] for pod in not_ready if pod["ready_changed"] or pod["created"]]
    if times:
        return min(times)
    available = _condition(deployment, "Available") or {}
    progressing = _condition(deployment, "Progressing") or {}
    return parse_time(available.get("lastTransitionTime")) or parse_time(progressing.get("lastUpdateTime"))


def assess(deployment, pods, previous_restarts=None, grace_seconds=0.0, now=None):
    """The canary's health: a dict.

    - ``healthy`` and ``reason`` (empty when healthy) in Flagger's words, naming the pod, the
      container and its state;
    - ``pods``: ``[{name, ready, restarts, state, last_state}]``, one entry per container
      (``state`` / ``last_state`` are ``{state, reason, message[, exit_code]}`` or null);
    - ``culprit``: ``{pod, container}`` whose logs explain the reason, or None;
    - ``ready_replicas``, ``desired_replicas``, ``stuck_seconds`` (how long the canary has not been
      fully ready; 0 when it is) - the data for a progress deadline during the analysis;
    - ``restarts``: ``{"pod/container": count}`` to pass back as ``previous_restarts`` next time.

    Unhealthy when a container is in a fatal waiting state or terminated with an error, when its
    restarts climbed since ``previous_restarts``, or when fewer replicas than desired were ready for
    longer than ``grace_seconds`` (None: the count is reported, not judged). ``now``: seconds since
    the epoch (the caller's clock).
    """
    if deployment is None:
        return {"healthy": False, "reason": "the canary Deployment does not exist", "pods": [], "culprit": None,
                "ready_replicas": 0, "desired_replicas": 0, "stuck_seconds": 0.0, "restarts": {}}
    name = deployment["metadata"]["name"]
    previous_restarts = previous_restarts or {}
    described = sorted((_describe_pod(pod) for pod in pods), key=lambda pod: pod["name"] or "")
    entries, restarts, problems = [], {}, []
    for pod in described:
        for container in pod["containers"]:
            key = "%s/%s" % (pod["name"], container["name"])
            restarts[key] = container["restarts"]
            entries.append({"name": pod["name"], "container": container["name"], "ready": container["ready"],
                            "restarts": container["restarts"], "state": container["state"],
                            "last_state": container["last_state"]})
            if pod["deleting"]:
                continue  # a pod on its way out (scale-down, rollout) is not the canary's health
            fatal = _fatal(container)
            if fatal:
                problems.append((pod["name"], container, fatal, ""))
                continue
            before = previous_restarts.get(key)
            if before is not None and container["restarts"] > before:
                climbed = container["restarts"] - before
                state = container["state"] or {}
                what = state.get("reason") or state.get("state") or "restarting"
                problems.append((pod["name"], container, what,
                                 "%d restart%s since the previous check" % (climbed, "" if climbed == 1 else "s")))
    spec = deployment.get("spec") or {}
    desired = spec.get("replicas", 1)
    ready = (deployment.get("status") or {}).get("readyReplicas") or 0
    since = stuck_since(deployment, described)
    stuck = round(max((now or 0) - since, 0.0), 3) if since is not None and now is not None else 0.0
    answer = {"healthy": True, "reason": "", "pods": entries, "culprit": None, "ready_replicas": ready,
              "desired_replicas": desired, "stuck_seconds": stuck, "restarts": restarts}
    if problems:
        pod_name, container, what, extra = problems[0]
        answer.update(healthy=False, reason=_explain(pod_name, container, what, extra),
                      culprit={"pod": pod_name, "container": container["name"]})
    elif grace_seconds is not None and since is not None and ready < desired and stuck > grace_seconds:
        answer.update(healthy=False, reason="canary %s has %d of %d replicas ready for %ds (more than the %gs grace)"
                      % (name, ready, desired, stuck, grace_seconds))
    return answer


def with_logs(answer, lines=None, error=None):
    """``answer`` with the culprit's last log lines (or why they could not be read) added to the reason."""
    if answer["healthy"] or not answer.get("culprit"):
        return answer
    answer = dict(answer)
    if lines:
        text = lines.rstrip("\n").splitlines()[-LOG_TAIL_LINES:]
        answer["logs"] = text
        answer["reason"] += "; last log lines: %s" % " | ".join(text)
    elif error is not None:
        answer["logs"] = None
        answer["reason"] += "; logs unavailable (%s)" % error
    return answer
