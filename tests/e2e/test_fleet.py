"""The fleet and reconcile playbooks end to end, through ansible-playbook, against the session's lab.

The fleet: a three-"cluster" inventory whose hosts all reach the same lab (same kubeconfig), each with its own
namespace and canary - a real fleet has one kubeconfig or context per host. The verdicts come from constant PromQL
queries, as in test_rollout_role.py: cluster 2's host variables carry the failing one, and its release is podinfo
with ``--random-error=true``.

Reconcile: a rollout runner SIGKILLed mid-analysis leaves its canary in Progressing with split traffic; the reconcile
playbook leaves it alone while the lease is live and rolls it back once the lease ran out."""

import calendar
import json
import os
import re
import subprocess
import sys
import time

import pytest
import yaml

from tests.cluster import Namespaces
from tests.mesh import podinfo_deployment

from .conftest import REPO, Canary, kill_group, wait_for_line

pytestmark = pytest.mark.prometheus

FAILING = {"metrics": [{"name": "error-free", "query": "vector(50)", "threshold_range": {"min": 99}}]}
SOAK = 5


def epoch(stamp):
    """Seconds since the epoch of a status time (``2026-01-02T03:04:05Z``)."""
    return calendar.timegm(time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S"))


def custom_stats(output, name):
    """The artifact ``name`` that set_stats published (ANSIBLE_SHOW_CUSTOM_STATS prints it after the recap)."""
    block = output[output.index("CUSTOM STATS"):]
    start = block.index("{")
    stats, _ = json.JSONDecoder().raw_decode(block[start:])
    return stats[name]


def playbook(canary, name, inventory=None, extra=None, timeout=600, timed=None):
    command = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "progressive.delivery." + name]
    if inventory:
        command += ["-i", str(inventory)]
    if extra:
        path = canary.tmp_path / ("%s-extra-%d.json" % (name, time.monotonic_ns()))
        path.write_text(json.dumps(extra))
        command += ["-e", "@%s" % path]
    env = dict(canary.env(), ANSIBLE_SHOW_CUSTOM_STATS="1")
    process = subprocess.Popen(command, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               start_new_session=True)
    lines = []
    deadline = time.monotonic() + timeout
    try:
        for line in process.stdout:
            lines.append((time.monotonic(), line))
            assert time.monotonic() < deadline, "the run did not end within %d s:\n%s" % (timeout, "".join(l for _, l in lines)[-6000:])
    finally:
        if process.poll() is None:
            kill_group(process)
    process.wait(timeout=30)
    if timed is not None:
        timed[:] = lines
    return process.returncode, "".join(line for _, line in lines)


def seen_at(timed, text, after=0.0):
    """When the run printed the first line with ``text`` (after ``after``)."""
    for moment, line in timed:
        if moment > after and text in line:
            return moment
    raise AssertionError("%r never printed" % text)


@pytest.fixture
def fleet(shared_lab, namespace, tmp_path):
    """Three canaries (podinfo 6.0.0), one per namespace, as three inventory hosts c1, c2, c3."""
    namespaces = Namespaces(shared_lab.store)
    names = [namespace, namespaces.create("fleet-c2"), namespaces.create("fleet-c3")]
    try:
        canaries = []
        for index, name in enumerate(names):
            shared_lab.store.create(podinfo_deployment(name, "6.0.0", replicas=1))
            directory = tmp_path / ("c%d" % (index + 1))
            directory.mkdir()
            canaries.append(Canary(shared_lab, name, directory))
        yield canaries
    finally:
        for name in names[1:]:
            namespaces.delete(name)


def inventory(canaries, path, **per_host):
    hosts = {}
    for index, canary in enumerate(canaries):
        host = "c%d" % (index + 1)
        hosts[host] = canary.vars(**per_host.get(host, {}))
    path.write_text(yaml.safe_dump({"all": {"hosts": hosts}}))
    return path


def generation(canary):
    return canary.get("apps/v1", "Deployment", "podinfo")["metadata"]["generation"]


