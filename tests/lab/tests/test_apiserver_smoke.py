"""Smoke test: the cluster starts fast and serves a Deployment through the DynamicClient."""

import time

from tests.lab.apiserver.testing import running_cluster


def test_cluster_starts_fast_and_rolls_out_a_deployment(tmp_path):
    started = time.monotonic()
    with running_cluster(tmp_path) as cluster:
        assert time.monotonic() - started < 1.0
        from kubernetes import config, dynamic

        client = dynamic.DynamicClient(config.new_client_from_config(cluster.kubeconfig))
        deployments = client.resources.get(api_version="apps/v1", kind="Deployment")
        deployments.create(namespace="default", body={
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "web", "image": "example/web:1.0"}]}}}})
        status = cluster.wait_for(lambda: (cluster.store.get("apps/v1", "Deployment", "default", "web").get("status") or {})
                                  .get("availableReplicas") == 2, timeout=5)
        assert status
        assert len(cluster.store.list("v1", "Pod", "default", label_selector="app=web")) == 2
