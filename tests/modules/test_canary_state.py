"""canary_state against the lab's real Kubernetes API server (real HTTP, resourceVersion-guarded writes)."""

import json

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils.k8s import ObjectAccess
from ansible_collections.progressive.delivery.plugins.modules import canary_state

from tests.modules.cluster.harness import run_module


def deployment(name, namespace, image="ghcr.io/stefanprodan/podinfo:6.0.0", config=None):
    container = {"name": "podinfod", "image": image, "ports": [{"containerPort": 9898, "name": "http"}]}
    if config:
        container["envFrom"] = [{"configMapRef": {"name": config}}]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [container]}},
        },
    }


@pytest.fixture
def ns(cluster):
    """The test's own namespace of the real lab."""
    return cluster.namespace


def base(cluster, ns, **kwargs):
    args = {"kubeconfig": str(cluster.kubeconfig), "target": "podinfo", "namespace": ns}
    args.update(kwargs)
    return args


def stored(cluster, ns):
    cm = cluster.store.get("v1", "ConfigMap", ns, "podinfo-canary-status")
    return None if cm is None else json.loads(cm["data"]["status.json"])


def recorded_events(cluster, ns):
    """The Events the collection wrote (the scheduler, the kubelet and the controllers write theirs too)."""
    return [event for event in cluster.store.list("v1", "Event", ns) if event.get("reportingComponent") == "progressive.delivery/rollout"]


def test_read_when_nothing_is_stored(cluster, ns, check=False, diff=False):
    result = run_module(canary_state, base(cluster, ns), check=False, diff=False)
    assert result["changed"] is False
    assert result["status"] == {} and result["exists"] is False
    assert stored(cluster, ns) is None


def test_check_mode_predicts_then_write_then_idempotent(cluster, ns, check=False, diff=False):
    patch = {"phase": "Progressing", "canary_weight": 10, "failed_checks": 0, "last_applied_hash": "abc"}
    predicted = run_module(canary_state, base(cluster, ns, status=patch), check=True, diff=True)
    assert predicted["changed"] is True
    assert predicted["diff"]["before"] == {}
    assert predicted["status"]["canary_weight"] == 10
    assert stored(cluster, ns) is None  # check mode wrote nothing

    written = run_module(canary_state, base(cluster, ns, status=patch), check=False, diff=True)
    assert written["changed"] is True
    assert stored(cluster, ns) == written["status"]
    assert written["status"]["last_transition_time"].endswith("Z")
    rv = cluster.store.get("v1", "ConfigMap", ns, "podinfo-canary-status")["metadata"]["resourceVersion"]

    again = run_module(canary_state, base(cluster, ns, status=patch), check=False, diff=False)
    assert again["changed"] is False
    assert cluster.store.get("v1", "ConfigMap", ns, "podinfo-canary-status")["metadata"]["resourceVersion"] == rv

    merged = run_module(canary_state, base(cluster, ns, status={"canary_weight": 20, "last_analysis": [{"name": "x", "value": 1.0}]}), check=False, diff=False)
    assert merged["changed"] is True
    assert stored(cluster, ns)["canary_weight"] == 20
    assert stored(cluster, ns)["last_applied_hash"] == "abc"  # merge patch keeps the rest
    assert stored(cluster, ns)["last_transition_time"] == written["status"]["last_transition_time"]  # phase unchanged

    cleared = run_module(canary_state, base(cluster, ns, status={"last_analysis": None}), check=False, diff=False)
    assert "last_analysis" not in stored(cluster, ns) and cleared["changed"] is True


def test_bad_field_fails_and_writes_nothing(cluster, ns, check=False, diff=False):
    result = run_module(canary_state, base(cluster, ns, status={"phase": "Running"}), check=False, diff=False)
    assert result["failed"] is True
    assert "status.phase must be one of" in result["msg"]
    result = run_module(canary_state, base(cluster, ns, status={"weight": 10}), check=False, diff=False)
    assert "status.weight is not a status field" in result["msg"]
    assert stored(cluster, ns) is None


def test_stale_write_is_merged_again(cluster, ns, monkeypatch):
    run_module(canary_state, base(cluster, ns, status={"phase": "Progressing", "canary_weight": 10}), check=False, diff=False)
    real_get = ObjectAccess.get
    calls = {"n": 0}

    def get_then_interfere(self, namespace, name):
        obj = real_get(self, namespace, name)
        if name == "podinfo-canary-status" and calls["n"] == 0:
            calls["n"] += 1
            # another writer commits between our read and our write
            other = cluster.store.get("v1", "ConfigMap", namespace, name)
            other["data"]["status.json"] = json.dumps({"phase": "Progressing", "canary_weight": 10, "requested": "abort"})
            cluster.store.update(other)
        return obj

    monkeypatch.setattr(ObjectAccess, "get", get_then_interfere)
    result = run_module(canary_state, base(cluster, ns, status={"failed_checks": 1}), check=False, diff=False)
    assert result["changed"] is True
    assert stored(cluster, ns) == {"phase": "Progressing", "canary_weight": 10, "requested": "abort", "failed_checks": 1}


