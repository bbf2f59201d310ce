import copy

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils._errors import CanaryError
from ansible_collections.progressive.delivery.plugins.module_utils.workload import primary as wl
from ansible_collections.progressive.delivery.plugins.module_utils.k8s._waiter import deployment_ready


def podinfo(label="app", replicas=2):
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "podinfo", "namespace": "test", "labels": {label: "podinfo", "team": "a"}, "resourceVersion": "3"},
        "spec": {
            "replicas": replicas,
            "minReadySeconds": 3,
            "progressDeadlineSeconds": 60,
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0}},
            "selector": {"matchLabels": {label: "podinfo"}},
            "template": {
                "metadata": {"labels": {label: "podinfo", "version": "6.0.1"}, "annotations": {"prometheus.io/scrape": "true"}},
                "spec": {"containers": [{
                    "name": "podinfod", "image": "ghcr.io/stefanprodan/podinfo:6.0.1",
                    "ports": [{"name": "http", "containerPort": 9898}, {"name": "http-metrics", "containerPort": 9797}],
                    "envFrom": [{"configMapRef": {"name": "podinfo-env"}}],
                }]},
            },
        },
        "status": {"replicas": 2},
    }


@pytest.mark.parametrize("label", ["app", "name", "app.kubernetes.io/name"])
def test_supported_app_labels(label):
    assert wl.app_label(podinfo(label)) == (label, "podinfo")
    assert wl.primary_selector(podinfo(label)) == {label: "podinfo-primary"}
    assert wl.canary_selector(podinfo(label)) == {label: "podinfo"}


def test_label_preference_follows_flagger():
    target = podinfo("name")
    target["spec"]["selector"]["matchLabels"]["app"] = "web"
    target["spec"]["template"]["metadata"]["labels"]["app"] = "web"
    assert wl.app_label(target) == ("app", "web")


def test_unsupported_label_names_the_labels_and_the_fix():
    with pytest.raises(CanaryError) as err:
        wl.app_label(podinfo("component"))
    message = str(err.value)
    assert "Deployment test/podinfo" in message and "app, name, app.kubernetes.io/name" in message and "`app: podinfo`" in message
    assert err.value.field == "target"


def test_template_label_must_equal_selector():
    target = podinfo()
    target["spec"]["template"]["metadata"]["labels"]["app"] = "other"
    with pytest.raises(CanaryError) as err:
        wl.app_label(target)
    assert "differs" in str(err.value)


def test_primary_deployment():
    target = podinfo()
    renames = {("ConfigMap", "podinfo-env"): "podinfo-env-primary"}
    primary = wl.build_primary_deployment(target, renames, "abc")
    assert primary["metadata"]["name"] == "podinfo-primary"
    assert primary["metadata"]["labels"] == {"app": "podinfo-primary", "team": "a", "app.kubernetes.io/managed-by": "progressive.delivery"}
    assert primary["metadata"]["annotations"] == {wl.HASH_ANNOTATION: wl.target_hash(target, "abc")}
    spec = primary["spec"]
    assert spec["replicas"] == 2
    assert spec["selector"] == {"matchLabels": {"app": "podinfo-primary"}}
    assert spec["minReadySeconds"] == 3 and spec["progressDeadlineSeconds"] == 60 and spec["strategy"] == target["spec"]["strategy"]
    template = spec["template"]
    assert template["metadata"]["labels"] == {"app": "podinfo-primary", "version": "6.0.1"}
    assert template["metadata"]["annotations"] == {"prometheus.io/scrape": "true", wl.CONFIG_CHECKSUM_ANNOTATION: "abc"}
    assert template["spec"]["containers"][0]["envFrom"] == [{"configMapRef": {"name": "podinfo-env-primary"}}]
    assert target == podinfo(), "the target must not be modified"
    assert "resourceVersion" not in primary["metadata"] and "status" not in primary


def test_primary_of_a_target_already_at_zero_gets_one_replica():
    assert wl.build_primary_deployment(podinfo(replicas=0), {})["spec"]["replicas"] == 1


