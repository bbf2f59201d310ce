"""canary_lock against the lab's real Kubernetes API server (real HTTP, resourceVersion-guarded writes)."""

import datetime

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils.k8s import ObjectAccess
from ansible_collections.progressive.delivery.plugins.modules import canary_lock

from tests.modules.cluster.harness import run_module


@pytest.fixture
def ns(cluster):
    """The test's own namespace of the real lab."""
    return cluster.namespace


def lock(cluster, ns, holder, **kwargs):
    args = {"kubeconfig": str(cluster.kubeconfig), "target": "podinfo", "namespace": ns, "holder": holder}
    args.update(kwargs)
    return args


def lease(cluster, ns):
    return cluster.store.get("coordination.k8s.io/v1", "Lease", ns, "podinfo-canary-lock")


def test_acquire_renew_release(cluster, ns, check=False, diff=False):
    predicted = run_module(canary_lock, lock(cluster, ns, "alice@ctl:1", ttl=60), check=True, diff=False)
    assert predicted["changed"] is True and predicted["action"] == "created"
    assert lease(cluster, ns) is None

    taken = run_module(canary_lock, lock(cluster, ns, "alice@ctl:1", ttl=60), check=False, diff=False)
    assert taken["action"] == "created" and taken["lease"]["holder"] == "alice@ctl:1"
    stored = lease(cluster, ns)
    assert stored["spec"]["holderIdentity"] == "alice@ctl:1" and stored["spec"]["leaseDurationSeconds"] == 60

    renewed = run_module(canary_lock, lock(cluster, ns, "alice@ctl:1", ttl=90), check=False, diff=False)
    assert renewed["action"] == "renewed"
    assert lease(cluster, ns)["spec"]["leaseDurationSeconds"] == 90
    assert lease(cluster, ns)["spec"]["acquireTime"] == stored["spec"]["acquireTime"]

    released = run_module(canary_lock, lock(cluster, ns, "alice@ctl:1", state="released"), check=False, diff=True)
    assert released["action"] == "released" and released["changed"] is True
    assert not lease(cluster, ns)["spec"].get("holderIdentity")
    again = run_module(canary_lock, lock(cluster, ns, "alice@ctl:1", state="released"), check=False, diff=False)
    assert again["changed"] is False and again["action"] == "none"


def test_second_holder_fails_at_once_naming_the_holder(cluster, ns, check=False, diff=False):
    run_module(canary_lock, lock(cluster, ns, "alice@ctl:1", ttl=300), check=False, diff=False)
    before = lease(cluster, ns)
    for check_mode in (True, False):
        result = run_module(canary_lock, lock(cluster, ns, "bob@ctl:2", ttl=300), check=check_mode, diff=False)
        assert result["failed"] is True
        assert "canary podinfo.test".replace("test", ns) in result["msg"]
        assert "locked by alice@ctl:1 since " + before["spec"]["acquireTime"] in result["msg"]
        assert result["holder"] == "alice@ctl:1"
    assert lease(cluster, ns) == before  # nothing written
    refused = run_module(canary_lock, lock(cluster, ns, "bob@ctl:2", state="released"), check=False, diff=False)
    assert refused["failed"] is True and "cannot release" in refused["msg"]


def test_expired_lease_is_taken_over(cluster, ns, check=False, diff=False):
    run_module(canary_lock, lock(cluster, ns, "alice@ctl:1", ttl=30), check=False, diff=False)
    stale = lease(cluster, ns)
    old = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=31)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    stale["spec"]["renewTime"] = old
    stale["spec"]["acquireTime"] = old
    cluster.store.update(stale)
    result = run_module(canary_lock, lock(cluster, ns, "bob@ctl:2"), check=False, diff=False)
    assert result["action"] == "taken_over" and result["previous_holder"] == "alice@ctl:1"
    assert lease(cluster, ns)["spec"]["holderIdentity"] == "bob@ctl:2"
    assert lease(cluster, ns)["spec"]["leaseTransitions"] == 1


def test_force_takes_a_live_lease(cluster, ns, check=False, diff=False):
    run_module(canary_lock, lock(cluster, ns, "alice@ctl:1", ttl=300), check=False, diff=False)
    result = run_module(canary_lock, lock(cluster, ns, "operator", force=True), check=False, diff=False)
    assert result["action"] == "taken_over" and lease(cluster, ns)["spec"]["holderIdentity"] == "operator"


def test_race_for_a_free_lease_has_one_winner(cluster, ns, monkeypatch):
    real_get = ObjectAccess.get
    state = {"first": True}

    def get_then_interfere(self, namespace, name):
        obj = real_get(self, namespace, name)
        if state["first"]:
            state["first"] = False
            # another run creates the lease between our read and our create
            cluster.store.create({
                "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": name, "namespace": namespace},
                "spec": {"holderIdentity": "carol@ctl:3", "leaseDurationSeconds": 300,
                         "acquireTime": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                         "renewTime": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")},
            })
        return obj

    monkeypatch.setattr(ObjectAccess, "get", get_then_interfere)
    result = run_module(canary_lock, lock(cluster, ns, "bob@ctl:2"), check=False, diff=False)
    assert result["failed"] is True and "locked by carol@ctl:3" in result["msg"]
    assert lease(cluster, ns)["spec"]["holderIdentity"] == "carol@ctl:3"


def test_bad_ttl_names_the_field(cluster, ns, check=False, diff=False):
    result = run_module(canary_lock, lock(cluster, ns, "alice", ttl=0), check=False, diff=False)
    assert result["failed"] is True and "ttl must be a positive number of seconds" in result["msg"]
    assert lease(cluster, ns) is None
