import copy

from ansible_collections.progressive.delivery.plugins.module_utils._names import MANAGED_BY_LABEL
from ansible_collections.progressive.delivery.plugins.module_utils.workload import config

POD_SPEC = {
    "volumes": [
        {"name": "cfg", "configMap": {"name": "podinfo-config"}},
        {"name": "tls", "secret": {"secretName": "podinfo-tls"}},
        {"name": "all", "projected": {"sources": [{"configMap": {"name": "projected-cm"}}, {"secret": {"name": "projected-secret"}}]}},
        {"name": "data", "emptyDir": {}},
    ],
    "initContainers": [{"name": "init", "envFrom": [{"configMapRef": {"name": "init-env"}}]}],
    "containers": [{
        "name": "podinfod",
        "env": [
            {"name": "A", "value": "plain"},
            {"name": "B", "valueFrom": {"configMapKeyRef": {"name": "podinfo-config", "key": "b"}}},
            {"name": "C", "valueFrom": {"secretKeyRef": {"name": "podinfo-secret", "key": "c", "optional": True}}},
            {"name": "D", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        ],
        "envFrom": [{"secretRef": {"name": "env-secret"}}, {"configMapRef": {"name": "optional-env", "optional": True}}],
    }],
}


def test_every_kind_of_reference_is_found_once():
    refs = config.referenced_configs(POD_SPEC)
    assert [(r.kind, r.name, r.optional) for r in refs] == [
        ("ConfigMap", "init-env", False),
        ("ConfigMap", "optional-env", True),
        ("ConfigMap", "podinfo-config", False),
        ("ConfigMap", "projected-cm", False),
        ("Secret", "env-secret", False),
        ("Secret", "podinfo-secret", True),
        ("Secret", "podinfo-tls", False),
        ("Secret", "projected-secret", False),
    ]


def test_a_reference_is_optional_only_if_every_use_is():
    spec = {"containers": [{"envFrom": [{"configMapRef": {"name": "x", "optional": True}}, {"configMapRef": {"name": "x"}}]}]}
    assert config.referenced_configs(spec)[0].optional is False


def test_rewrite_uses_the_copies_and_leaves_the_rest():
    renames = {("ConfigMap", "podinfo-config"): "podinfo-config-primary", ("Secret", "podinfo-tls"): "podinfo-tls-primary",
               ("Secret", "projected-secret"): "projected-secret-primary"}
    original = copy.deepcopy(POD_SPEC)
    result = config.rewrite_pod_spec(POD_SPEC, renames)
    assert POD_SPEC == original
    assert result["volumes"][0]["configMap"]["name"] == "podinfo-config-primary"
    assert result["volumes"][1]["secret"]["secretName"] == "podinfo-tls-primary"
    assert result["volumes"][2]["projected"]["sources"] == [{"configMap": {"name": "projected-cm"}},
                                                            {"secret": {"name": "projected-secret-primary"}}]
    assert result["containers"][0]["env"][1]["valueFrom"]["configMapKeyRef"] == {"name": "podinfo-config-primary", "key": "b"}
    assert result["containers"][0]["env"][2] == POD_SPEC["containers"][0]["env"][2]
    assert result["initContainers"] == POD_SPEC["initContainers"]


def test_opt_out_annotations():
    assert config.tracking_disabled({"metadata": {"annotations": {"progressive.delivery/config-tracking": "disabled"}}})
    assert config.tracking_disabled({"metadata": {"annotations": {"flagger.app/config-tracking": "disabled"}}})
    assert not config.tracking_disabled({"metadata": {"annotations": {"flagger.app/config-tracking": "enabled"}}})
    assert not config.tracking_disabled({"metadata": {}})


def test_primary_copy_of_a_secret_keeps_type_and_data_only():
    secret = {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
              "metadata": {"name": "podinfo-tls", "namespace": "test", "labels": {"app": "podinfo"}, "resourceVersion": "7",
                           "uid": "u", "annotations": {"note": "x"}},
              "data": {"tls.crt": "Y3J0"}}
    copy_ = config.build_primary_config(secret)
    assert copy_ == {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
                     "metadata": {"name": "podinfo-tls-primary", "namespace": "test",
                                  "labels": {"app": "podinfo", MANAGED_BY_LABEL: "progressive.delivery"}},
                     "data": {"tls.crt": "Y3J0"}}


def test_config_checksum_depends_on_content_not_order():
    a = {"kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"k": "1"}}
    b = {"kind": "Secret", "metadata": {"name": "b"}, "data": {"k": "Mg=="}}
    assert config.config_checksum([]) == ""
    assert config.config_checksum([a, b]) == config.config_checksum([b, a])
    changed = dict(a, data={"k": "2"})
    assert config.config_checksum([changed, b]) != config.config_checksum([a, b])


def test_tracked_objects_skips_opted_out_and_optional_missing_and_refuses_required_missing():
    import pytest

    from ansible_collections.progressive.delivery.plugins.module_utils._errors import CanaryError

    store = {
        ("ConfigMap", "podinfo-config"): {"kind": "ConfigMap", "metadata": {"name": "podinfo-config"}, "data": {"b": "1"}},
        ("ConfigMap", "projected-cm"): {
            "kind": "ConfigMap",
            "metadata": {"name": "projected-cm", "annotations": {"flagger.app/config-tracking": "disabled"}},
        },
        ("ConfigMap", "init-env"): {"kind": "ConfigMap", "metadata": {"name": "init-env"}},
        ("Secret", "env-secret"): {"kind": "Secret", "metadata": {"name": "env-secret"}},
        ("Secret", "podinfo-tls"): {"kind": "Secret", "metadata": {"name": "podinfo-tls"}},
        ("Secret", "projected-secret"): {"kind": "Secret", "metadata": {"name": "projected-secret"}},
    }
    tracked, renames = config.tracked_objects(POD_SPEC, lambda kind, name: store.get((kind, name)))
    assert [o["metadata"]["name"] for o in tracked] == ["init-env", "podinfo-config", "env-secret", "podinfo-tls", "projected-secret"]
    assert renames[("ConfigMap", "podinfo-config")] == "podinfo-config-primary"
    assert ("ConfigMap", "projected-cm") not in renames and ("ConfigMap", "optional-env") not in renames

    del store[("Secret", "podinfo-tls")]
    with pytest.raises(CanaryError) as err:
        config.tracked_objects(POD_SPEC, lambda kind, name: store.get((kind, name)), owner="Deployment test/podinfo")
    assert "Secret podinfo-tls, used by the pod template of Deployment test/podinfo, does not exist" in str(err.value)
    tracked, _renames = config.tracked_objects(POD_SPEC, lambda kind, name: store.get((kind, name)), strict=False)
    assert "podinfo-tls" not in [o["metadata"]["name"] for o in tracked]
