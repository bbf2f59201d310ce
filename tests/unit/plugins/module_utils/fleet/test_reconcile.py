"""The reconcile playbook's decisions (module_utils/fleet/reconcile.py): which canaries a dead runner left, and the
report."""

import datetime
import json

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils.fleet import reconcile

NOW = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)


def configmap(target, namespace="test", **status):
    return {"metadata": {"name": target + "-canary-status", "namespace": namespace,
                         "labels": {"app.kubernetes.io/managed-by": "progressive.delivery", "progressive.delivery/target": target}},
            "data": {"status.json": json.dumps(status)}}


def lease(target, holder="alice@ctl:run-1", renewed=NOW - datetime.timedelta(seconds=30), ttl=10):
    stamp = renewed.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {"metadata": {"name": target + "-canary-lock"},
            "spec": {"holderIdentity": holder, "leaseDurationSeconds": ttl, "acquireTime": stamp, "renewTime": stamp}}


def test_an_expired_lease_on_an_active_rollout_is_rolled_back():
    entries = reconcile.plan([configmap("podinfo", phase="Progressing", canary_weight=40)], [lease("podinfo")], NOW)
    assert len(entries) == 1
    entry = entries[0]
    assert entry["action"] == "rollback" and entry["target"] == "podinfo" and entry["namespace"] == "test"
    assert entry["holder"] == "alice@ctl:run-1" and entry["lease_expired_at"] == "2026-01-02T03:03:45.000000Z"
    assert entry["why"] == ("phase Progressing at canary weight 40 but the lease of alice@ctl:run-1 expired at "
                            "2026-01-02T03:03:45.000000Z (20s ago): the runner died")
    assert reconcile.reason(entry) == "reconcile: " + entry["why"]


def test_a_live_lease_is_left_alone():
    live = lease("podinfo", renewed=NOW - datetime.timedelta(seconds=5))
    entry = reconcile.plan([configmap("podinfo", phase="Progressing")], [live], NOW)[0]
    assert entry["action"] == "skip"
    assert "the lease of alice@ctl:run-1 is live until 2026-01-02T03:04:10.000000Z: its run is alive" in entry["why"]
    # the very second it runs out it is not live any more
    edge = lease("podinfo", renewed=NOW - datetime.timedelta(seconds=10))
    assert reconcile.plan([configmap("podinfo", phase="Progressing")], [edge], NOW)[0]["action"] == "rollback"


@pytest.mark.parametrize("phase", ["Waiting", "Progressing", "WaitingPromotion", "Promoting", "Finalising"])
def test_every_active_phase_counts(phase):
    assert reconcile.plan([configmap("podinfo", phase=phase)], [lease("podinfo")], NOW, "resume")[0]["action"] == "resume"


@pytest.mark.parametrize("phase", ["Initialized", "Succeeded", "Failed", None])
def test_finished_rollouts_are_left_alone(phase):
    status = {"phase": phase} if phase else {}
    entry = reconcile.plan([configmap("podinfo", **status)], [lease("podinfo")], NOW)[0]
    assert entry["action"] == "skip" and "no rollout is active" in entry["why"]


def test_a_released_or_missing_lease_counts_as_dead():
    released = lease("podinfo", holder="")
    entry = reconcile.plan([configmap("podinfo", phase="Progressing", run={"holder": "bob"})], [released], NOW)[0]
    assert entry["action"] == "rollback" and "nobody holds the Lease podinfo-canary-lock" in entry["why"]
    assert entry["holder"] == "bob"
    entry = reconcile.plan([configmap("podinfo", phase="Promoting")], [], NOW)[0]
    assert entry["action"] == "rollback" and "there is no Lease podinfo-canary-lock" in entry["why"]


def test_many_canaries_sorted_and_filtered():
    configmaps = [configmap("zeta", phase="Progressing"), configmap("alpha", phase="Succeeded"),
                  {"metadata": {"name": "podinfo-config-primary", "namespace": "test"}, "data": {}},
                  configmap("mid", phase="Progressing")]
    leases = [lease("zeta"), lease("mid", renewed=NOW)]
    entries = reconcile.plan(configmaps, leases, NOW)
    assert [(e["target"], e["action"]) for e in entries] == [("alpha", "skip"), ("mid", "skip"), ("zeta", "rollback")]
    assert [e["target"] for e in reconcile.plan(configmaps, leases, NOW, targets=["zeta"])] == ["zeta"]


def test_unreadable_status_is_left_alone():
    broken = configmap("podinfo")
    broken["data"]["status.json"] = "{not json"
    entry = reconcile.plan([broken], [], NOW)[0]
    assert entry["action"] == "skip" and "no readable status.json" in entry["why"]


def test_bad_settings():
    with pytest.raises(reconcile.ReconcileError, match="reconcile_action must be one of rollback, resume, got 'delete'"):
        reconcile.plan([], [], NOW, "delete")
    with pytest.raises(reconcile.ReconcileError, match="reconcile_targets must be a list"):
        reconcile.plan([], [], NOW, targets="podinfo")


def test_report():
    entries = reconcile.plan([configmap("a", phase="Progressing"), configmap("b", phase="Succeeded"),
                              configmap("c", phase="Progressing"), configmap("d", phase="Progressing")],
                             [lease("a"), lease("c"), lease("d")], NOW)
    report = reconcile.report(entries, {"a": {"failed": False, "phase": "Failed"},
                                        "c": {"failed": True, "msg": "boom\n  again"},
                                        "d": {"failed": False, "phase": "Progressing"}})
    results = {c["target"]: c["result"] for c in report["canaries"]}
    assert results == {"a": "rolled back", "b": "left alone", "c": "failed",
                       "d": "abort requested from the running run (phase Progressing)"}
    assert report["failed"] and report["result"] == "failed"
    assert report["lines"][2].startswith("c.test: failed - phase Progressing") and report["lines"][2].endswith("rollback failed: boom again")
    assert reconcile.report(entries[1:2], {})["result"] == "nothing to do"
    assert reconcile.report([], {})["lines"] == ["no canaries found"]
    ok = reconcile.report(entries[:1], {"a": {"failed": False, "phase": "Failed"}})
    assert ok["result"] == "reconciled" and not ok["failed"]
    # a canary to act on whose outcome is missing is not reported as done
    assert reconcile.report(entries[:1], {})["canaries"][0]["result"] == "not done"
