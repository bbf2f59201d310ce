"""canary_init and canary_promote with real sample-app pods: the primary's pods run on the
``-primary`` copy of the target's ConfigMap, and a promoted config change reaches them."""

import json
import urllib.request

import pytest

from ansible_collections.progressive.delivery.plugins.modules import canary_init, canary_promote

from tests.modules.cluster.harness import edit, podinfo_deployment, run_module, seed

pytestmark = pytest.mark.lab
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # no proxy between us and the pod network


def ready_primary_colors(lab):
    colors = []
    for pod in lab.store.list("v1", "Pod", lab.namespace):
        if not pod["metadata"]["name"].startswith("podinfo-primary-"):
            continue
        conditions = {c["type"]: c["status"] for c in (pod.get("status") or {}).get("conditions") or []}
        if conditions.get("Ready") != "True" or pod["metadata"].get("deletionTimestamp"):
            continue
        # the pod's own address on the lab's pod network, where podinfo listens
        with _DIRECT.open("http://%s:9898/" % pod["status"]["podIP"], timeout=5) as response:
            colors.append(json.loads(response.read())["color"])
    return colors


def test_primary_pods_use_the_primary_config_copy(lab):
    config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "podinfo-env"},
                  "data": {"PODINFO_UI_COLOR": "#2f9e44"}}
    deployment = podinfo_deployment(replicas=1)
    # A key reference (the lab's node agent resolves env keys, not envFrom); not podinfo's default colour
    # (#34577c), so the first check proves the pods read the copy.
    deployment["spec"]["template"]["spec"]["containers"][0]["env"] = [
        {"name": "PODINFO_UI_COLOR", "valueFrom": {"configMapKeyRef": {"name": "podinfo-env", "key": "PODINFO_UI_COLOR"}}}]
    seed(lab, config_map, deployment)
    result = run_module(canary_init, lab, dict(target="podinfo", wait_timeout=60))
    assert not result.get("failed"), result
    assert ready_primary_colors(lab) == ["#2f9e44"]

    # The user edits the ConfigMap for the next release: the primary keeps running on its copy.
    edit(lab, "v1", "ConfigMap", "podinfo-env", lambda cm: cm["data"].update(PODINFO_UI_COLOR="#ff0000"))
    assert lab.store.get("v1", "ConfigMap", lab.namespace, "podinfo-env-primary")["data"]["PODINFO_UI_COLOR"] == "#2f9e44"

    promoted = run_module(canary_promote, lab, dict(target="podinfo", timeout=60))
    assert not promoted.get("failed"), promoted
    assert promoted["pod_template_hash"] != result["pod_template_hash"]
    lab.wait_for(lambda: ready_primary_colors(lab) == ["#ff0000"], timeout=30, message="primary pods on the new config")
