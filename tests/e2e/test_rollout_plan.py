"""The dry run of the rollout playbook (``--check --diff``) on the real lab: the plan is printed, the diffs of what
the run would write are shown, and nothing is written, locked or waited for."""

import subprocess
import time

import pytest

from tests.mesh import podinfo_deployment, wait_for

from .conftest import REPO, Canary, kill_group

pytestmark = pytest.mark.lab


def dry_run(target, **overrides):
    started = time.monotonic()
    result = subprocess.run(target.command("rollout", target.vars(**overrides)) + ["--check", "--diff"], env=target.env(), cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300)
    return result.returncode, result.stdout, time.monotonic() - started


def cluster_state(target):
    """What a dry run must leave as it found it: every Deployment's spec, the routes, the status and the lock (a
    Deployment's resourceVersion moves with its status, which the controllers write; its generation moves with its spec)."""
    store, ns = target.cluster.store, target.namespace
    state = {}
    for api_version, kind in (("apps/v1", "Deployment"), ("v1", "Service"), ("v1", "ConfigMap"), ("coordination.k8s.io/v1", "Lease"),
                              ("networking.istio.io/v1beta1", "VirtualService"), ("networking.istio.io/v1beta1", "DestinationRule")):
        for obj in store.list(api_version, kind, ns):
            version = obj["metadata"]["generation"] if kind == "Deployment" else obj["metadata"]["resourceVersion"]
            state["%s/%s" % (kind, obj["metadata"]["name"])] = (obj.get("spec"), obj.get("data"), version)
    return state


def test_dry_run_of_a_first_run_shows_the_initialization_and_writes_nothing(shared_lab, namespace, tmp_path):
    shared_lab.store.create(podinfo_deployment(namespace, "6.0.0", replicas=1))
    target = Canary(shared_lab, namespace, tmp_path)
    before = cluster_state(target)
    rc, out, seconds = dry_run(target)
    assert rc == 0, out
    assert "initialize the canary" in out and "no new revision" in out, out
    # the diff of what canary_init would create
    assert "Deployment/podinfo-primary" in out and "VirtualService/podinfo" in out, out
    assert cluster_state(target) == before
    assert target.get("apps/v1", "Deployment", "podinfo-primary") is None
    print("\ndry run of a first run: %.1f s" % seconds)


def test_dry_run_of_a_new_revision_prints_the_schedule_and_the_diff_without_waiting(canary):
    canary.release("6.0.1")
    before = cluster_state(canary)
    analysis = {"interval": "30s", "step_weights": [20, 40, 60]}
    rc, out, seconds = dry_run(canary, rollout_analysis=analysis, rollout_gates=["promotion"])
    assert rc == 0, out
    for line in ("analyse revision", "strategy canary, one check every 30s, rollback after 2 failed checks",
                 "+0s step 0: weight 20%", "+30s step 1: weight 40%", "+1m00s step 2: weight 60%",
                 "+1m30s promote: copy the canary to podinfo-primary", "approvals waited for (at most 120s each): promotion",
                 "ETA +1m30s after the canary is ready, if every check passes and every approval is given at once"):
        assert line in out, line + "\n" + out
    # the promotion's diff: the primary's image would change
    assert "ghcr.io/stefanprodan/podinfo:6.0.1" in out and "ghcr.io/stefanprodan/podinfo:6.0.0" in out
    # three 30 s intervals are planned; the dry run does not sleep through them
    assert seconds < 60, seconds
    assert cluster_state(canary) == before
    assert canary.status()["phase"] == "Initialized" and canary.replicas("podinfo") == 0
    print("\ndry run of a new revision: %.1f s" % seconds)


def test_dry_run_names_the_holder_of_the_lock(canary):
    canary.release("6.0.1")
    # the lock's TTL is kept longer than a step can take on a loaded machine: at the default 10 s, a step that spends
    # more than 10 s outside its waits (CI's two test workers) lets the lease run out just when the plan reads it
    run = canary.start(rollout_analysis={"interval": "2s", "step_weights": [30]}, rollout_gates=["promotion"],
                       rollout_lock_ttl=120)
    try:
        wait_for(lambda: canary.status().get("phase") == "WaitingPromotion", 240, "the run waiting for the promotion gate")
        before = cluster_state(canary)
        rc, out, _seconds = dry_run(canary, rollout_lock_holder="planner")
        assert rc == 0, out
        assert "is locked by" in out, out
        # the running analysis is resumed by a real run: the plan starts after its step
        assert "resume the analysis of" in out, out
        after = cluster_state(canary)
        # the running analysis renews its lease meanwhile; nothing else moved
        assert dict((k, v) for k, v in after.items() if not k.startswith(("Lease/", "ConfigMap/podinfo-canary-status"))) == \
            dict((k, v) for k, v in before.items() if not k.startswith(("Lease/", "ConfigMap/podinfo-canary-status")))
    finally:
        kill_group(run)
