"""Controllers with simulated pods: rollouts, status and conditions, scaling, deadlines, endpoints, HPA bounds, GC."""

import threading

import pytest

from tests.lab.tests._http import call, deployment

API = "apps/v1"


def get(cluster, kind, name, namespace="default", api_version=None):
    api_version = api_version or {"Deployment": API, "ReplicaSet": API, "HorizontalPodAutoscaler": "autoscaling/v2"}.get(kind, "v1")
    return cluster.store.get(api_version, kind, namespace, name)


def status(cluster, name="web"):
    return get(cluster, "Deployment", name).get("status") or {}


def condition(obj, kind):
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == kind), None)


def rolled_out(cluster, name="web"):
    def check():
        obj = get(cluster, "Deployment", name)
        st = obj.get("status") or {}
        replicas = obj["spec"]["replicas"]
        done = (st.get("observedGeneration") == obj["metadata"]["generation"] and st.get("updatedReplicas", 0) == replicas
                and st.get("replicas", 0) == replicas and st.get("availableReplicas", 0) == replicas)
        return obj if done else None

    return check


def with_readiness(body, delay):
    probe = {"httpGet": {"path": "/readyz", "port": 8080}, "initialDelaySeconds": delay}
    body["spec"]["template"]["spec"]["containers"][0]["readinessProbe"] = probe
    return body


class PodCounter:
    """Counts the pods of an app after every committed pod write (exact, not sampled); start when the cluster is idle."""

    def __init__(self, store, app):
        self.app = app
        self.pods = {}
        self.samples = []
        self.lock = threading.Lock()
        for pod in store.list("v1", "Pod", label_selector="app=" + app):
            self.pods[pod["metadata"]["name"]] = any(c["type"] == "Ready" and c["status"] == "True"
                                                     for c in (pod.get("status") or {}).get("conditions") or [])
        self.unsubscribe = store.subscribe(self.on_event)

    def on_event(self, kind, obj):
        if obj.get("kind") != "Pod" or (obj["metadata"].get("labels") or {}).get("app") != self.app:
            return
        ready = any(c["type"] == "Ready" and c["status"] == "True" for c in (obj.get("status") or {}).get("conditions") or [])
        with self.lock:
            if kind == "DELETED":
                self.pods.pop(obj["metadata"]["name"], None)
            else:
                self.pods[obj["metadata"]["name"]] = ready
            self.samples.append((len(self.pods), sum(self.pods.values())))


def test_rollout_honours_max_surge_and_max_unavailable(cluster):
    body = with_readiness(deployment(replicas=4, strategy={"type": "RollingUpdate",
                                                           "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 1}}), 1)
    cluster.store.create(body)
    cluster.wait_for(rolled_out(cluster), timeout=10, message="initial rollout")
    counter = PodCounter(cluster.store, "web")
    try:
        cluster.store.patch(API, "Deployment", "default", "web",
                            {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "example/web:2.0"}]}}}},
                            "application/strategic-merge-patch+json")
        cluster.wait_for(rolled_out(cluster), timeout=15, message="rollout of 2.0")
    finally:
        counter.unsubscribe()
    assert counter.samples, "the rollout changed no pod"
    assert max(total for total, _ in counter.samples) == 5  # replicas + maxSurge, never more
    assert min(ready for _, ready in counter.samples) >= 3  # replicas - maxUnavailable, never less
    pods = cluster.store.list("v1", "Pod", "default", label_selector="app=web")
    assert {p["spec"]["containers"][0]["image"] for p in pods} == {"example/web:2.0"}


