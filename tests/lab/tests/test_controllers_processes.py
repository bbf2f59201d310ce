"""Pods as real sample-app processes: crash loops, and a rollout of Flagger's podinfo that really moves processes."""

import json
import os
import urllib.request

import pytest
import yaml

from tests.lab.controllers.kubelet import HOST_PORTS_ANNOTATION, image_tag, rewrite_args
from tests.lab.tests._http import call

pytestmark = pytest.mark.lab

MANIFESTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "manifests", "podinfo")
API = "apps/v1"


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is not running any more
        with open("/proc/%d/stat" % pid) as handle:
            return handle.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def condition(obj, kind):
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == kind), {})


def test_container_args_and_image_tag_mapping():
    ports = {9898: 40001, 9797: 40002}
    assert rewrite_args(["./podinfo", "--port=9898", "--port-metrics", "9797", "--level=info", "--port-x=1"], ports) == [
        "--port=40001", "--port-metrics", "40002", "--level=info", "--port-x=1"]
    assert image_tag("ghcr.io/stefanprodan/podinfo:6.0.1") == "6.0.1"
    assert image_tag("localhost:5000/podinfo") == "latest"


def test_crash_looping_container_shows_in_pod_status_and_trips_the_deadline(process_cluster):
    cluster = process_cluster
    cluster.store.create({
        "apiVersion": API, "kind": "Deployment", "metadata": {"name": "broken", "namespace": "default"},
        "spec": {"replicas": 1, "progressDeadlineSeconds": 3, "selector": {"matchLabels": {"app": "broken"}},
                 "template": {"metadata": {"labels": {"app": "broken"}},
                              "spec": {"containers": [{"name": "podinfod", "image": "ghcr.io/stefanprodan/podinfo:6.0.1",
                                                       "command": ["./podinfo", "--port=not-a-port"],
                                                       "ports": [{"containerPort": 9898}]}]}}}})

    def crash_looping():
        pods = cluster.store.list("v1", "Pod", "default", label_selector="app=broken")
        statuses = [c for p in pods for c in (p.get("status") or {}).get("containerStatuses") or []]
        looping = [c for c in statuses if c["restartCount"] >= 1 and c["state"].get("waiting", {}).get("reason") == "CrashLoopBackOff"]
        return looping and looping[0]

    container = cluster.wait_for(crash_looping, timeout=15, message="CrashLoopBackOff with a restart")
    assert container["ready"] is False
    assert container["lastState"]["terminated"]["exitCode"] != 0
    deployment = cluster.wait_for(lambda: condition(cluster.store.get(API, "Deployment", "default", "broken"), "Progressing")
                                  .get("reason") == "ProgressDeadlineExceeded" and cluster.store.get(API, "Deployment", "default", "broken"),
                                  timeout=10, message="ProgressDeadlineExceeded")
    assert condition(deployment, "Progressing")["status"] == "False"
    assert condition(deployment, "Available")["status"] == "False"
    assert not deployment["status"].get("availableReplicas")


