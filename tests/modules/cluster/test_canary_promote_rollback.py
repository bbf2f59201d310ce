"""canary_promote and canary_rollback against the lab's API emulator."""

import pytest

from ansible_collections.progressive.delivery.plugins.modules import (
    canary_init,
    canary_promote,
    canary_rollback,
    canary_route,
    canary_state,
)

from tests.modules.cluster.harness import NAMESPACE, PODINFO_IMAGE, edit, podinfo_deployment, run_module, seed, snapshot, validate_object

VS = ("networking.istio.io/v1beta1", "VirtualService")
ARGS = dict(namespace=NAMESPACE, target="podinfo")


@pytest.fixture
def initialised(lab):
    config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "podinfo-env", "namespace": NAMESPACE},
                  "data": {"PODINFO_UI_COLOR": "#34577c"}}
    deployment = podinfo_deployment()
    deployment["spec"]["template"]["spec"]["containers"][0]["envFrom"] = [{"configMapRef": {"name": "podinfo-env"}}]
    seed(lab.store, config_map, deployment)
    result = run_module(canary_init, lab, dict(ARGS, wait_timeout=30))
    assert not result.get("failed"), result
    lab.init_result = result
    return lab


def new_revision(lab, version="6.0.2", replicas=1, initial_delay=None):
    def change(target):
        container = target["spec"]["template"]["spec"]["containers"][0]
        container["image"] = PODINFO_IMAGE % version
        if initial_delay is not None:
            container["readinessProbe"]["initialDelaySeconds"] = initial_delay
        target["spec"]["replicas"] = replicas
    return edit(lab.store, "apps/v1", "Deployment", "podinfo", change)


def primary(lab):
    return lab.store.get("apps/v1", "Deployment", NAMESPACE, "podinfo-primary")


def vs(lab):
    return lab.store.get(VS[0], VS[1], NAMESPACE, "podinfo")