def test_status_conditions_revisions_and_history(cluster):
    cluster.store.create(deployment(replicas=2, revisionHistoryLimit=1))
    first = cluster.wait_for(rolled_out(cluster), timeout=5)
    assert first["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
    assert condition(first, "Available")["reason"] == "MinimumReplicasAvailable"
    assert condition(first, "Progressing")["status"] == "True"
    assert condition(first, "Progressing")["reason"] == "NewReplicaSetAvailable"

    replicasets = cluster.store.list(API, "ReplicaSet", "default")
    assert len(replicasets) == 1
    pod_hash = replicasets[0]["metadata"]["labels"]["pod-template-hash"]
    assert replicasets[0]["metadata"]["name"] == "web-" + pod_hash
    assert replicasets[0]["spec"]["selector"]["matchLabels"]["pod-template-hash"] == pod_hash
    pods = cluster.store.list("v1", "Pod", "default", label_selector="pod-template-hash=" + pod_hash)
    assert len(pods) == 2
    assert all(p["metadata"]["ownerReferences"][0]["uid"] == replicasets[0]["metadata"]["uid"] for p in pods)

    for version in ("2.0", "3.0"):
        cluster.store.patch(API, "Deployment", "default", "web",
                            {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "example/web:" + version}]}}}},
                            "application/strategic-merge-patch+json")
        cluster.wait_for(rolled_out(cluster), timeout=5)
    final = get(cluster, "Deployment", "web")
    assert final["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    assert final["status"]["observedGeneration"] == 3
    replicasets = {rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]: rs
                   for rs in cluster.store.list(API, "ReplicaSet", "default")}
    assert sorted(replicasets) == ["2", "3"]  # revisionHistoryLimit 1 keeps one old ReplicaSet
    assert replicasets["2"]["spec"]["replicas"] == 0


def test_scale_to_zero_and_back(cluster):
    cluster.store.create(deployment(replicas=3))
    cluster.wait_for(rolled_out(cluster), timeout=5)
    response = call(cluster, "PATCH", "/apis/apps/v1/namespaces/default/deployments/web/scale", {"spec": {"replicas": 0}},
                    "application/merge-patch+json")
    assert response.status == 200
    cluster.wait_for(lambda: not cluster.store.list("v1", "Pod", "default", label_selector="app=web"), timeout=5)
    zero = cluster.wait_for(rolled_out(cluster), timeout=5)
    # A real server leaves the zero counters out of a Deployment's status.
    assert not {"replicas", "readyReplicas", "availableReplicas", "updatedReplicas"} & set(zero["status"])
    assert condition(zero, "Available")["status"] == "True"
    cluster.store.patch(API, "Deployment", "default", "web", {"spec": {"replicas": 2}}, "application/merge-patch+json")
    cluster.wait_for(rolled_out(cluster), timeout=5)
    assert len(cluster.store.list("v1", "Pod", "default", label_selector="app=web")) == 2


def test_min_ready_seconds_delays_availability(cluster):
    cluster.store.create(deployment(replicas=1, minReadySeconds=2))
    cluster.wait_for(lambda: status(cluster).get("readyReplicas") == 1, timeout=5)
    early = status(cluster)
    assert not early.get("availableReplicas")
    assert condition(get(cluster, "Deployment", "web"), "Available")["reason"] == "MinimumReplicasUnavailable"
    cluster.wait_for(lambda: status(cluster).get("availableReplicas") == 1, timeout=5)


def test_progress_deadline_exceeded_when_pods_never_become_ready(cluster):
    cluster.store.create(with_readiness(deployment(replicas=1, progressDeadlineSeconds=2), 3600))
    stuck = cluster.wait_for(lambda: (condition(get(cluster, "Deployment", "web"), "Progressing") or {}).get("reason")
                             == "ProgressDeadlineExceeded" and get(cluster, "Deployment", "web"), timeout=6)
    progressing = condition(stuck, "Progressing")
    assert progressing["status"] == "False"
    assert progressing["message"].endswith("has timed out progressing.")
    assert stuck["status"]["unavailableReplicas"] == 1


def test_recreate_strategy_replaces_all_pods_at_once(cluster):
    cluster.store.create(deployment(replicas=2, strategy={"type": "Recreate"}))
    cluster.wait_for(rolled_out(cluster), timeout=5)
    counter = PodCounter(cluster.store, "web")
    try:
        cluster.store.patch(API, "Deployment", "default", "web",
                            {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "example/web:2.0"}]}}}},
                            "application/strategic-merge-patch+json")
        cluster.wait_for(rolled_out(cluster), timeout=5)
    finally:
        counter.unsubscribe()
    assert (0, 0) in counter.samples and max(total for total, _ in counter.samples) == 2


