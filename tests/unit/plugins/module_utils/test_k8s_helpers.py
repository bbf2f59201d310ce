"""The pure helpers of the module wrapper: merge patches, overlays, change records."""

from ansible_collections.progressive.delivery.plugins.module_utils.k8s import Changes, merge_patch, overlay, patches_overlap, strip_object


def apply_merge_patch(target, patch):
    """RFC 7386, written independently of the product code to check it."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = apply_merge_patch(result.get(key), value)
    return result


def test_merge_patch_round_trips():
    old = {"metadata": {"labels": {"a": "1", "b": "2"}}, "spec": {"replicas": 2, "template": {"x": [1, 2]}, "gone": {"y": 1}}}
    new = {"metadata": {"labels": {"a": "1", "c": "3"}}, "spec": {"replicas": 0, "template": {"x": [2]}}}
    patch = merge_patch(old, new)
    assert patch == {"metadata": {"labels": {"b": None, "c": "3"}}, "spec": {"replicas": 0, "template": {"x": [2]}, "gone": None}}
    assert apply_merge_patch(old, patch) == new
    assert merge_patch(new, new) == {}


def test_overlay_keeps_server_fields_and_replaces_named_paths():
    existing = {
        "metadata": {"labels": {"team": "a"}},
        "spec": {"clusterIP": "10.0.0.1", "selector": {"app": "x", "old": "y"}, "ports": [{"port": 1, "nodePort": 3}]},
    }
    desired = {"metadata": {"labels": {"managed": "us"}}, "spec": {"selector": {"app": "x-primary"}, "ports": [{"port": 2}]}}
    result = overlay(existing, desired, replace=("spec.selector",))
    assert result == {"metadata": {"labels": {"team": "a", "managed": "us"}},
                      "spec": {"clusterIP": "10.0.0.1", "selector": {"app": "x-primary"}, "ports": [{"port": 2}]}}
    assert overlay(existing, desired)["spec"]["selector"] == {"app": "x-primary", "old": "y"}
    assert existing["spec"]["selector"] == {"app": "x", "old": "y"}


def test_strip_object_drops_status_and_server_metadata():
    obj = {"kind": "Service", "metadata": {"name": "a", "resourceVersion": "5", "uid": "u", "managedFields": [], "generation": 2,
                                           "creationTimestamp": "t", "annotations": {
                                               "kubectl.kubernetes.io/last-applied-configuration": "{}"}},
           "spec": {}, "status": {"x": 1}}
    assert strip_object(obj) == {"kind": "Service", "metadata": {"name": "a"}, "spec": {}}
    assert strip_object(None) is None


def test_changes_records_actions_and_diff():
    changes = Changes()
    changes.record({"kind": "Service", "metadata": {"name": "a"}}, "unchanged")
    assert not changes.changed and changes.diff() == {"before": {}, "after": {}}
    new = {"kind": "Service", "metadata": {"name": "b"}, "spec": {"x": 1}}
    changes.record(new, "created", None, new)
    assert changes.changed
    assert changes.objects == [{"kind": "Service", "name": "a", "action": "unchanged"}, {"kind": "Service", "name": "b", "action": "created"}]
    assert changes.diff() == {"before": {"Service/b": {}}, "after": {"Service/b": new}}


def test_patches_overlap_only_on_common_fields():
    ours = {"spec": {"replicas": 0}, "metadata": {"annotations": {"reason": "x"}}}
    assert not patches_overlap(ours, {"metadata": {"annotations": {"deployment.kubernetes.io/revision": "2"}}})
    assert not patches_overlap(ours, {"spec": {"template": {"a": 1}}})
    assert patches_overlap(ours, {"spec": {"replicas": 3}})
    assert patches_overlap({"spec": {"http": [1]}}, {"spec": {"http": [2]}})
    assert patches_overlap({"spec": {"hosts": ["a"]}}, {"spec": None})


def test_secret_values_are_masked_in_the_diff():
    from ansible_collections.progressive.delivery.plugins.module_utils._canary import _Changes

    secret = {"kind": "Secret", "metadata": {"name": "token-primary"}, "data": {"token": "czNjcmV0"}, "type": "Opaque"}
    changes = _Changes()
    changes.record(secret, "created", None, secret)
    assert changes.diff()["after"]["Secret/token-primary"]["data"] == {"token": "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"}
    assert secret["data"] == {"token": "czNjcmV0"}
    config_map = {"kind": "ConfigMap", "metadata": {"name": "env-primary"}, "data": {"A": "1"}}
    changes.record(config_map, "created", None, config_map)
    assert changes.diff()["after"]["ConfigMap/env-primary"]["data"] == {"A": "1"}


def test_without_paths_drops_a_claimed_field_and_what_it_leaves_empty():
    from ansible_collections.progressive.delivery.plugins.module_utils.k8s._objects import patches_overlap, without_paths

    theirs = {"spec": {"replicas": 2}, "metadata": {"annotations": {"x": "1"}}}
    assert without_paths(theirs, ("spec.replicas",)) == {"metadata": {"annotations": {"x": "1"}}}
    assert theirs["spec"] == {"replicas": 2}  # not changed in place
    ours = {"spec": {"replicas": 0}}
    assert patches_overlap(theirs, ours) and not patches_overlap(without_paths(theirs, ("spec.replicas",)), ours)
    # their change of another spec field still overlaps a claim-free patch of it
    assert patches_overlap(without_paths({"spec": {"replicas": 2, "paused": True}}, ("spec.replicas",)), {"spec": {"paused": False}})
    assert without_paths({"spec": {"template": {}}}, ("spec.replicas", "status.x")) == {}
