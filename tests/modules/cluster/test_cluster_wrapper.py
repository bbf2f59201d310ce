"""The module wrapper's write path against the real API server: stale writes are refused, not overwritten,
and a module answers the same run in the worker (plugin_utils/in_process.py) as through AnsiballZ."""

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


PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Predict a split
      progressive.delivery.canary_route: {namespace: "%(namespace)s", target: podinfo, weight: 40}
      check_mode: true
      diff: true
      register: predicted
    - name: Set a split
      progressive.delivery.canary_route: {namespace: "%(namespace)s", target: podinfo, weight: %(weight)d}
      register: routed
    - name: Set it again
      progressive.delivery.canary_route: {namespace: "%(namespace)s", target: podinfo, weight: %(weight)d}
      register: again
    - name: Refuse a weight
      progressive.delivery.canary_route: {namespace: "%(namespace)s", target: podinfo, weight: 140}
      register: refused
      ignore_errors: true
    - name: Keep the answers
      ansible.builtin.copy:
        content: "{{ {'predicted': predicted, 'routed': routed, 'again': again, 'refused': refused} | to_json }}"
        dest: "%(answers)s"
        mode: "0600"
"""


def _run_playbook(lab, tmp_path, in_process, weight):
    """ansible-playbook over canary_route, its module run in the worker or by AnsiballZ; the answers and the log."""
    work = tmp_path / ("in-process" if in_process else "process")
    (work / "tmp").mkdir(parents=True)
    answers = work / "answers.json"
    playbook = work / "playbook.yml"
    playbook.write_text(PLAYBOOK % dict(namespace=lab.namespace, weight=weight, answers=answers))
    env = dict(os.environ)
    env.update(ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, ".build", "collections"), ANSIBLE_LOCALHOST_WARNING="false",
               ANSIBLE_INVENTORY_UNPARSED_WARNING="false", ANSIBLE_HOME=str(work), TMPDIR=str(work / "tmp"),
               K8S_AUTH_KUBECONFIG=str(lab.kubeconfig))
    playbook_command = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    command = [playbook_command, "-i", "localhost,", "-c", "local", "-vvv", str(playbook),
               "-e", "ansible_python_interpreter=%s" % sys.executable, "-e", "progressive_delivery_in_process=%s" % in_process]
    proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180, check=False)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr
    return json.loads(answers.read_text()), proc.stdout, sorted(os.listdir(work / "tmp"))


def _route_back_to_the_primary(lab):
    route = lab.store.get(VS[0], VS[1], lab.namespace, "podinfo")
    for destination, weight in zip(route["spec"]["http"][0]["route"], (100, 0)):
        destination["weight"] = weight
    lab.store.update(route)


def test_a_module_answers_the_same_in_the_worker_as_through_ansiballz(initialised, tmp_path):
    """The same tasks both ways: the same answers (check mode and diff, a write, idempotence, a refusal)."""
    lab = initialised
    in_worker, worker_log, worker_tmp = _run_playbook(lab, tmp_path, True, 25)
    assert "progressive.delivery.canary_route runs in the worker" in worker_log
    assert "AnsiballZ_canary_route" not in worker_log
    assert in_worker["routed"]["changed"] is True and in_worker["routed"]["weights"] == {"primary": 75, "canary": 25}
    assert in_worker["again"]["changed"] is False and in_worker["predicted"]["diff"]
    assert in_worker["refused"]["failed"] is True and "weight" in in_worker["refused"]["msg"]
    # the CA file kubernetes writes for certificate-authority-data is removed as at a module process's exit; what
    # stays is the discovery cache the kubernetes client keeps on purpose (k8srcp-<hash>.json)
    assert [name for name in worker_tmp if not name.startswith("k8srcp-")] == [] and worker_tmp

    _route_back_to_the_primary(lab)
    as_process, process_log, process_tmp = _run_playbook(lab, tmp_path, False, 25)
    assert "progressive.delivery.canary_route runs as a module process: progressive_delivery_in_process is false" in process_log
    assert "AnsiballZ_canary_route" in process_log
    assert process_tmp == worker_tmp
    for task in ("predicted", "routed", "again", "refused"):
        assert as_process[task] == in_worker[task], task
    assert [d["weight"] for d in lab.store.get(VS[0], VS[1], lab.namespace, "podinfo")["spec"]["http"][0]["route"]] == [75, 25]
