"""kubernetes.core, unchanged, through the lab's kubeconfig: a real ansible-playbook run and the DynamicClient."""

import json
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
MANIFESTS = os.path.join(os.path.dirname(HERE), "manifests", "podinfo")


def test_kubernetes_core_modules_through_ansible_playbook(cluster, tmp_path):
    results = tmp_path / "results.json"
    bin_dir = os.path.dirname(sys.executable)
    env = dict(os.environ, PATH=bin_dir + os.pathsep + os.environ.get("PATH", ""), ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0")
    run = subprocess.run(
        [os.path.join(bin_dir, "ansible-playbook"), "-i", "localhost,", "-c", "local", os.path.join(HERE, "playbooks", "kubernetes_core.yml"),
         "-e", "kubeconfig=%s manifests=%s results=%s" % (cluster.kubeconfig, MANIFESTS, results)],
        env=env, capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    out = json.loads(results.read_text())

    # Flagger's tutorial manifests apply unchanged, become ready (the HPA lifts replicas to 2), and re-apply as no-ops.
    assert all(result["changed"] for result in out["podinfo"]["results"])
    podinfo = out["podinfo"]["results"][0]["result"]
    assert podinfo["status"]["availableReplicas"] == podinfo["spec"]["replicas"]
    assert not any(result["changed"] for result in out["podinfo_again"]["results"])

    assert out["web_created"]["changed"] and not out["web_again"]["changed"]
    assert out["scaled"]["changed"] and out["scaled"]["result"]["status"]["availableReplicas"] == 3
    assert out["patched"]["changed"]
    assert out["rollout"]["resources"][0]["status"]["observedGeneration"] == out["rollout"]["resources"][0]["metadata"]["generation"]
    assert {p["spec"]["containers"][0]["image"] for p in out["pods"]["resources"]} == {"example/web:2.0"}
    assert out["vs_created"]["changed"] and out["vs_shifted"]["changed"]
    assert [r["weight"] for r in out["vs_shifted"]["result"]["spec"]["http"][0]["route"]] == [90, 10]
    assert out["negative"]["failed"] and "weight -10 < 0" in out["negative"]["msg"]
    assert out["left"]["resources"] == []


def test_kubernetes_core_service_and_waiter_in_process(cluster):
    """The client, K8sService and waiter that our modules build on (module_utils of kubernetes.core)."""
    pytest.importorskip("ansible_collections.kubernetes.core")
    from ansible_collections.kubernetes.core.plugins.module_utils.k8s.client import get_api_client
    from ansible_collections.kubernetes.core.plugins.module_utils.k8s.waiter import get_waiter

    client = get_api_client(kubeconfig=cluster.kubeconfig)
    resource = client.resource("Deployment", "apps/v1")
    client.create(resource, {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "api", "namespace": "default"},
                             "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "api"}},
                                      "template": {"metadata": {"labels": {"app": "api"}},
                                                   "spec": {"containers": [{"name": "api", "image": "example/api:1"}]}}}},
                  namespace="default")
    ready, instance, _ = get_waiter(client, resource).wait(timeout=10, sleep=1, name="api", namespace="default")
    assert ready, instance
    assert instance["status"]["readyReplicas"] == 2
