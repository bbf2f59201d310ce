"""The rollout role and playbooks end to end, through ansible-playbook, against the session's lab
(``shared_lab``: the real kube-apiserver and controllers, podinfo pods as real processes, the lab's
Prometheus), each test in a namespace of its own. Metric values come from constant PromQL queries so
each verdict is known in advance; real traffic and Istio-shaped metrics are molecule/lab's job."""

import re
import time

import pytest

from .conftest import kill_group, wait_for_line

pytestmark = pytest.mark.prometheus

FAILING = {"metrics": [{"name": "error-free", "query": "vector(50)", "threshold_range": {"min": 99}}]}


def recap_changed(output):
    return int(re.search(r"localhost\s+: ok=\d+\s+changed=(\d+)", output).group(1))


def lines(output):
    """The progress lines (debug output), not the error messages of failed tasks, nor the report's path that ends every
    run (tests/e2e/test_rollout_report.py)."""
    return [line for line in re.findall(r'^    "msg": "(.*)"$', output, re.M) if not line.startswith("Report of ")]


def test_promotion_then_nothing_new(canary):
    # the initializing run recorded its event; a run with nothing new changes nothing
    assert canary.events() == ["Initialization done! podinfo.%s" % canary.namespace]
    rc, out = canary.run()
    assert rc == 0 and recap_changed(out) == 0, out
    assert "No new revision of podinfo.%s" % canary.namespace in out

    canary.release("6.0.1")
    rc, out = canary.run()
    assert rc == 0, out
    name = "podinfo.%s" % canary.namespace
    expected = [
        "New revision detected! Scaling up " + name,
        "Starting canary analysis for " + name,
        "Advance %s canary weight 50" % name,
        "Advance %s canary weight 100" % name,
        "Copying %s template spec to podinfo-primary.%s" % (name, canary.namespace),
        "Routing all traffic to primary",
        "Promotion completed! Scaling down " + name,
    ]
    assert lines(out) == expected
    assert canary.events()[1:] == expected  # a Kubernetes Event on the target for each line
    assert canary.image("podinfo-primary").endswith(":6.0.1")
    assert canary.weights() == {"podinfo-primary": 100, "podinfo-canary": 0}
    assert canary.replicas("podinfo") == 0
    status = canary.status()
    assert status["phase"] == "Succeeded"
    assert status["last_promoted_hash"] == status["last_applied_hash"]
    assert status["iterations"] == 2 and status["failed_checks"] == 0
    assert [m["value"] for m in status["last_analysis"]] == [100.0]
    lease = canary.get("coordination.k8s.io/v1", "Lease", "podinfo-canary-lock")
    assert not lease["spec"].get("holderIdentity")  # given back

    rc, out = canary.run()
    assert rc == 0 and recap_changed(out) == 0, out
    assert "No new revision" in out

    rc, out = canary.run("status")
    assert rc == 0 and "phase Succeeded" in out and "podinfo-primary 100" in out, out


def test_failed_checks_roll_back_through_the_handler(canary):
    canary.release("6.0.2")
    rc, out = canary.run(rollout_analysis=FAILING)
    assert rc != 0, out
    name = "podinfo.%s" % canary.namespace
    said = lines(out)
    assert said[:5] == [
        "New revision detected! Scaling up " + name,
        "Starting canary analysis for " + name,
        "Advance %s canary weight 50" % name,
        "Halt %s advancement error-free 50.00 < 99" % name,
        "Halt %s advancement error-free 50.00 < 99" % name,
    ], out
    assert said[5].startswith("Rolling back %s failed checks threshold reached 2" % name)
    assert said[6] == "Canary failed! Scaling down " + name
    # the handler ran before the play failed with the summary
    summary = out.index("Rollout of %s failed and was rolled back" % name)
    assert out.index("Route all traffic to the primary and scale the canary down") < summary
    assert "Last analysis: error-free 50.00 < 99" in out[summary:]

    assert canary.weights() == {"podinfo-primary": 100, "podinfo-canary": 0}
    assert canary.replicas("podinfo") == 0
    assert canary.image("podinfo-primary").endswith(":6.0.0")
    status = canary.status()
    assert status["phase"] == "Failed" and status["failed_checks"] == 2
    assert status["reason"].startswith("failed checks threshold reached 2")
    assert status["last_analysis"][0]["value"] == 50.0
    assert any(e.startswith("Rolling back " + name) for e in canary.events())

    # the failed revision is remembered and not analysed again
    rc, out = canary.run(rollout_analysis=FAILING)
    assert rc == 0 and recap_changed(out) == 0, out
    assert "was rolled back" in out and "not analysed again" in out


def test_a_canary_that_never_gets_ready_is_rolled_back(canary):
    canary.release("6.0.3", readinessProbe={"httpGet": {"path": "/readyz", "port": 9898}, "initialDelaySeconds": 3600})
    started = time.monotonic()
    rc, out = canary.run(rollout_progress_deadline_seconds=3)
    assert rc != 0
    assert time.monotonic() - started < 60
    assert "progress deadline exceeded canary deployment podinfo.%s not ready" % canary.namespace in out
    assert canary.status()["phase"] == "Failed"
    assert canary.replicas("podinfo") == 0


