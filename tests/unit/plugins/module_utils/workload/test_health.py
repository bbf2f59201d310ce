"""The canary's health from its Deployment and pods, as the API returns them."""

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils.workload import health

NOW = health.parse_time("2026-12-01T16:10:00Z")


def deployment(replicas=1, ready=1):
    return {"metadata": {"name": "podinfo", "namespace": "test"}, "spec": {"replicas": replicas},
            "status": {"replicas": replicas, "readyReplicas": ready}}


def pod(name="podinfo-7d9c-abcde", ready=True, restarts=0, state=None, last_state=None, statuses=True,
        ready_since="2026-12-01T16:00:00Z", deleting=False):
    container_status = {"name": "podinfo", "ready": ready, "restartCount": restarts,
                        "state": state or {"running": {"startedAt": "2026-12-01T16:00:00Z"}}}
    if last_state:
        container_status["lastState"] = last_state
    obj = {"metadata": {"name": name, "creationTimestamp": "2026-12-01T15:59:00Z"},
           "spec": {"containers": [{"name": "podinfo"}]},
           "status": {"phase": "Running",
                      "conditions": [{"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": ready_since}]}}
    if statuses:
        obj["status"]["containerStatuses"] = [container_status]
    if deleting:
        obj["metadata"]["deletionTimestamp"] = "2026-12-01T16:09:00Z"
    return obj


CRASHED = {"terminated": {"exitCode": 1, "reason": "Error"}}


def test_a_ready_canary_is_healthy():
    answer = health.assess(deployment(), [pod()], now=NOW)
    assert answer["healthy"] is True and answer["reason"] == ""
    assert answer["stuck_seconds"] == 0.0 and answer["culprit"] is None
    assert answer["restarts"] == {"podinfo-7d9c-abcde/podinfo": 0}
    assert answer["pods"] == [{"name": "podinfo-7d9c-abcde", "container": "podinfo", "ready": True, "restarts": 0,
                               "state": {"state": "running", "reason": "", "message": ""}, "last_state": None}]


def test_crash_loop_names_pod_container_restarts_and_last_exit():
    crashing = pod(ready=False, restarts=3, last_state=CRASHED,
                   state={"waiting": {"reason": "CrashLoopBackOff", "message": "back-off restarting failed container podinfo"}})
    answer = health.assess(deployment(ready=0), [crashing], now=NOW)
    assert answer["healthy"] is False
    assert answer["reason"] == ("canary podinfo-7d9c-abcde container podinfo CrashLoopBackOff (restarted 3 times, last exit "
                                "code 1: Error): back-off restarting failed container podinfo")
    assert answer["culprit"] == {"pod": "podinfo-7d9c-abcde", "container": "podinfo"}
    assert answer["pods"][0]["last_state"] == {"state": "terminated", "reason": "Error", "message": "", "exit_code": 1}


@pytest.mark.parametrize("reason", ["ImagePullBackOff", "ErrImagePull", "CreateContainerConfigError"])
def test_fatal_waiting_reasons(reason):
    answer = health.assess(deployment(ready=0), [pod(ready=False, state={"waiting": {"reason": reason, "message": "why"}})], now=NOW)
    assert answer["healthy"] is False
    assert answer["reason"] == "canary podinfo-7d9c-abcde container podinfo %s: why" % reason


def test_container_creating_is_not_fatal():
    answer = health.assess(deployment(ready=0), [pod(ready=False, ready_since="2026-12-01T16:09:58Z",
                                                     state={"waiting": {"reason": "ContainerCreating"}})],
                           grace_seconds=30, now=NOW)
    assert answer["healthy"] is True and answer["stuck_seconds"] == 2.0


def test_terminated_with_an_error():
    answer = health.assess(deployment(ready=0), [pod(ready=False, restarts=1, state=CRASHED)], now=NOW)
    assert answer["healthy"] is False
    assert answer["reason"] == "canary podinfo-7d9c-abcde container podinfo terminated with exit code 1: Error (restarted 1 time)"