def test_endpoints_list_ready_pods_one_subset_each(cluster):
    cluster.store.create(with_readiness(deployment(replicas=2), 1))
    cluster.store.create({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "default"},
                          "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}})
    assert not (get(cluster, "Endpoints", "web") or {}).get("subsets")  # nobody ready yet
    endpoints = cluster.wait_for(lambda: len((get(cluster, "Endpoints", "web") or {}).get("subsets") or []) == 2
                                 and get(cluster, "Endpoints", "web"), timeout=5)
    pods = {p["metadata"]["name"] for p in cluster.store.list("v1", "Pod", "default", label_selector="app=web")}
    assert {s["addresses"][0]["targetRef"]["name"] for s in endpoints["subsets"]} == pods
    assert all(s["addresses"][0]["ip"] == "127.0.0.1" for s in endpoints["subsets"])
    assert all(s["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}] for s in endpoints["subsets"])
    cluster.store.delete("v1", "Service", "default", "web")
    cluster.wait_for(lambda: get(cluster, "Endpoints", "web") is None, timeout=5)


def test_hpa_records_status_and_keeps_replicas_within_bounds(cluster):
    cluster.store.create(deployment(replicas=1))
    cluster.store.create({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "web", "namespace": "default"},
                          "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                                   "minReplicas": 2, "maxReplicas": 4}})
    cluster.wait_for(lambda: get(cluster, "Deployment", "web")["spec"]["replicas"] == 2, timeout=5)
    cluster.wait_for(rolled_out(cluster), timeout=5)
    hpa = cluster.wait_for(lambda: (get(cluster, "HorizontalPodAutoscaler", "web").get("status") or {}).get("currentReplicas") == 2
                           and get(cluster, "HorizontalPodAutoscaler", "web"), timeout=5)
    assert hpa["status"]["desiredReplicas"] == 2
    assert condition(hpa, "ScalingActive")["status"] == "False"  # no metrics API in the lab: no metric-driven scaling
    cluster.store.patch(API, "Deployment", "default", "web", {"spec": {"replicas": 9}}, "application/merge-patch+json")
    cluster.wait_for(lambda: get(cluster, "Deployment", "web")["spec"]["replicas"] == 4, timeout=5)
    cluster.store.patch(API, "Deployment", "default", "web", {"spec": {"replicas": 0}}, "application/merge-patch+json")
    cluster.wait_for(lambda: not cluster.store.list("v1", "Pod", "default", label_selector="app=web"), timeout=5)
    assert get(cluster, "Deployment", "web")["spec"]["replicas"] == 0  # a target scaled to 0 is left alone


def test_deleting_a_deployment_collects_its_replicasets_and_pods(cluster):
    cluster.store.create(deployment(replicas=2))
    cluster.wait_for(rolled_out(cluster), timeout=5)
    assert call(cluster, "DELETE", "/apis/apps/v1/namespaces/default/deployments/web").status == 200
    assert cluster.store.list(API, "ReplicaSet", "default") == []
    assert cluster.store.list("v1", "Pod", "default") == []


def test_events_created_by_clients_are_stored_and_selectable(cluster):
    event = {"apiVersion": "v1", "kind": "Event", "metadata": {"name": "web.1", "namespace": "default"},
             "involvedObject": {"kind": "Deployment", "name": "web", "namespace": "default"}, "reason": "Synced",
             "message": "Advance web.default canary weight 10", "type": "Normal", "source": {"component": "rollout"}}
    assert call(cluster, "POST", "/api/v1/namespaces/default/events", event).status == 201
    found = call(cluster, "GET", "/api/v1/namespaces/default/events?fieldSelector=involvedObject.name%3Dweb,reason%3DSynced").json
    assert [e["message"] for e in found["items"]] == ["Advance web.default canary weight 10"]


@pytest.mark.parametrize("namespace", ["test"])
def test_deleting_a_namespace_deletes_its_objects(cluster, namespace):
    cluster.store.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    cluster.store.create(deployment(namespace=namespace, replicas=1))
    cluster.wait_for(rolled_out_in(cluster, namespace), timeout=5)
    cluster.store.delete("v1", "Namespace", None, namespace)
    assert cluster.store.list(API, "Deployment", namespace) == []
    assert cluster.store.list("v1", "Pod", namespace) == []


def rolled_out_in(cluster, namespace):
    return lambda: (cluster.store.get(API, "Deployment", namespace, "web").get("status") or {}).get("availableReplicas") == 1