def test_detect_revision(cluster, ns, check=False, diff=False):
    cluster.store.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "podinfo-config", "namespace": ns},
                          "data": {"PODINFO_UI_COLOR": "blue"}})
    cluster.store.create(deployment("podinfo", ns, config="podinfo-config"))
    first = run_module(canary_state, base(cluster, ns, detect_revision=True), check=False, diff=False)
    revision = first["revision"]
    assert revision["target_exists"] is True and revision["decision"] == "initialize"
    assert len(revision["hash"]) == 16 and revision["promoted_hash"] is None

    run_module(canary_state, base(cluster, ns, status={"phase": "Initialized", "last_promoted_hash": revision["hash"]}), check=False, diff=False)
    assert run_module(canary_state, base(cluster, ns, detect_revision=True), check=False, diff=False)["revision"]["decision"] == "unchanged"

    # a config change is a new revision (config tracking), unless tracking is off
    cm = cluster.store.get("v1", "ConfigMap", ns, "podinfo-config")
    cm["data"]["PODINFO_UI_COLOR"] = "red"
    cluster.store.update(cm)
    changed = run_module(canary_state, base(cluster, ns, detect_revision=True), check=False, diff=False)["revision"]
    assert changed["decision"] == "new" and changed["hash"] != revision["hash"]
    untracked = run_module(canary_state, base(cluster, ns, detect_revision=True, config_tracking=False), check=False, diff=False)["revision"]
    assert untracked["hash"] != changed["hash"]

    missing = run_module(canary_state, base(cluster, ns, target="nothere", detect_revision=True), check=False, diff=False)["revision"]
    assert missing == {"hash": None, "promoted_hash": None, "target_exists": False, "decision": None}


def test_absent_deletes_and_is_idempotent(cluster, ns, check=False, diff=False):
    run_module(canary_state, base(cluster, ns, status={"phase": "Succeeded"}), check=False, diff=False)
    predicted = run_module(canary_state, base(cluster, ns, state="absent"), check=True, diff=False)
    assert predicted["changed"] is True and stored(cluster, ns) is not None
    assert run_module(canary_state, base(cluster, ns, state="absent"), check=False, diff=False)["changed"] is True
    assert stored(cluster, ns) is None
    assert run_module(canary_state, base(cluster, ns, state="absent"), check=False, diff=False)["changed"] is False


def test_unreachable_api_fails_clearly(tmp_path, check=False, diff=False):
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'http://127.0.0.1:9'}}]\n"
        "users: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n"
    )
    result = run_module(canary_state, {"kubeconfig": str(kubeconfig), "target": "podinfo", "namespace": "test"}, check=False, diff=False)
    assert result["failed"] is True
    assert "127.0.0.1:9" in result["msg"] or "refused" in result["msg"].lower()


def test_events_are_recorded_on_the_target(cluster, ns, check=False, diff=False):
    cluster.store.create(deployment("podinfo", ns))
    events = [{"text": "Advance podinfo.%s canary weight 25" % ns}, {"text": "Halt it", "type": "Warning"}]
    predicted = run_module(canary_state, base(cluster, ns, status={"canary_weight": 25}, events=events), check=True, diff=False)
    assert predicted["events"] == []
    assert recorded_events(cluster, ns) == []
    result = run_module(canary_state, base(cluster, ns, status={"canary_weight": 25}, events=events), check=False, diff=False)
    assert len(result["events"]) == 2 and result["changed"] is True
    stored_events = sorted(recorded_events(cluster, ns), key=lambda e: e["metadata"]["name"])
    assert [e["message"] for e in stored_events] == [events[0]["text"], "Halt it"]
    assert [e["type"] for e in stored_events] == ["Normal", "Warning"]
    target = cluster.store.get("apps/v1", "Deployment", ns, "podinfo")
    assert all(e["involvedObject"]["uid"] == target["metadata"]["uid"] for e in stored_events)
    assert all(e["involvedObject"]["kind"] == "Deployment" and e["reason"] == "Synced" for e in stored_events)
    # status unchanged but an event given: the event is still recorded
    again = run_module(canary_state, base(cluster, ns, status={"canary_weight": 25}, events=[{"text": "x"}]), check=False, diff=False)
    assert len(again["events"]) == 1 and len(recorded_events(cluster, ns)) == 3
