"""canary_semaphore against the lab's real API server: slots fill, a full scope names its holders and writes nothing,
a re-run keeps its slot, an expired slot is taken over, racing runs never exceed the limit."""

import json
import os
import subprocess
import sys
import time

from ansible_collections.progressive.delivery.plugins.modules import canary_semaphore

from tests.modules.cluster.harness import run_module

LEASE = ("coordination.k8s.io/v1", "Lease")


def slots(lab):
    """name -> spec of the slot Leases in the test's namespace."""
    items = lab.store.list(LEASE[0], LEASE[1], lab.namespace)
    return dict((item["metadata"]["name"], item) for item in items if item["metadata"]["name"].startswith("progressive-delivery-"))


def take(lab, target, holder="runner@ctl:1", limit=2, check=False, **kwargs):
    return run_module(canary_semaphore, lab, dict(target=target, holder=holder, limit=limit, **kwargs), check=check)


def test_slots_fill_then_a_full_namespace_fails_naming_the_holders_and_writes_nothing(lab):
    first = take(lab, "alpha")
    second = take(lab, "beta")
    assert (first["action"], first["slot"]["name"]) == ("created", "progressive-delivery-slot-0")
    assert (second["action"], second["slot"]["name"]) == ("created", "progressive-delivery-slot-1")
    before = slots(lab)
    assert before["progressive-delivery-slot-0"]["spec"]["holderIdentity"] == "%s/alpha runner@ctl:1" % lab.namespace
    assert before["progressive-delivery-slot-0"]["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "progressive.delivery"
    third = take(lab, "gamma")
    assert third["failed"] and third["full"] is True
    assert third["holders"] == ["%s/alpha" % lab.namespace, "%s/beta" % lab.namespace]
    assert "%s/alpha (slot progressive-delivery-slot-0" % lab.namespace in third["msg"]
    assert "%s/beta (slot progressive-delivery-slot-1" % lab.namespace in third["msg"]
    after = slots(lab)
    assert sorted(after) == sorted(before)
    assert [after[n]["metadata"]["resourceVersion"] for n in sorted(after)] == [before[n]["metadata"]["resourceVersion"] for n in sorted(before)]


def test_check_mode_writes_nothing_and_reports_the_slot(lab):
    result = take(lab, "alpha", check=True)
    assert not result.get("failed"), result
    assert result["action"] == "created" and result["slot"]["name"] == "progressive-delivery-slot-0"
    assert result["diff"]["after"]["holderIdentity"] == "%s/alpha runner@ctl:1" % lab.namespace
    assert slots(lab) == {}


def test_a_rerun_keeps_its_slot_and_release_frees_it_for_another_canary(lab):
    take(lab, "alpha", holder="runner@ctl:1")
    take(lab, "beta")
    again = take(lab, "alpha", holder="runner@ctl:2")
    assert (again["action"], again["slot"]["name"]) == ("renewed", "progressive-delivery-slot-0")
    assert again["slot"]["holder"] == "%s/alpha runner@ctl:2" % lab.namespace
    released = run_module(canary_semaphore, lab, dict(target="alpha", holder="runner@ctl:2", state="released"))
    assert released["released"] == ["progressive-delivery-slot-0"] and released["changed"]
    assert slots(lab)["progressive-delivery-slot-0"]["spec"].get("holderIdentity") is None
    twice = run_module(canary_semaphore, lab, dict(target="alpha", holder="runner@ctl:2", state="released"))
    assert twice["released"] == [] and not twice["changed"]
    third = take(lab, "gamma")
    assert (third["action"], third["slot"]["name"]) == ("created", "progressive-delivery-slot-0")


def test_a_dead_runners_slot_frees_at_its_expiry(lab):
    take(lab, "alpha", limit=1, ttl=2)
    assert take(lab, "beta", limit=1)["full"]
    time.sleep(2.5)
    taken = take(lab, "beta", limit=1)
    assert not taken.get("failed"), taken
    assert taken["action"] == "taken_over" and taken["previous_holder"] == "%s/alpha runner@ctl:1" % lab.namespace
    assert slots(lab)["progressive-delivery-slot-0"]["spec"]["leaseTransitions"] == 1


def test_cluster_scope_counts_canaries_of_every_namespace_in_one_place(lab):
    first = take(lab, "podinfo", limit=1, scope="cluster", slot_namespace=lab.namespace, namespace="team-a")
    assert first["slot"]["name"] == "progressive-delivery-cluster-slot-0", first
    other = take(lab, "podinfo", limit=1, scope="cluster", slot_namespace=lab.namespace, namespace="team-b")
    assert other["full"] and other["holders"] == ["team-a/podinfo"]
    # the namespace scope of the slot namespace is a different semaphore
    assert not take(lab, "podinfo", limit=1).get("failed")


def test_racing_runs_never_take_more_slots_than_the_limit(lab):
    """Five ansible processes ask at once for the 2 slots: the resourceVersion-guarded writes let exactly 2 win."""
    def command(name):
        args = json.dumps(dict(target=name, namespace=lab.namespace, holder="runner@ctl:" + name, limit=2,
                               kubeconfig=str(lab.kubeconfig)))
        return [os.path.join(os.path.dirname(sys.executable), "ansible"), "localhost", "-c", "local",
                "-m", "progressive.delivery.canary_semaphore", "-a", args]

    names = ["c%d" % i for i in range(5)]
    runs = dict((name, subprocess.Popen(command(name), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
                for name in names)
    outputs = dict((name, run.communicate(timeout=120)[0]) for name, run in runs.items())
    winners = sorted(name for name, run in runs.items() if run.returncode == 0)
    assert len(winners) == 2, outputs
    for name in set(names) - set(winners):
        assert runs[name].returncode == 2 and "concurrent canaries of namespace" in outputs[name], outputs[name]
    held = sorted(lease["spec"]["holderIdentity"].split(" ")[0] for lease in slots(lab).values())
    assert held == sorted("%s/%s" % (lab.namespace, name) for name in winners)
