"""Writes under the lock (fence), the interruptible wait and the canary's scaling, against the lab's real API server."""

import threading
import time

import pytest

from ansible_collections.progressive.delivery.plugins.modules import (
    canary_init, canary_lock, canary_rollback, canary_route, canary_scale, canary_state, canary_wait)

from tests.modules.cluster.harness import edit, podinfo_deployment, run_module, seed, snapshot

VS = ("networking.istio.io/v1beta1", "VirtualService")
LEASE = ("coordination.k8s.io/v1", "Lease")


@pytest.fixture
def initialised(lab):
    seed(lab, podinfo_deployment())
    result = run_module(canary_init, lab, dict(target="podinfo", wait_timeout=30))
    assert not result.get("failed"), result
    return lab


def take_lock(lab, holder="runner@ctl:1", ttl=30, **kwargs):
    result = run_module(canary_lock, lab, dict(target="podinfo", holder=holder, ttl=ttl, **kwargs))
    assert not result.get("failed"), result
    return {"holder": holder, "token": result["lease"]["token"]}


def canary_weight(lab):
    vs = lab.store.get(VS[0], VS[1], lab.namespace, "podinfo")
    return [r for r in vs["spec"]["http"][-1]["route"] if r["destination"]["host"] == "podinfo-canary"][0].get("weight", 0)


def lease_spec(lab):
    return lab.store.get(LEASE[0], LEASE[1], lab.namespace, "podinfo-canary-lock")["spec"]


def test_fenced_writes_renew_the_lease_of_their_own_run(initialised):
    lab = initialised
    fence = take_lock(lab, ttl=30)
    renewed_before = lease_spec(lab)["renewTime"]
    time.sleep(0.01)
    result = run_module(canary_route, lab, dict(target="podinfo", weight=20, fence=fence))
    assert not result.get("failed"), result
    assert canary_weight(lab) == 20
    spec = lease_spec(lab)
    assert spec["renewTime"] > renewed_before and spec["acquireTime"] == fence["token"]


@pytest.mark.parametrize("force_release", [False, True], ids=["taken", "taken-then-released"])
def test_a_run_that_lost_the_lock_writes_nothing(initialised, force_release):
    """The forced-abort race: the interrupted run's route, scale, status and rollback are all refused."""
    lab = initialised
    fence = take_lock(lab)
    assert not run_module(canary_route, lab, dict(target="podinfo", weight=20, fence=fence)).get("failed")
    operator = take_lock(lab, holder="operator@laptop", force=True)
    if force_release:
        run_module(canary_lock, lab, dict(target="podinfo", holder=operator["holder"], token=operator["token"],
                                          state="released"))
    before = snapshot(lab)
    calls = [
        (canary_route, dict(weight=60)),
        (canary_scale, dict(replicas=3)),
        (canary_rollback, dict(reason="the interrupted run")),
        (canary_state, dict(status={"phase": "Progressing", "canary_weight": 60})),
        (canary_wait, dict(seconds=1)),
    ]
    for module, args in calls:
        result = run_module(module, lab, dict(target="podinfo", fence=fence, **args))
        assert result.get("failed") and result.get("lock_lost") is True, (module.__name__, result)
        assert "lost the lock of canary podinfo.%s" % lab.namespace in result["msg"], result["msg"]
    assert snapshot(lab) == before
    # the renewal of canary_lock itself is refused too, even on a free lease
    renewal = run_module(canary_lock, lab, dict(target="podinfo", holder=fence["holder"], token=fence["token"],
                                                state="renewed"))
    assert renewal.get("failed") and renewal.get("lock_lost") is True, renewal
    assert lease_spec(lab).get("holderIdentity") == (None if force_release else "operator@laptop")


def test_weight_is_never_raised_once_an_abort_is_requested(initialised):
    lab = initialised
    fence = take_lock(lab)
    run_module(canary_route, lab, dict(target="podinfo", weight=20, fence=fence))
    run_module(canary_state, lab, dict(target="podinfo",
                                       status={"requested": "abort", "run": {"requested_by": "ops@laptop", "requested_reason": "errors"}}))
    raised = run_module(canary_route, lab, dict(target="podinfo", weight=40, fence=fence))
    assert raised.get("failed") and raised["interrupted"] == "abort", raised
    assert raised["requested_by"] == "ops@laptop" and raised["request_reason"] == "errors"
    assert canary_weight(lab) == 20
    # lowering the weight (the rollback's direction) is still allowed
    lowered = run_module(canary_route, lab, dict(target="podinfo", weight=0, fence=fence))
    assert not lowered.get("failed"), lowered
    assert canary_weight(lab) == 0