@pytest.mark.timing
def test_a_failed_cluster_stops_the_fleet(fleet):
    c1, c2, c3 = fleet
    path = inventory(fleet, c1.tmp_path / "fleet.yml", c2={"rollout_analysis": FAILING})

    # the first run initializes every cluster (nothing to soak after: none was promoted)
    rc, out = playbook(c1, "fleet", path, {"fleet_soak_seconds": SOAK})
    assert rc == 0, out
    stats = custom_stats(out, "fleet")
    assert stats["result"] == "unchanged" and [c["result"] for c in stats["clusters"]] == ["initialized"] * 3, out
    assert "Pausing for" not in out
    assert all(c.status()["phase"] == "Initialized" for c in fleet)

    c1.release("6.0.1")
    command = c2.get("apps/v1", "Deployment", "podinfo")["spec"]["template"]["spec"]["containers"][0]["command"]
    assert "--random-error=false" in command
    c2.release("6.0.2", command=["--random-error=true" if arg == "--random-error=false" else arg for arg in command])
    c3.release("6.0.1")  # a new revision waits on cluster 3 too: only the stop keeps it from being rolled out
    c3_generation, c3_status = generation(c3), c3.status()

    started = time.monotonic()
    timed = []
    rc, out = playbook(c1, "fleet", path, {"fleet_soak_seconds": SOAK}, timed=timed)
    wall = time.monotonic() - started
    assert rc != 0, out
    print("fleet run: %.1f s" % wall)

    # cluster 1 promoted, cluster 2 rolled back, cluster 3 untouched
    assert c1.status()["phase"] == "Succeeded" and c1.image("podinfo-primary").endswith(":6.0.1")
    assert c1.weights() == {"podinfo-primary": 100, "podinfo-canary": 0}
    status2 = c2.status()
    # the faulty revision is caught by the failing check or, when --random-error also fails its liveness probe first,
    # by the health watch (a restarted container): either way a rollback with the reason recorded
    assert status2["phase"] == "Failed", out
    reason2 = " ".join(status2["reason"].split())
    assert reason2.startswith("failed checks threshold reached 2") or "restarted" in reason2, status2
    assert c2.image("podinfo-primary").endswith(":6.0.0")
    assert c2.weights() == {"podinfo-primary": 100, "podinfo-canary": 0} and c2.replicas("podinfo") == 0
    assert generation(c3) == c3_generation and c3.status() == c3_status
    assert c3.image("podinfo-primary").endswith(":6.0.0") and c3.replicas("podinfo") == 0
    assert not any("podinfo.%s" % c3.namespace in line for line in re.findall(r'"msg": "(.*)"', out)
                   if not line.startswith("Cluster "))
    assert "TASK [Run the rollout role]" in out and out.count("TASK [Run the rollout role]") == 2

    # the summary says exactly that, last, and the stats carry it for AWX
    table = re.search(r'TASK \[Show the summary\].*?"msg": \[(.*?)\]', out, re.S).group(1)
    rows = [json.loads(line.strip().rstrip(",")) for line in table.strip().splitlines()]
    assert rows[0].split() == ["CLUSTER", "REVISION", "RESULT", "START", "DURATION", "REASON"]
    assert rows[1].split()[0] == "c1" and " promoted " in rows[1]
    assert rows[2].split()[0] == "c2" and " rolled back " in rows[2] and rows[2].endswith(reason2)
    assert rows[3].split()[0] == "c3" and " not started " in rows[3] and "the fleet stopped at c2" in rows[3]
    assert rows[1].split()[1] == c1.status()["last_promoted_hash"] and rows[2].split()[1] == status2["last_applied_hash"]
    stats = custom_stats(out, "fleet")
    assert stats["result"] == "failed" and stats["stopped_at"] == "c2"
    assert [c["result"] for c in stats["clusters"]] == ["promoted", "rolled back", "not started"]
    assert "The fleet stopped at c2 (rolled back: %s); not started: c3" % reason2 in out
    assert out.index("TASK [Show the summary]") < out.index("The fleet stopped at c2") < out.index("PLAY RECAP")

    # the soak: between cluster 1's end and cluster 2's start, measured three ways
    first, second = stats["clusters"][0], stats["clusters"][1]
    gap = second["started"] - first["ended"]
    print("soak by the run's own times: %.2f s (asked %d s)" % (gap, SOAK))
    assert SOAK <= gap < SOAK + 3, stats
    c1_done = seen_at(timed, "Cluster c1: promoted")
    c2_start = seen_at(timed, "TASK [Read the status before the rollout]", after=c1_done)
    print("soak seen on the output: c1's result line -> c2's first task %.2f s" % (c2_start - c1_done))
    # the lower bound is the soak; the rest is the few tasks in between on a busy machine
    assert SOAK <= c2_start - c1_done < SOAK + 10
    assert out.count("Pausing for %d seconds" % SOAK) == 1
    # and on the cluster: nothing of cluster 2 was written before cluster 1 had finished plus the soak
    recorded = epoch(status2["started_at"]) - epoch(c1.status()["last_transition_time"])
    print("on the cluster: c1 Succeeded -> c2 analysis started %d s (1 s resolution, includes c2's lock and checks)" % recorded)
    assert recorded >= SOAK - 1


def test_a_fleet_host_without_a_cluster_touches_nothing(fleet):
    c1 = fleet[0]
    path = c1.tmp_path / "bad.yml"
    hosts = {"c%d" % (i + 1): c.vars() for i, c in enumerate(fleet)}
    del hosts["c2"]["rollout_kubeconfig"]
    path.write_text(yaml.safe_dump({"all": {"hosts": hosts}}))
    rc, out = playbook(c1, "fleet", path)
    assert rc != 0
    assert "host c2 has neither rollout_kubeconfig nor rollout_context" in out and "(no cluster was touched)" in out
    assert "Run the rollout role" not in out
    assert all(c.get("v1", "ConfigMap", "podinfo-canary-status") is None for c in fleet)


