import datetime

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils.state import semaphore as sem

T0 = datetime.datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=datetime.timezone.utc)


def later(seconds):
    return T0 + datetime.timedelta(seconds=seconds)


def take(slots, target, holder="run@ctl:1", now=T0, limit=None, namespace="test", ttl=60):
    """Acquire for ``target`` and store the written slot in ``slots`` like the API server would."""
    action, index, lease = sem.acquire("namespace", "test", limit or len(slots), slots, target, namespace, holder, ttl, now)
    slots[index] = lease
    return action, index


def test_slots_fill_in_order_then_the_scope_is_full_naming_the_holders():
    slots = [None, None]
    assert take(slots, "a") == (sem.CREATED, 0)
    assert take(slots, "b", now=later(1)) == (sem.CREATED, 1)
    assert slots[0]["metadata"]["name"] == "progressive-delivery-slot-0"
    assert slots[0]["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "progressive.delivery"
    assert slots[0]["metadata"]["labels"][sem.SCOPE_LABEL] == "namespace"
    assert slots[1]["spec"]["holderIdentity"] == "test/b run@ctl:1"
    with pytest.raises(sem.SemaphoreFull) as caught:
        take(slots, "c", now=later(2))
    assert caught.value.holders == ["test/a", "test/b"]
    message = str(caught.value)
    assert "test/a (slot progressive-delivery-slot-0, expires in 58s)" in message
    assert "test/b (slot progressive-delivery-slot-1, expires in 59s)" in message
    assert "2 of 2 concurrent canaries of namespace test" in message


def test_a_rerun_of_the_same_canary_keeps_its_slot_even_expired():
    slots = [None, None]
    take(slots, "a", holder="run@ctl:1")
    first_token = slots[0]["spec"]["acquireTime"]
    action, index = take(slots, "a", holder="run@ctl:2", now=later(300))
    assert (action, index) == (sem.RENEWED, 0)
    assert slots[0]["spec"]["holderIdentity"] == "test/a run@ctl:2"
    assert slots[0]["spec"]["acquireTime"] == first_token
    assert slots[1] is None


def test_an_expired_slot_of_a_dead_runner_is_taken_over():
    slots = [None]
    take(slots, "a", ttl=30)
    with pytest.raises(sem.SemaphoreFull):
        take(slots, "b", now=later(29))
    action, index = take(slots, "b", now=later(31))
    assert (action, index) == (sem.TAKEN_OVER, 0)
    assert slots[0]["spec"]["leaseTransitions"] == 1
    assert sem.slot_canary(slots[0]["spec"]) == "test/b"


def test_a_released_slot_is_free_and_created_again_not_taken_over():
    slots = [None]
    take(slots, "a")
    freed = sem.release(slots, "a", "test", later(5))
    assert [index for index, _lease in freed] == [0]
    slots[0] = freed[0][1]
    assert slots[0]["spec"]["holderIdentity"] is None
    assert sem.release(slots, "a", "test", later(6)) == []
    assert take(slots, "b", now=later(7)) == (sem.CREATED, 0)


def test_release_only_touches_the_canarys_own_slots():
    slots = [None, None, None]
    take(slots, "a")
    take(slots, "b")
    freed = sem.release(slots, "b", "test", later(1))
    assert [lease["metadata"]["name"] for _index, lease in freed] == ["progressive-delivery-slot-1"]
    # same target name in another namespace is another canary
    assert sem.release(slots, "a", "other", later(1)) == []


def test_cluster_scope_uses_its_own_names_and_counts_every_namespace():
    slots = [None]
    action, index, lease = sem.acquire("cluster", "pd", 1, slots, "a", "ns1", "run@ctl:1", 60, T0)
    assert lease["metadata"] == {"name": "progressive-delivery-cluster-slot-0", "namespace": "pd",
                                 "labels": {"app.kubernetes.io/managed-by": "progressive.delivery", sem.SCOPE_LABEL: "cluster"}}
    slots[index] = lease
    with pytest.raises(sem.SemaphoreFull) as caught:
        sem.acquire("cluster", "pd", 1, slots, "a", "ns2", "run@ctl:2", 60, later(1))
    assert caught.value.holders == ["ns1/a"]
    assert "the cluster (slots in namespace pd)" in str(caught.value)


@pytest.mark.parametrize("limit", [0, -1, True, "2", 1001])
def test_bad_limits_are_refused(limit):
    with pytest.raises(sem.SemaphoreError, match="limit must be a whole number"):
        sem.acquire("namespace", "test", limit, [], "a", "test", "run", 60, T0)


@pytest.mark.parametrize("holder,ttl", [("", 60), ("two words", 60), ("run", 0)])
def test_bad_holder_or_ttl_is_refused(holder, ttl):
    with pytest.raises(sem.SemaphoreError):
        sem.acquire("namespace", "test", 1, [None], "a", "test", holder, ttl, T0)