def test_promote_check_mode_real_run_and_idempotency(initialised):
    lab = initialised
    new_revision(lab)
    cm = lab.store.get("v1", "ConfigMap", NAMESPACE, "podinfo-env")
    cm["data"]["PODINFO_UI_COLOR"] = "#ff0000"
    lab.store.update(cm)
    assert not run_module(canary_route, lab, dict(ARGS, weight=50, match=[{"headers": {"x": {"exact": "1"}}}])).get("failed")

    before = snapshot(lab.store)
    predicted = run_module(canary_promote, lab, dict(ARGS, timeout=30), check=True)
    assert not predicted.get("failed"), predicted
    assert snapshot(lab.store) == before

    real = run_module(canary_promote, lab, dict(ARGS, timeout=30))
    assert not real.get("failed"), real
    for key in ("changed", "objects", "pod_template_hash", "weights", "diff"):
        assert predicted[key] == real[key], key
    assert real["pod_template_hash"] != lab.init_result["pod_template_hash"]
    assert {(o["kind"], o["name"]): o["action"] for o in real["objects"]} == {
        ("ConfigMap", "podinfo-env-primary"): "updated",
        ("Deployment", "podinfo-primary"): "updated",
        ("VirtualService", "podinfo"): "updated",
        ("Deployment", "podinfo"): "updated",
    }
    promoted = primary(lab)
    assert promoted["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":6.0.2")
    assert promoted["spec"]["template"]["spec"]["containers"][0]["envFrom"] == [{"configMapRef": {"name": "podinfo-env-primary"}}]
    assert lab.store.get("v1", "ConfigMap", NAMESPACE, "podinfo-env-primary")["data"]["PODINFO_UI_COLOR"] == "#ff0000"
    assert real["primary"]["updated_replicas"] == real["primary"]["replicas"] == real["primary"]["ready_replicas"]
    assert real["weights"] == {"primary": 100, "canary": 0}
    assert [r["name"] for r in vs(lab)["spec"]["http"]] == ["podinfo"]
    assert lab.store.get("apps/v1", "Deployment", NAMESPACE, "podinfo")["spec"]["replicas"] == 0
    validate_object(promoted)
    validate_object(vs(lab))

    again = run_module(canary_promote, lab, dict(ARGS, timeout=30))
    assert again["changed"] is False, again["objects"]
    assert again["pod_template_hash"] == real["pod_template_hash"]


def test_promote_without_route_and_scale_down(initialised):
    lab = initialised
    new_revision(lab)
    assert not run_module(canary_route, lab, dict(ARGS, weight=30)).get("failed")
    result = run_module(canary_promote, lab, dict(ARGS, timeout=30, route=False, scale_down=False))
    assert not result.get("failed"), result
    assert result["weights"] is None
    assert [d["weight"] for d in vs(lab)["spec"]["http"][0]["route"]] == [70, 30]
    assert lab.store.get("apps/v1", "Deployment", NAMESPACE, "podinfo")["spec"]["replicas"] == 1


def test_promote_timeout_reports_conditions_and_leaves_traffic(initialised):
    lab = initialised
    new_revision(lab, initial_delay=3600)
    assert not run_module(canary_route, lab, dict(ARGS, weight=10)).get("failed")
    result = run_module(canary_promote, lab, dict(ARGS, timeout=2))
    assert result["failed"]
    assert "timeout=2s" in result["msg"] and "Conditions:" in result["msg"] and "canary_rollback" in result["msg"]
    assert result["primary"]["name"] == "podinfo-primary"
    assert [d["weight"] for d in vs(lab)["spec"]["http"][0]["route"]] == [90, 10]


def test_rollback_repairs_a_half_changed_virtual_service(initialised):
    lab = initialised
    new_revision(lab, replicas=2)
    assert not run_module(canary_route, lab, dict(ARGS, weight=0, match=[{"headers": {"x": {"exact": "1"}}}])).get("failed")
    broken = vs(lab)
    weighted = broken["spec"]["http"][1]
    weighted["route"] = [{"destination": {"host": "podinfo-primary"}, "weight": 60}]
    weighted["mirror"] = {"host": "podinfo-canary"}
    lab.store.update(broken)

    before = snapshot(lab.store)
    predicted = run_module(canary_rollback, lab, dict(ARGS, reason="success rate 87% < 99%"), check=True)
    assert not predicted.get("failed"), predicted
    assert snapshot(lab.store) == before
    real = run_module(canary_rollback, lab, dict(ARGS, reason="success rate 87% < 99%"))
    for key in ("changed", "objects", "weights", "previous_weights", "reason", "scaled_down", "diff"):
        assert predicted[key] == real[key], key
    assert real["previous_weights"] == {"primary": 60, "canary": 0}
    assert real["weights"] == {"primary": 100, "canary": 0}
    assert real["scaled_down"] is True
    http = vs(lab)["spec"]["http"]
    assert [r["name"] for r in http] == ["podinfo"] and "mirror" not in http[0]
    assert http[0]["route"] == [{"destination": {"host": "podinfo-primary"}, "weight": 100},
                                {"destination": {"host": "podinfo-canary"}, "weight": 0}]
    target = lab.store.get("apps/v1", "Deployment", NAMESPACE, "podinfo")
    assert target["spec"]["replicas"] == 0
    assert target["metadata"]["annotations"]["progressive.delivery/rollback-reason"] == "success rate 87% < 99%"
    assert target["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":6.0.2"), "the target keeps its spec"
    validate_object(vs(lab))

    again = run_module(canary_rollback, lab, dict(ARGS, reason="success rate 87% < 99%"))
    assert again["changed"] is False and again["scaled_down"] is False


def test_rollback_when_already_at_zero_is_a_no_op(initialised):
    lab = initialised
    before = snapshot(lab.store)
    result = run_module(canary_rollback, lab, dict(ARGS))
    assert not result.get("failed"), result
    assert result["changed"] is False and result["weights"] == {"primary": 100, "canary": 0}
    assert snapshot(lab.store) == before


# --- promote only the analysed revision ---------------------------------------------------------


def analysed_hash(lab):
    """The revision hash canary_state reports when an analysis starts (what the role records and passes on)."""
    state = run_module(canary_state, lab, dict(ARGS, detect_revision=True))
    assert not state.get("failed"), state
    return state["revision"]["hash"]


def test_promote_refuses_a_revision_pushed_during_the_analysis(initialised):
    lab = initialised
    new_revision(lab, "6.0.2")
    analysed = analysed_hash(lab)
    new_revision(lab, "6.0.3")          # pushed while 6.0.2 was being analysed
    pushed = analysed_hash(lab)
    assert pushed != analysed
    assert not run_module(canary_route, lab, dict(ARGS, weight=50)).get("failed")

    before = snapshot(lab.store)
    for check in (True, False):
        result = run_module(canary_promote, lab, dict(ARGS, timeout=30, expected_hash=analysed), check=check)
        assert result.get("failed"), result
        assert analysed in result["msg"] and pushed in result["msg"], result["msg"]
        assert "Run the analysis of the new revision" in result["msg"] and "nothing was promoted" in result["msg"]
        assert snapshot(lab.store) == before
    assert primary(lab)["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":6.0.1")


def test_promote_refuses_a_tracked_config_changed_during_the_analysis(initialised):
    lab = initialised
    new_revision(lab, "6.0.2")
    analysed = analysed_hash(lab)
    edit(lab.store, "v1", "ConfigMap", "podinfo-env", lambda cm: cm["data"].update(PODINFO_UI_COLOR="#ff0000"))
    before = snapshot(lab.store)
    result = run_module(canary_promote, lab, dict(ARGS, timeout=30, expected_hash=analysed))
    assert result.get("failed") and analysed in result["msg"] and analysed_hash(lab) in result["msg"], result
    assert snapshot(lab.store) == before


def test_promote_the_analysed_revision(initialised):
    lab = initialised
    new_revision(lab, "6.0.2")
    analysed = analysed_hash(lab)
    result = run_module(canary_promote, lab, dict(ARGS, timeout=30, expected_hash=analysed))
    assert not result.get("failed"), result
    assert result["pod_template_hash"] == analysed
    assert primary(lab)["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":6.0.2")
    again = run_module(canary_promote, lab, dict(ARGS, timeout=30, expected_hash=analysed))
    assert again["changed"] is False, again["objects"]