def test_reconcile_rolls_back_a_dead_runners_canary_once_its_lease_expired(canary):
    canary.release("6.0.1")
    slow = {"interval": "2s", "step_weights": [20, 40, 60, 80]}
    run = canary.start(rollout_analysis=slow, rollout_lock_ttl=10)
    try:
        wait_for_line(run, "canary weight 40")
    finally:
        kill_group(run)  # SIGKILL: nothing of the run cleans up
    killed = time.time()
    weight = canary.weights()["podinfo-canary"]
    recorded = canary.status()
    assert weight in (40, 60) and recorded["phase"] == "Progressing"
    extra = {key: value for key, value in canary.vars().items() if key != "rollout_target"}

    # the lease is live: the canary is left alone
    rc, out = playbook(canary, "reconcile", extra=extra)
    lease = canary.get("coordination.k8s.io/v1", "Lease", "podinfo-canary-lock")["spec"]
    expires = epoch(lease["renewTime"]) + lease["leaseDurationSeconds"]
    assert rc == 0, out
    assert time.time() < expires + 1, "the first reconcile took too long to test a live lease"
    assert "podinfo.%s: skip - phase Progressing and the lease of %s is live until" % (canary.namespace, lease["holderIdentity"]) in out
    assert custom_stats(out, "reconcile")["result"] == "nothing to do"
    assert canary.status()["phase"] == "Progressing" and canary.weights()["podinfo-canary"] == weight
    assert canary.replicas("podinfo") == 1

    # once it ran out: rolled back, with the reason
    time.sleep(max(0.0, expires + 1.5 - time.time()))
    started = time.monotonic()
    rc, out = playbook(canary, "reconcile", extra=extra)
    print("rollback by reconcile %.1f s after the kill, run %.1f s" % (time.time() - killed, time.monotonic() - started))
    assert rc == 0, out
    status = canary.status()
    assert status["phase"] == "Failed", out
    assert status["reason"].startswith("reconcile: phase Progressing at canary weight %d but the lease of %s expired at"
                                       % (recorded["canary_weight"], lease["holderIdentity"])), status
    assert status["reason"].endswith("the runner died")
    assert canary.weights() == {"podinfo-primary": 100, "podinfo-canary": 0}
    assert canary.replicas("podinfo") == 0 and canary.image("podinfo-primary").endswith(":6.0.0")
    stats = custom_stats(out, "reconcile")
    assert stats["result"] == "reconciled" and [(c["target"], c["result"]) for c in stats["canaries"]] == [("podinfo", "rolled back")]
    assert "podinfo.%s: rolled back - phase Progressing" % canary.namespace in out

    # nothing left to do afterwards
    rc, out = playbook(canary, "reconcile", extra=extra)
    assert rc == 0 and custom_stats(out, "reconcile")["result"] == "nothing to do", out
    assert "skip - phase Failed: no rollout is active" in out


def test_reconcile_resumes_a_dead_runners_canary_when_asked(canary):
    canary.release("6.0.1")
    slow = {"interval": "2s", "step_weights": [20, 40, 60, 80]}
    run = canary.start(rollout_analysis=slow, rollout_lock_ttl=10)
    try:
        wait_for_line(run, "canary weight 20")
    finally:
        kill_group(run)
    recorded = canary.status()
    assert recorded["phase"] == "Progressing"
    lease = canary.get("coordination.k8s.io/v1", "Lease", "podinfo-canary-lock")["spec"]
    time.sleep(max(0.0, epoch(lease["renewTime"]) + lease["leaseDurationSeconds"] + 1.5 - time.time()))
    extra = {key: value for key, value in canary.vars(rollout_analysis=slow).items() if key != "rollout_target"}
    rc, out = playbook(canary, "reconcile", extra=dict(extra, reconcile_action="resume"))
    assert rc == 0, out
    assert "podinfo.%s: resume - phase Progressing at canary weight %d" % (canary.namespace, recorded["canary_weight"]) in out
    assert "Resuming the analysis of podinfo.%s at canary weight %d" % (canary.namespace, recorded["canary_weight"]) in out
    assert canary.status()["phase"] == "Succeeded" and canary.image("podinfo-primary").endswith(":6.0.1")
    assert canary.weights() == {"podinfo-primary": 100, "podinfo-canary": 0}
    stats = custom_stats(out, "reconcile")
    assert stats["result"] == "reconciled" and stats["canaries"][0]["result"] == "resumed (phase Succeeded)"