def test_flagger_podinfo_rolls_real_processes(process_cluster):
    cluster = process_cluster
    store = cluster.store
    store.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "test"}})
    for name in ("deployment.yaml", "hpa.yaml"):
        with open(os.path.join(MANIFESTS, name)) as handle:
            store.create(yaml.safe_load(handle))
    store.create({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "podinfo", "namespace": "test"},
                  "spec": {"selector": {"app": "podinfo"}, "ports": [{"name": "http", "port": 9898, "targetPort": "http"}]}})

    def versions(count):
        """{pod: version} served by the endpoints' processes, once `count` pods are ready and available."""
        deployment = store.get(API, "Deployment", "test", "podinfo")
        status = deployment.get("status") or {}
        if not (status.get("observedGeneration") == deployment["metadata"]["generation"] and status.get("availableReplicas") == count
                and status.get("updatedReplicas") == count and status.get("replicas") == count):
            return None
        subsets = (store.get("v1", "Endpoints", "test", "podinfo") or {}).get("subsets") or []
        if len(subsets) != count:
            return None
        served = {}
        for subset in subsets:
            url = "http://%s:%d/version" % (subset["addresses"][0]["ip"], subset["ports"][0]["port"])
            with urllib.request.urlopen(url, timeout=2) as response:
                served[subset["addresses"][0]["targetRef"]["name"]] = json.loads(response.read())["version"]
        return served

    # Flagger's manifest has no replicas: 1 by default, then the HPA (minReplicas 2) lifts it to 2.
    first = cluster.wait_for(lambda: versions(2), timeout=40, message="two podinfo 6.0.0 processes")
    assert set(first.values()) == {"6.0.0"}
    old_pids = set(cluster.controllers.pids())
    assert len(old_pids) == 2 and all(alive(pid) for pid in old_pids)
    pod = store.list("v1", "Pod", "test")[0]
    assert set(json.loads(pod["metadata"]["annotations"][HOST_PORTS_ANNOTATION])) == {"9898", "9797", "9999"}
    log = call(cluster, "GET", "/api/v1/namespaces/test/pods/%s/log?tailLines=5" % pod["metadata"]["name"])
    assert log.status == 200 and b"listening" in log.raw

    store.patch(API, "Deployment", "test", "podinfo",
                {"spec": {"template": {"spec": {"containers": [{"name": "podinfod", "image": "ghcr.io/stefanprodan/podinfo:6.0.1"}]}}}},
                "application/strategic-merge-patch+json")
    second = cluster.wait_for(lambda: versions(2), timeout=60, message="two podinfo 6.0.1 processes")
    assert set(second.values()) == {"6.0.1"} and not set(second) & set(first)
    cluster.wait_for(lambda: not any(alive(pid) for pid in old_pids), timeout=10, message="old processes gone")

    store.patch(API, "Deployment", "test", "podinfo", {"spec": {"replicas": 3}}, "application/merge-patch+json")
    third = cluster.wait_for(lambda: versions(3), timeout=40, message="three podinfo processes")
    assert set(third.values()) == {"6.0.1"}
    pids = set(cluster.controllers.pids())
    assert len(pids) == 3

    store.patch(API, "Deployment", "test", "podinfo", {"spec": {"replicas": 0}}, "application/merge-patch+json")
    cluster.wait_for(lambda: not any(alive(pid) for pid in pids), timeout=15, message="processes stopped at 0 replicas")
    assert not (store.get("v1", "Endpoints", "test", "podinfo") or {}).get("subsets")


def test_pods_without_port_flags_get_their_own_ports_and_env_from_config_maps(process_cluster):
    cluster = process_cluster
    store = cluster.store
    store.create({"apiVersion": API, "kind": "Deployment", "metadata": {"name": "plain", "namespace": "default"},
                  "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "plain"}},
                           "template": {"metadata": {"labels": {"app": "plain"}},
                                        "spec": {"containers": [{
                                            "name": "podinfod", "image": "ghcr.io/stefanprodan/podinfo:6.1.0",
                                            "ports": [{"name": "http", "containerPort": 9898}],
                                            "env": [{"name": "PODINFO_UI_MESSAGE", "valueFrom": {"configMapKeyRef": {"name": "ui", "key": "message"}}}],
                                            "readinessProbe": {"httpGet": {"path": "/readyz", "port": "http"}}}]}}}})

    def waiting_reason():
        pods = store.list("v1", "Pod", "default", label_selector="app=plain")
        reasons = {c["state"].get("waiting", {}).get("reason") for p in pods for c in (p.get("status") or {}).get("containerStatuses") or []}
        return "CreateContainerConfigError" in reasons

    cluster.wait_for(waiting_reason, timeout=10, message="CreateContainerConfigError while the ConfigMap is missing")
    store.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ui", "namespace": "default"}, "data": {"message": "hello lab"}})
    cluster.wait_for(lambda: (store.get(API, "Deployment", "default", "plain").get("status") or {}).get("availableReplicas") == 2,
                     timeout=20, message="two ready pods")
    ports = set()
    for pod in store.list("v1", "Pod", "default", label_selector="app=plain"):
        port = json.loads(pod["metadata"]["annotations"][HOST_PORTS_ANNOTATION])["9898"]
        ports.add(port)
        with urllib.request.urlopen("http://127.0.0.1:%d/env" % port, timeout=2) as response:
            environment = json.loads(response.read())
        assert "PODINFO_UI_MESSAGE=hello lab" in environment
        assert "LAB_POD_NAME=%s" % pod["metadata"]["name"] in environment
    assert len(ports) == 2