def test_terminated_cleanly_is_not_fatal():
    answer = health.assess(deployment(), [pod(state={"terminated": {"exitCode": 0, "reason": "Completed"}})], now=NOW)
    assert answer["healthy"] is True


def test_restarts_climbing_since_the_previous_check():
    first = health.assess(deployment(), [pod(restarts=2, last_state=CRASHED)], now=NOW)
    assert first["healthy"] is True  # restarts before the first look are history, not news
    again = health.assess(deployment(), [pod(restarts=2, last_state=CRASHED)], previous_restarts=first["restarts"], now=NOW)
    assert again["healthy"] is True
    climbed = health.assess(deployment(), [pod(restarts=4, last_state=CRASHED)], previous_restarts=first["restarts"], now=NOW)
    assert climbed["healthy"] is False
    assert climbed["reason"] == ("canary podinfo-7d9c-abcde container podinfo running (restarted 4 times, last exit code 1: "
                                 "Error, 2 restarts since the previous check)")


def test_a_missing_container_status_is_not_judged():
    answer = health.assess(deployment(ready=0), [pod(ready=False, statuses=False, ready_since=None)], grace_seconds=900, now=NOW)
    assert answer["healthy"] is True
    assert answer["pods"][0]["state"] is None and answer["pods"][0]["restarts"] == 0
    # its creation (11 minutes ago) starts the stuck time
    assert answer["stuck_seconds"] == 660.0


def test_too_few_ready_replicas_beyond_the_grace():
    pods = [pod(), pod(name="podinfo-7d9c-fghij", ready=False, ready_since="2026-12-01T16:08:20Z")]
    within = health.assess(deployment(replicas=2, ready=1), pods, grace_seconds=200, now=NOW)
    assert within["healthy"] is True and within["stuck_seconds"] == 100.0
    beyond = health.assess(deployment(replicas=2, ready=1), pods, grace_seconds=60, now=NOW)
    assert beyond["healthy"] is False
    assert beyond["reason"] == "canary podinfo has 1 of 2 replicas ready for 100s (more than the 60s grace)"
    assert beyond["ready_replicas"] == 1 and beyond["desired_replicas"] == 2


def test_stuck_time_from_the_deployment_when_pods_are_missing():
    dep = deployment(replicas=2, ready=1)
    dep["status"]["conditions"] = [{"type": "Available", "status": "False", "lastTransitionTime": "2026-12-01T16:05:00Z"}]
    answer = health.assess(dep, [pod()], grace_seconds=10, now=NOW)
    assert answer["stuck_seconds"] == 300.0 and answer["healthy"] is False


def test_a_deleting_pod_is_not_the_canary_health():
    dying = pod(name="podinfo-old-xxxxx", ready=False, deleting=True, state=CRASHED)
    answer = health.assess(deployment(), [pod(), dying], now=NOW)
    assert answer["healthy"] is True


def test_missing_deployment():
    assert health.assess(None, [], now=NOW)["healthy"] is False


def test_logs_are_added_or_why_not():
    crashing = health.assess(deployment(ready=0), [pod(ready=False, state={"waiting": {"reason": "ErrImagePull"}})], now=NOW)
    lines = "\n".join("line %d" % n for n in range(15)) + "\n"
    with_lines = health.with_logs(crashing, lines=lines)
    assert with_lines["logs"] == ["line %d" % n for n in range(5, 15)]
    assert with_lines["reason"].endswith("; last log lines: line 5 | line 6 | line 7 | line 8 | line 9 | line 10 | line 11 | "
                                         "line 12 | line 13 | line 14")
    unavailable = health.with_logs(crashing, error="404 Not Found")
    assert unavailable["reason"].endswith("ErrImagePull; logs unavailable (404 Not Found)")
    assert "logs" not in crashing
    healthy = health.assess(deployment(), [pod()], now=NOW)
    assert health.with_logs(healthy, error="x") is healthy


def test_parse_time():
    assert health.parse_time("1970-01-01T00:01:00Z") == 60.0
    assert health.parse_time("1970-01-01T00:01:00.123456Z") == 60.0
    assert health.parse_time(None) is None and health.parse_time("yesterday") is None
