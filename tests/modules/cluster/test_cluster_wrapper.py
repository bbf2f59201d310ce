"""The module wrapper's write path against the real API server: stale writes are refused, not overwritten,
and the modules run the same through ansible's own module runner as in-process."""

import json
import os
import subprocess
import sys

import pytest
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.client import get_api_client

from ansible_collections.progressive.delivery.plugins.module_utils.k8s import Changes, Cluster, ClusterError, overlay
from ansible_collections.progressive.delivery.plugins.modules import canary_init

from tests.modules.cluster.harness import podinfo_deployment, run_module, seed

VS = ("networking.istio.io/v1beta1", "VirtualService")
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


@pytest.fixture
def initialised(lab):
    seed(lab, podinfo_deployment())
    assert not run_module(canary_init, lab, dict(target="podinfo", wait_timeout=30)).get("failed")
    return lab


def _client_cluster(lab):
    run_module(canary_init, lab, dict(target="podinfo"), check=True)  # resets cached clients
    return Cluster(get_api_client(kubeconfig=str(lab.kubeconfig)))


def test_a_stale_write_to_a_field_someone_else_changed_is_rejected(initialised):
    lab = initialised
    cluster = _client_cluster(lab)
    stale = cluster.get(VS[0], VS[1], lab.namespace, "podinfo")
    fresh = lab.store.get(VS[0], VS[1], lab.namespace, "podinfo")
    fresh["spec"]["hosts"] = ["podinfo", "theirs"]
    lab.store.update(fresh)
    with pytest.raises(ClusterError) as err:
        cluster.write(stale, overlay(stale, {"spec": {"hosts": ["podinfo", "ours"]}}), Changes())
    assert "409 Conflict" in str(err.value) and "run the task again" in str(err.value)
    assert lab.store.get(VS[0], VS[1], lab.namespace, "podinfo")["spec"]["hosts"] == ["podinfo", "theirs"]


def test_a_stale_write_to_other_fields_is_merged_without_losing_their_change(initialised):
    lab = initialised
    cluster = _client_cluster(lab)
    stale = cluster.get(VS[0], VS[1], lab.namespace, "podinfo")
    fresh = lab.store.get(VS[0], VS[1], lab.namespace, "podinfo")
    fresh["spec"]["http"][0]["timeout"] = "1s"
    lab.store.update(fresh)
    changes = Changes()
    cluster.write(stale, overlay(stale, {"spec": {"hosts": ["podinfo", "ours"]}}), changes)
    stored = lab.store.get(VS[0], VS[1], lab.namespace, "podinfo")
    assert stored["spec"]["hosts"] == ["podinfo", "ours"] and stored["spec"]["http"][0]["timeout"] == "1s"
    assert changes.objects == [{"kind": "VirtualService", "name": "podinfo", "action": "updated"}]


def test_modules_run_through_ansible(initialised, tmp_path):
    """`ansible localhost -m progressive.delivery.canary_route`: AnsiballZ packaging of the module_utils."""
    lab = initialised
    env = dict(os.environ)
    env.update(ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, ".build", "collections"), ANSIBLE_LOCALHOST_WARNING="false",
               ANSIBLE_INVENTORY_UNPARSED_WARNING="false", ANSIBLE_STDOUT_CALLBACK="json", ANSIBLE_LOAD_CALLBACK_PLUGINS="true",
               ANSIBLE_HOME=str(tmp_path), K8S_AUTH_KUBECONFIG=str(lab.kubeconfig))
    ansible = os.path.join(os.path.dirname(sys.executable), "ansible")
    args = json.dumps({"namespace": lab.namespace, "target": "podinfo", "weight": 25})
    command = [ansible, "localhost", "-c", "local", "-e", "ansible_python_interpreter=%s" % sys.executable,
               "-m", "progressive.delivery.canary_route", "-a", args]
    proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(proc.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]
    assert result["changed"] is True and result["weights"] == {"primary": 75, "canary": 25}
    assert [d["weight"] for d in lab.store.get(VS[0], VS[1], lab.namespace, "podinfo")["spec"]["http"][0]["route"]] == [75, 25]
