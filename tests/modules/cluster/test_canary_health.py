"""canary_wait(watch_health=true) against the lab's real API server and node agent: a canary whose
podinfo exits at once (an unknown flag) ends the wait within seconds; a healthy one is waited out."""

import pathlib
import time

from ansible_collections.progressive.delivery.plugins.modules import canary_wait

from tests.modules.cluster.harness import podinfo_deployment, run_module, seed


def ready_replicas(lab):
    return (lab.store.get("apps/v1", "Deployment", lab.namespace, "podinfo").get("status") or {}).get("readyReplicas") or 0


def test_a_crash_looping_canary_ends_the_wait_with_the_pod_and_its_state(lab):
    # pflag rejects the flag and podinfo exits 2 before it listens: a real crash loop on the node agent.
    seed(lab, podinfo_deployment(replicas=1, containers=[{
        "name": "podinfod", "image": "ghcr.io/stefanprodan/podinfo:6.0.1", "command": ["./podinfo", "--no-such-flag"]}]))
    started = time.monotonic()
    result = run_module(canary_wait, lab, dict(target="podinfo", seconds=60, poll=0.2, watch_health=True))
    elapsed = time.monotonic() - started
    assert not result.get("failed"), result
    assert result["interrupted"] is None
    unhealthy = result["unhealthy"]
    assert unhealthy, result
    pod = unhealthy["pods"][0]
    assert pod["name"].startswith("podinfo-") and pod["container"] == "podinfod"
    reason = unhealthy["reason"]
    assert reason.startswith("canary %s container podinfod " % pod["name"]), reason
    assert "CrashLoopBackOff" in reason or "exit code 2" in reason, reason
    # pods/log through the API server to the node agent's kubelet API: the last lines of the crashed instance, the
    # same as the end of the node agent's log file of the container
    written = (pathlib.Path(lab.info["logs"]) / "pods" / ("%s_%s_podinfod.log" % (lab.namespace, pod["name"]))).read_text()
    last = written.rstrip("\n").splitlines()[-10:]
    assert "--no-such-flag" in written and unhealthy["reason"].endswith("; last log lines: " + " | ".join(last)), reason
    assert result["health"]["logs"] == last
    assert result["health"]["healthy"] is False and result["health"]["culprit"] == {"pod": pod["name"], "container": "podinfod"}
    assert elapsed < 15, elapsed


def test_a_healthy_canary_is_waited_out(lab):
    seed(lab, podinfo_deployment(replicas=1))
    lab.wait_for(lambda: ready_replicas(lab) == 1, 60, "the canary's pod to be ready")
    result = run_module(canary_wait, lab, dict(target="podinfo", seconds=3, poll=0.2, watch_health=True, health_grace=30))
    assert not result.get("failed"), result
    assert result["unhealthy"] is None and result["interrupted"] is None
    assert result["waited"] >= 3
    health = result["health"]
    assert health["healthy"] is True and health["ready_replicas"] == 1 and health["stuck_seconds"] == 0
    assert [(p["container"], p["ready"], p["restarts"]) for p in health["pods"]] == [("podinfod", True, 0)]


def test_without_watch_health_nothing_changes(lab):
    seed(lab, podinfo_deployment(replicas=1, containers=[{
        "name": "podinfod", "image": "ghcr.io/stefanprodan/podinfo:6.0.1", "command": ["./podinfo", "--no-such-flag"]}]))
    result = run_module(canary_wait, lab, dict(target="podinfo", seconds=2, poll=0.2))
    assert not result.get("failed"), result
    assert "unhealthy" not in result and "health" not in result and result["waited"] >= 2


def test_check_mode_looks_once(lab):
    seed(lab, podinfo_deployment(replicas=1))
    result = run_module(canary_wait, lab, dict(target="podinfo", seconds=30, watch_health=True), check=True)
    assert not result.get("failed") and result["changed"] is False, result
    assert result["waited"] < 5 and "health" in result