def test_wait_ends_within_a_poll_of_an_abort_request(initialised):
    lab = initialised
    fence = take_lock(lab)

    def request_abort():
        time.sleep(1.0)
        edit(lab, "v1", "ConfigMap", "podinfo-canary-status", lambda cm: cm["data"].update(
            {"status.json": '{"phase":"Progressing","requested":"abort","run":{"requested_by":"ops"}}'}))

    seed(lab, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "podinfo-canary-status"},
                     "data": {"status.json": '{"phase":"Progressing"}'}})
    thread = threading.Thread(target=request_abort)
    started = time.monotonic()
    thread.start()
    result = run_module(canary_wait, lab, dict(target="podinfo", seconds=30, poll=0.2, fence=fence))
    elapsed = time.monotonic() - started
    thread.join()
    assert not result.get("failed"), result
    assert result["interrupted"] == "abort" and result["status"]["run"]["requested_by"] == "ops"
    assert 1.0 <= elapsed < 2.0, elapsed


def test_wait_ends_on_a_new_revision_and_renews_the_lease_while_waiting(initialised):
    lab = initialised
    fence = take_lock(lab, ttl=3)
    analysed = run_module(canary_state, lab, dict(target="podinfo", detect_revision=True))["revision"]["hash"]

    pushed = {}

    def push_new_image():
        time.sleep(2.5)
        pushed["writing"] = time.monotonic()
        edit(lab, "apps/v1", "Deployment", "podinfo",
             lambda d: d["spec"]["template"]["spec"]["containers"][0].update(image="ghcr.io/stefanprodan/podinfo:6.0.3"))
        pushed["stored"] = time.monotonic()

    thread = threading.Thread(target=push_new_image)
    started = time.monotonic()
    thread.start()
    result = run_module(canary_wait, lab, dict(target="podinfo", seconds=30, poll=0.2, revision=analysed, fence=fence))
    finished = time.monotonic()
    thread.join()
    assert not result.get("failed"), result
    assert result["interrupted"] == "revision" and result["revision"]["hash"] != analysed
    # Not before the push: the revision it ended on is the pushed one, and the run lasted past the push.
    # (Its own clock starts after ``started``, by the module's set-up against the real server, so
    # ``waited`` alone can come out just under 2.5 s although the wait ended after the push.)
    pushed_hash = run_module(canary_state, lab, dict(target="podinfo", detect_revision=True))["revision"]["hash"]
    assert result["revision"]["hash"] == pushed_hash
    assert finished - started >= 2.5 and result["waited"] > 2.0, (result["waited"], finished - started)
    # Within a second of the new revision being stored (the real API server's read-modify-write of the
    # push takes a moment of its own on a loaded machine, so the second counts from when the write
    # returned, not from when it was started).
    assert finished - pushed["stored"] < 1.0, (result["waited"], finished - pushed["stored"])
    # heartbeats every ttl/3 kept the 3 s lease alive through the 2.5 s wait
    assert lease_spec(lab)["renewTime"] > fence["token"]


def test_wait_in_check_mode_does_not_sleep(initialised):
    started = time.monotonic()
    result = run_module(canary_wait, initialised, dict(target="podinfo", seconds=30), check=True)
    assert not result.get("failed") and result["interrupted"] is None
    assert time.monotonic() - started < 2


def test_scale_to_the_primary_then_wait_for_ready(initialised):
    lab = initialised
    predicted = run_module(canary_scale, lab, dict(target="podinfo"), check=True)
    assert predicted["changed"] is True and predicted["replicas"] == 2 and predicted["previous_replicas"] == 0
    scaled = run_module(canary_scale, lab, dict(target="podinfo"))
    assert (scaled["replicas"], scaled["changed"]) == (2, True)
    assert lab.store.get("apps/v1", "Deployment", lab.namespace, "podinfo")["spec"]["replicas"] == 2
    assert run_module(canary_scale, lab, dict(target="podinfo"))["changed"] is False
    ready = run_module(canary_wait, lab, dict(target="podinfo", seconds=30, until="canary_ready", poll=0.1))
    assert ready["ready"] is True and ready["interrupted"] is None, ready
    assert "successfully rolled out" in ready["message"]
    bad = run_module(canary_scale, lab, dict(target="podinfo", replicas=-1))
    assert bad["failed"] and bad["field"] == "replicas"
