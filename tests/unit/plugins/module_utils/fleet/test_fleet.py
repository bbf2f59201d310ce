"""The fleet rollout's decisions (module_utils/fleet/fleet.py): the settings check, each cluster's result from the
status before and after the role, the soak time, the stop and the summary."""

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils.fleet import fleet

HOSTS = [
    {"name": "c%d" % i, "rollout_kubeconfig": "/k/c%d" % i, "rollout_context": "", "rollout_target": "podinfo",
     "rollout_namespace": "test"} for i in (1, 2, 3)
]
INITIALIZED = {"status": {"phase": "Initialized", "last_promoted_hash": "aaa"}, "revision": {"hash": "bbb", "decision": "new"}}
SUCCEEDED = {"status": {"phase": "Succeeded", "last_promoted_hash": "bbb", "last_applied_hash": "bbb",
                        "message": "Promotion completed! Scaling down podinfo.test"},
             "revision": {"hash": "bbb", "decision": "unchanged"}}
FAILED = {"status": {"phase": "Failed", "last_promoted_hash": "aaa", "last_applied_hash": "bbb",
                     "reason": "failed checks threshold reached 2 (error-free 50.00 < 99)"},
          "revision": {"hash": "bbb", "decision": "rolled_back"}}


def test_check_returns_the_soak_time():
    assert fleet.check(HOSTS, 30) == 30
    assert fleet.check(HOSTS, "5") == 5
    assert fleet.check([dict(HOSTS[0], rollout_kubeconfig="", rollout_context="prod")], 0) == 0


@pytest.mark.parametrize("soak", [-1, "x", None, True, 1.5])
def test_check_refuses_a_bad_soak_time(soak):
    with pytest.raises(fleet.FleetError, match="fleet_soak_seconds"):
        fleet.check(HOSTS, soak)


def test_check_names_every_host_without_a_cluster():
    hosts = [HOSTS[0], dict(HOSTS[1], rollout_kubeconfig=None), dict(HOSTS[2], rollout_kubeconfig=" ", rollout_context=None)]
    with pytest.raises(fleet.FleetError) as err:
        fleet.check(hosts, 0)
    message = str(err.value)
    assert "host c2 has neither rollout_kubeconfig nor rollout_context" in message
    assert "host c3 has neither" in message and "c1" not in message.split("host c2", maxsplit=1)[0]
    assert message.endswith("(no cluster was touched)")


def test_check_refuses_missing_targets_empty_fleets_and_duplicates():
    with pytest.raises(fleet.FleetError, match="host c1 has no rollout_target"):
        fleet.check([dict(HOSTS[0], rollout_target=None)], 0)
    with pytest.raises(fleet.FleetError, match="no hosts"):
        fleet.check([], 0)
    with pytest.raises(fleet.FleetError, match="hosts c1 and c2 roll out the same canary podinfo.test"):
        fleet.check([HOSTS[0], dict(HOSTS[1], rollout_kubeconfig="/k/c1")], 0)


def test_a_promotion():
    result = fleet.cluster_result("c1", INITIALIZED, SUCCEEDED, None, 100.0, 142.34)
    assert result["result"] == "promoted" and not result["stop"]
    assert result["revision"] == "bbb" and result["duration"] == 42.3
    assert result["reason"] == "Promotion completed! Scaling down podinfo.test"


def test_a_rollback_stops_the_fleet():
    result = fleet.cluster_result("c2", INITIALIZED, FAILED, "Rollout of podinfo.test failed and was rolled back ...", 1, 2)
    assert result["result"] == "rolled back" and result["stop"]
    assert result["reason"] == "failed checks threshold reached 2 (error-free 50.00 < 99)"


def test_a_failure_before_anything_moved_is_a_failure_to_start():
    # a lock held by another run: the status is the same before and after
    result = fleet.cluster_result("c2", INITIALIZED, INITIALIZED, "canary podinfo.test is locked by alice", 1, 2)
    assert result["result"] == "failed to start" and result["stop"]
    assert result["reason"] == "canary podinfo.test is locked by alice"
    # the status could not even be read (kubeconfig missing)
    result = fleet.cluster_result("c2", None, None, "the kubeconfig option names a file that does not exist", 1, 2)
    assert result["result"] == "failed to start" and result["revision"] is None


