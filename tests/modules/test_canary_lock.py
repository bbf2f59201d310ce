"""canary_lock against the lab's Kubernetes API emulator (real HTTP, resourceVersion-guarded writes)."""

import datetime
import json

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.progressive.delivery.plugins.modules import canary_lock

from tests.lab.apiserver import start_apiserver


class _Cluster(object):
    def __init__(self, api, kubeconfig):
        self.api, self.store, self.kubeconfig = api, api.store, kubeconfig


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """The lab's API server alone: these modules only read and write objects (no controllers needed)."""
    api = start_apiserver()
    try:
        yield _Cluster(api, api.write_kubeconfig(tmp_path_factory.mktemp("lock") / "kubeconfig"))
    finally:
        api.stop()


def run_module(args, capsys, check_mode=False, diff=False):
    args = dict(args)
    if check_mode:
        args["_ansible_check_mode"] = True
    if diff:
        args["_ansible_diff"] = True
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            canary_lock.main()
    return json.loads(capsys.readouterr().out)


@pytest.fixture
def ns(cluster, request):
    name = "lk-" + request.node.name.replace("_", "-")[:40].lower().strip("-")
    if cluster.store.get("v1", "Namespace", None, name) is None:
        cluster.store.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    return name


def lock(cluster, ns, holder, **kwargs):
    args = {"kubeconfig": str(cluster.kubeconfig), "target": "podinfo", "namespace": ns, "holder": holder}
    args.update(kwargs)
    return args


def lease(cluster, ns):
    return cluster.store.get("coordination.k8s.io/v1", "Lease", ns, "podinfo-canary-lock")


def test_acquire_renew_release(cluster, ns, capsys):
    predicted = run_module(lock(cluster, ns, "alice@ctl:1", ttl=60), capsys, check_mode=True)
    assert predicted["changed"] is True and predicted["action"] == "created"
    assert lease(cluster, ns) is None

    taken = run_module(lock(cluster, ns, "alice@ctl:1", ttl=60), capsys)
    assert taken["action"] == "created" and taken["lease"]["holder"] == "alice@ctl:1"
    stored = lease(cluster, ns)
    assert stored["spec"]["holderIdentity"] == "alice@ctl:1" and stored["spec"]["leaseDurationSeconds"] == 60

    renewed = run_module(lock(cluster, ns, "alice@ctl:1", ttl=90), capsys)
    assert renewed["action"] == "renewed"
    assert lease(cluster, ns)["spec"]["leaseDurationSeconds"] == 90
    assert lease(cluster, ns)["spec"]["acquireTime"] == stored["spec"]["acquireTime"]

    released = run_module(lock(cluster, ns, "alice@ctl:1", state="released"), capsys, diff=True)
    assert released["action"] == "released" and released["changed"] is True
    assert not lease(cluster, ns)["spec"].get("holderIdentity")
    again = run_module(lock(cluster, ns, "alice@ctl:1", state="released"), capsys)
    assert again["changed"] is False and again["action"] == "none"


def test_second_holder_fails_at_once_naming_the_holder(cluster, ns, capsys):
    run_module(lock(cluster, ns, "alice@ctl:1", ttl=300), capsys)
    before = lease(cluster, ns)
    for check_mode in (True, False):
        result = run_module(lock(cluster, ns, "bob@ctl:2", ttl=300), capsys, check_mode=check_mode)
        assert result["failed"] is True
        assert "canary podinfo.test".replace("test", ns) in result["msg"]
        assert "locked by alice@ctl:1 since " + before["spec"]["acquireTime"] in result["msg"]
        assert result["holder"] == "alice@ctl:1"
    assert lease(cluster, ns) == before  # nothing written
    refused = run_module(lock(cluster, ns, "bob@ctl:2", state="released"), capsys)
    assert refused["failed"] is True and "cannot release" in refused["msg"]


def test_expired_lease_is_taken_over(cluster, ns, capsys):
    run_module(lock(cluster, ns, "alice@ctl:1", ttl=30), capsys)
    stale = lease(cluster, ns)
    old = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=31)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    stale["spec"]["renewTime"] = old
    stale["spec"]["acquireTime"] = old
    cluster.store.update(stale)
    result = run_module(lock(cluster, ns, "bob@ctl:2"), capsys)
    assert result["action"] == "taken_over" and result["previous_holder"] == "alice@ctl:1"
    assert lease(cluster, ns)["spec"]["holderIdentity"] == "bob@ctl:2"
    assert lease(cluster, ns)["spec"]["leaseTransitions"] == 1


def test_force_takes_a_live_lease(cluster, ns, capsys):
    run_module(lock(cluster, ns, "alice@ctl:1", ttl=300), capsys)
    result = run_module(lock(cluster, ns, "operator", force=True), capsys)
    assert result["action"] == "taken_over" and lease(cluster, ns)["spec"]["holderIdentity"] == "operator"


def test_race_for_a_free_lease_has_one_winner(cluster, ns, capsys, monkeypatch):
    real_get = canary_lock.ObjectAccess.get
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

    monkeypatch.setattr(canary_lock.ObjectAccess, "get", get_then_interfere)
    result = run_module(lock(cluster, ns, "bob@ctl:2"), capsys)
    assert result["failed"] is True and "locked by carol@ctl:3" in result["msg"]
    assert lease(cluster, ns)["spec"]["holderIdentity"] == "carol@ctl:3"


def test_bad_ttl_names_the_field(cluster, ns, capsys):
    result = run_module(lock(cluster, ns, "alice", ttl=0), capsys)
    assert result["failed"] is True and "ttl must be a positive number of seconds" in result["msg"]
    assert lease(cluster, ns) is None