def test_lock_held_by_another_run_fails_at_once(canary):
    now = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
    canary.cluster.store.update(dict(canary.get("coordination.k8s.io/v1", "Lease", "podinfo-canary-lock"), spec={
        "holderIdentity": "alice@elsewhere:42", "leaseDurationSeconds": 300, "acquireTime": now, "renewTime": now}))
    canary.release("6.0.1")
    started = time.monotonic()
    rc, out = canary.run()
    assert rc != 0
    assert time.monotonic() - started < 30
    assert "is locked by alice@elsewhere:42 since %s" % now in out
    assert canary.status()["phase"] == "Initialized"  # nothing happened
    assert canary.replicas("podinfo") == 0


def test_killed_run_resumes_at_the_recorded_weight(canary):
    canary.release("6.0.1")
    slow = {"interval": "3s", "step_weights": [20, 40, 60, 80]}
    first = canary.start(rollout_analysis=slow, rollout_lock_ttl=600)
    try:
        wait_for_line(first, "canary weight 40")
    finally:
        kill_group(first)
    assert canary.weights()["podinfo-canary"] in (40, 60)

    # the killed run still holds the lock: a re-run fails at once naming it
    rc, out = canary.run(rollout_analysis=slow)
    assert rc != 0 and "is locked by" in out

    # the operator takes the lock over and the analysis resumes where it stopped
    recorded = canary.status()
    assert recorded["phase"] == "Progressing"
    rc, out = canary.run(rollout_analysis=slow, rollout_lock_force=True)
    assert rc == 0, out
    assert "Resuming the analysis of podinfo.%s at canary weight %d" % (canary.namespace, recorded["canary_weight"]) in out
    assert "New revision detected" not in out
    assert canary.status()["phase"] == "Succeeded"
    assert canary.image("podinfo-primary").endswith(":6.0.1")
    assert canary.weights() == {"podinfo-primary": 100, "podinfo-canary": 0}


def test_abort_and_promote_playbooks(canary):
    canary.release("6.0.1")
    slow = {"interval": "3s", "step_weights": [20, 40, 60, 80]}
    run = canary.start(rollout_analysis=slow)
    try:
        wait_for_line(run, "canary weight 20")
        rc, out = canary.run("abort", rollout_reason="bad smell")
        assert rc == 0 and "Abort of podinfo.%s requested" % canary.namespace in out, out
        output, _ = run.communicate(timeout=60)
    finally:
        kill_group(run)
    assert run.returncode != 0
    # the operator's reason, not a generic one (the safety issue)
    assert "Rolling back podinfo.%s bad smell" % canary.namespace in output
    assert canary.status()["phase"] == "Failed" and canary.status()["reason"] == "bad smell"
    assert canary.weights() == {"podinfo-primary": 100, "podinfo-canary": 0}

    # nobody runs the canary now: promote promotes the target at once, without analysis
    rc, out = canary.run("promote")
    assert rc == 0, out
    assert "Promotion completed! Scaling down podinfo.%s" % canary.namespace in out
    assert canary.status()["phase"] == "Succeeded"
    assert canary.image("podinfo-primary").endswith(":6.0.1")


def test_bad_settings_fail_before_touching_the_cluster(canary):
    before = canary.status()
    rc, out = canary.run(rollout_analysis={"step_weights": [50, 20]})
    assert rc != 0 and "step_weights must be strictly ascending" in out
    rc, out = canary.run(rollout_analysis={"interval": "soon"})
    assert rc != 0 and "rollout_analysis.interval must be a duration" in out
    rc, out = canary.run(rollout_target="")
    assert rc != 0 and "Set rollout_target" in out
    assert canary.status() == before


def test_promotion_by_steps(canary):
    canary.release("6.0.1")
    rc, out = canary.run(rollout_analysis={"step_weights": [50], "step_weight_promotion": 25})
    assert rc == 0, out
    name = "podinfo.%s" % canary.namespace
    primary = "podinfo-primary.%s" % canary.namespace
    assert lines(out)[2:] == [
        "Advance %s canary weight 50" % name,
        "Copying %s template spec to %s" % (name, primary),
        "Advance %s primary weight 75" % primary,
        "Advance %s primary weight 100" % primary,
        "Routing all traffic to primary",
        "Promotion completed! Scaling down " + name,
    ], out
    assert canary.weights() == {"podinfo-primary": 100, "podinfo-canary": 0}
    assert canary.replicas("podinfo") == 0
    assert canary.status()["phase"] == "Succeeded"


def test_a_dead_load_generator_rolls_back(canary):
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    canary.release("6.0.1")
    rc, out = canary.run(rollout_analysis={"step_weights": [20, 40, 60, 80, 100]},
                         rollout_load={"url": "http://127.0.0.1:%d/" % closed, "qps": 2, "concurrency": 1, "timeout": 1})
    assert rc != 0, out
    assert "Rolling back podinfo.%s load generator failed: hey got no HTTP response" % canary.namespace in out, out
    status = canary.status()
    assert status["phase"] == "Failed" and status["reason"].startswith("load generator failed")
    assert canary.weights() == {"podinfo-primary": 100, "podinfo-canary": 0}
    assert canary.image("podinfo-primary").endswith(":6.0.0")