def test_a_failure_mid_analysis_without_a_rollback_is_a_failure():
    progressing = {"status": {"phase": "Progressing", "canary_weight": 50}, "revision": {"hash": "bbb", "decision": "resume"}}
    result = fleet.cluster_result("c2", INITIALIZED, progressing, "lost the lock of canary podinfo.test", 1, 2)
    assert result["result"] == "failed" and result["stop"]


def test_unchanged_and_initialized_and_a_revision_rolled_back_before():
    assert fleet.cluster_result("c3", SUCCEEDED, SUCCEEDED)["result"] == "unchanged"
    assert fleet.cluster_result("c3", FAILED, FAILED)["result"] == "unchanged"
    assert "was rolled back before" in fleet.cluster_result("c3", FAILED, FAILED)["reason"]
    fresh = {"status": {}, "revision": {"hash": "aaa", "decision": "initialize"}}
    assert fleet.cluster_result("c3", fresh, {"status": {"phase": "Initialized"}})["result"] == "initialized"
    # a role that ended without an error and without a promotion is not reported as a success
    waiting = {"status": {"phase": "Waiting"}, "revision": {"hash": "bbb", "decision": "new"}}
    assert fleet.cluster_result("c3", INITIALIZED, waiting)["result"] == "failed"


def test_soak_only_after_a_promoted_cluster():
    promoted = fleet.cluster_result("c1", INITIALIZED, SUCCEEDED)
    unchanged = fleet.cluster_result("c1", SUCCEEDED, SUCCEEDED)
    assert fleet.soak_before([], 30) == 0
    assert fleet.soak_before([promoted], 30) == 30
    assert fleet.soak_before([promoted, unchanged], 30) == 0
    assert fleet.soak_before([unchanged, promoted], 0) == 0


def test_summary_of_a_fleet_stopped_at_the_second_cluster():
    results = [fleet.cluster_result("c1", INITIALIZED, SUCCEEDED, None, 0, 10),
               fleet.cluster_result("c2", INITIALIZED, FAILED, "rolled back", 15, 20)]
    summary = fleet.summary(["c1", "c2", "c3"], results)
    assert summary["result"] == "failed" and summary["failed"] and summary["stopped_at"] == "c2"
    assert [(c["cluster"], c["result"]) for c in summary["clusters"]] == [
        ("c1", "promoted"), ("c2", "rolled back"), ("c3", "not started")]
    assert summary["clusters"][2]["reason"] == "the fleet stopped at c2"
    assert summary["counts"] == {"promoted": 1, "rolled back": 1, "not started": 1}
    assert summary["message"].startswith("The fleet stopped at c2 (rolled back: failed checks threshold reached 2")
    assert summary["message"].endswith("not started: c3")
    header, row1, row2, row3 = summary["table"]
    assert header.split() == ["CLUSTER", "REVISION", "RESULT", "START", "DURATION", "REASON"]
    assert row1.split()[:3] == ["c1", "bbb", "promoted"] and "10.0s" in row1
    assert row2.startswith("c2") and "rolled back" in row2 and "5.0s" in row2
    assert row3.split()[:5] == ["c3", "-", "not", "started", "-"]
    # the columns line up
    assert len({line.index("RESULT") if i == 0 else None for i, line in enumerate(summary["table"])} - {None}) == 1
    assert row1.index("promoted") == header.index("RESULT") == row3.index("not started")


def test_summary_of_a_fleet_that_went_through():
    results = [fleet.cluster_result("c1", INITIALIZED, SUCCEEDED), fleet.cluster_result("c2", SUCCEEDED, SUCCEEDED)]
    summary = fleet.summary(["c1", "c2"], results)
    assert summary["result"] == "promoted" and not summary["failed"] and summary["stopped_at"] is None
    assert summary["message"] == "The fleet is done: 1 promoted, 1 unchanged"
    summary = fleet.summary(["c1"], [fleet.cluster_result("c1", SUCCEEDED, SUCCEEDED)])
    assert summary["result"] == "unchanged"


def test_a_stop_at_the_last_cluster():
    results = [fleet.cluster_result("c1", INITIALIZED, SUCCEEDED), fleet.cluster_result("c2", INITIALIZED, FAILED, "x")]
    summary = fleet.summary(["c1", "c2"], results)
    assert summary["stopped_at"] == "c2" and summary["message"].endswith("it was the last cluster")