def test_hash_is_stable_and_changes_with_template_or_configs():
    a = podinfo()
    b = copy.deepcopy(a)
    b["spec"]["template"]["metadata"]["labels"] = dict(reversed(list(b["spec"]["template"]["metadata"]["labels"].items())))
    b["metadata"]["resourceVersion"] = "99"
    b["spec"]["replicas"] = 0
    assert wl.target_hash(a) == wl.target_hash(b)
    assert len(wl.target_hash(a)) == 16
    assert wl.target_hash(a, "cfg1") != wl.target_hash(a, "cfg2")
    b["spec"]["template"]["spec"]["containers"][0]["image"] = "ghcr.io/stefanprodan/podinfo:6.0.2"
    assert wl.target_hash(a) != wl.target_hash(b)


def test_promotion_replaces_template_and_hash_but_keeps_primary_replicas():
    target = podinfo()
    primary = wl.build_primary_deployment(target, {})
    primary["spec"]["replicas"] = 4
    primary["metadata"]["resourceVersion"] = "10"
    target["spec"]["template"]["spec"]["containers"][0]["image"] = "ghcr.io/stefanprodan/podinfo:6.0.2"
    promoted = wl.promoted_deployment(primary, target, {})
    assert promoted["spec"]["replicas"] == 4
    assert promoted["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":6.0.2")
    assert promoted["spec"]["template"]["metadata"]["labels"]["app"] == "podinfo-primary"
    assert wl.promoted_hash(promoted) == wl.target_hash(target) != wl.promoted_hash(primary)
    assert wl.CONFIG_CHECKSUM_ANNOTATION not in promoted["spec"]["template"]["metadata"]["annotations"]


def test_first_container_port():
    assert wl.first_container_port(podinfo()) == 9898
    target = podinfo()
    del target["spec"]["template"]["spec"]["containers"][0]["ports"]
    with pytest.raises(CanaryError) as err:
        wl.first_container_port(target)
    assert err.value.field == "port" and "set the port option" in str(err.value)


def test_primary_hpa():
    hpa = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
           "metadata": {"name": "podinfo", "namespace": "test", "resourceVersion": "1"},
           "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"}, "minReplicas": 2,
                    "maxReplicas": 4, "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                        "type": "Utilization", "averageUtilization": 99}}}]},
           "status": {}}
    wl.check_hpa_targets(hpa, "podinfo")
    copy_ = wl.build_primary_hpa(hpa, "podinfo-primary")
    assert copy_["metadata"]["name"] == "podinfo-primary"
    assert copy_["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo-primary"}
    assert copy_["spec"]["maxReplicas"] == 4 and "status" not in copy_
    assert hpa["spec"]["scaleTargetRef"]["name"] == "podinfo"
    with pytest.raises(CanaryError) as err:
        wl.check_hpa_targets(hpa, "frontend")
    assert err.value.field == "hpa"


def deployment_status(generation=2, observed=2, replicas=2, updated=2, total=2, ready=2, available=2, conditions=()):
    return {"metadata": {"name": "podinfo-primary", "generation": generation}, "spec": {"replicas": replicas},
            "status": {"observedGeneration": observed, "updatedReplicas": updated, "replicas": total, "readyReplicas": ready,
                       "availableReplicas": available, "conditions": list(conditions)}}


@pytest.mark.parametrize("kwargs, done, words", [
    ({}, True, "successfully rolled out"),
    (dict(observed=1), False, "to be observed"),
    (dict(updated=1), False, "1 of 2 new replicas"),
    (dict(total=3), False, "1 old replicas"),
    (dict(available=1), False, "1 of 2 updated replicas are available"),
    (dict(ready=0), False, "are available"),
    (dict(conditions=[{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded", "message": "too slow"}]),
     False, "progress deadline: too slow"),
])
def test_rollout_status(kwargs, done, words):
    result, message = deployment_ready(deployment_status(**kwargs))
    assert result is done and words in message


def test_status_summary():
    summary = wl.status_summary(deployment_status(ready=1))
    assert summary["name"] == "podinfo-primary" and summary["ready_replicas"] == 1 and summary["observed_generation"] == 2
