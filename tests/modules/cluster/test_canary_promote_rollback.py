"""canary_promote and canary_rollback against the lab's real API server."""

import queue
import threading
import time

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils.k8s import Cluster, ClusterError
from ansible_collections.progressive.delivery.plugins.modules import (
    canary_init,
    canary_promote,
    canary_rollback,
    canary_route,
    canary_state,
)

from tests.modules.cluster.harness import PODINFO_IMAGE, edit, podinfo_deployment, run_module, seed, snapshot, validate_object

VS = ("networking.istio.io/v1beta1", "VirtualService")
ARGS = dict(target="podinfo")
# No traffic flows in these tests: scale down right after the switch (tests/e2e/test_switch_traffic.py has the traffic).
NOW = dict(scale_down_delay=0)


@pytest.fixture
def initialised(lab):
    config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "podinfo-env"},
                  "data": {"PODINFO_UI_COLOR": "#34577c"}}
    deployment = podinfo_deployment()
    deployment["spec"]["template"]["spec"]["containers"][0]["envFrom"] = [{"configMapRef": {"name": "podinfo-env"}}]
    seed(lab, config_map, deployment)
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
    return edit(lab, "apps/v1", "Deployment", "podinfo", change)


def primary(lab):
    return lab.store.get("apps/v1", "Deployment", lab.namespace, "podinfo-primary")


def vs(lab):
    return lab.store.get(VS[0], VS[1], lab.namespace, "podinfo")


def test_promote_check_mode_real_run_and_idempotency(initialised):
    lab = initialised
    new_revision(lab)
    cm = lab.store.get("v1", "ConfigMap", lab.namespace, "podinfo-env")
    cm["data"]["PODINFO_UI_COLOR"] = "#ff0000"
    lab.store.update(cm)
    assert not run_module(canary_route, lab, dict(ARGS, weight=50, match=[{"headers": {"x": {"exact": "1"}}}])).get("failed")

    before = snapshot(lab)
    predicted = run_module(canary_promote, lab, dict(ARGS, **NOW, timeout=30), check=True)
    assert not predicted.get("failed"), predicted
    assert snapshot(lab) == before

    real = run_module(canary_promote, lab, dict(ARGS, **NOW, timeout=30))
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
    assert lab.store.get("v1", "ConfigMap", lab.namespace, "podinfo-env-primary")["data"]["PODINFO_UI_COLOR"] == "#ff0000"
    assert real["primary"]["updated_replicas"] == real["primary"]["replicas"] == real["primary"]["ready_replicas"]
    assert real["weights"] == {"primary": 100, "canary": 0}
    assert [r["name"] for r in vs(lab)["spec"]["http"]] == ["podinfo"]
    assert lab.store.get("apps/v1", "Deployment", lab.namespace, "podinfo")["spec"]["replicas"] == 0
    validate_object(promoted)
    validate_object(vs(lab))

    again = run_module(canary_promote, lab, dict(ARGS, **NOW, timeout=30))
    assert again["changed"] is False, again["objects"]
    assert again["pod_template_hash"] == real["pod_template_hash"]


def test_promote_without_route_and_scale_down(initialised):
    lab = initialised
    new_revision(lab)
    assert not run_module(canary_route, lab, dict(ARGS, weight=30)).get("failed")
    result = run_module(canary_promote, lab, dict(ARGS, **NOW, timeout=30, route=False, scale_down=False))
    assert not result.get("failed"), result
    assert result["weights"] is None
    assert [d["weight"] for d in vs(lab)["spec"]["http"][0]["route"]] == [70, 30]
    assert lab.store.get("apps/v1", "Deployment", lab.namespace, "podinfo")["spec"]["replicas"] == 1


def test_promote_timeout_reports_conditions_and_leaves_traffic(initialised):
    lab = initialised
    new_revision(lab, initial_delay=3600)
    assert not run_module(canary_route, lab, dict(ARGS, weight=10)).get("failed")
    result = run_module(canary_promote, lab, dict(ARGS, **NOW, timeout=2))
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

    before = snapshot(lab)
    before_target = lab.store.get("apps/v1", "Deployment", lab.namespace, "podinfo")
    predicted = run_module(canary_rollback, lab, dict(ARGS, **NOW, reason="success rate 87% < 99%"), check=True)
    assert not predicted.get("failed"), predicted
    assert snapshot(lab) == before
    real = run_module(canary_rollback, lab, dict(ARGS, **NOW, reason="success rate 87% < 99%"))
    for key in ("changed", "objects", "weights", "previous_weights", "reason", "scaled_down", "diff"):
        assert predicted[key] == real[key], key
    assert real["previous_weights"] == {"primary": 60, "canary": 0}
    assert real["weights"] == {"primary": 100, "canary": 0}
    assert real["scaled_down"] is True
    http = vs(lab)["spec"]["http"]
    assert [r["name"] for r in http] == ["podinfo"] and "mirror" not in http[0]
    assert http[0]["route"] == [{"destination": {"host": "podinfo-primary"}, "weight": 100},
                                {"destination": {"host": "podinfo-canary"}, "weight": 0}]
    target = lab.store.get("apps/v1", "Deployment", lab.namespace, "podinfo")
    assert target["spec"]["replicas"] == 0
    assert target["metadata"].get("annotations") == before_target["metadata"].get("annotations"), "no drift on the target's metadata"
    assert target["metadata"].get("labels") == before_target["metadata"].get("labels")
    assert real["reason"] == "success rate 87% < 99%"
    assert target["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":6.0.2"), "the target keeps its spec"
    validate_object(vs(lab))

    again = run_module(canary_rollback, lab, dict(ARGS, **NOW, reason="success rate 87% < 99%"))
    assert again["changed"] is False and again["scaled_down"] is False


def test_rollback_when_already_at_zero_is_a_no_op(initialised):
    lab = initialised
    before = snapshot(lab)
    result = run_module(canary_rollback, lab, dict(ARGS, **NOW))
    assert not result.get("failed"), result
    assert result["changed"] is False and result["weights"] == {"primary": 100, "canary": 0}
    assert snapshot(lab) == before


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

    before = snapshot(lab)
    for check in (True, False):
        result = run_module(canary_promote, lab, dict(ARGS, **NOW, timeout=30, expected_hash=analysed), check=check)
        assert result.get("failed"), result
        assert analysed in result["msg"] and pushed in result["msg"], result["msg"]
        assert "Run the analysis of the new revision" in result["msg"] and "nothing was promoted" in result["msg"]
        assert snapshot(lab) == before
    assert primary(lab)["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":6.0.1")


def test_promote_refuses_a_tracked_config_changed_during_the_analysis(initialised):
    lab = initialised
    new_revision(lab, "6.0.2")
    analysed = analysed_hash(lab)
    edit(lab, "v1", "ConfigMap", "podinfo-env", lambda cm: cm["data"].update(PODINFO_UI_COLOR="#ff0000"))
    before = snapshot(lab)
    result = run_module(canary_promote, lab, dict(ARGS, **NOW, timeout=30, expected_hash=analysed))
    assert result.get("failed") and analysed in result["msg"] and analysed_hash(lab) in result["msg"], result
    assert snapshot(lab) == before


def test_promote_the_analysed_revision(initialised):
    lab = initialised
    new_revision(lab, "6.0.2")
    analysed = analysed_hash(lab)
    result = run_module(canary_promote, lab, dict(ARGS, **NOW, timeout=30, expected_hash=analysed))
    assert not result.get("failed"), result
    assert result["pod_template_hash"] == analysed
    assert primary(lab)["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":6.0.2")
    again = run_module(canary_promote, lab, dict(ARGS, **NOW, timeout=30, expected_hash=analysed))
    assert again["changed"] is False, again["objects"]


# --- the switch: route, wait until it is served, scale down -------------------------------------


class Timeline(object):
    """When the VirtualService stopped sending traffic to the canary and when the target went to 0, from the
    API server's watch events of the test's namespace."""

    def __init__(self, lab):
        self.events = []
        self._stops = [lab.store.watch(api_version, kind, lab.namespace, self._record)
                       for api_version, kind in (VS, ("apps/v1", "Deployment"))]

    def _record(self, event, obj):
        self.events.append((time.monotonic(), obj))

    def stop(self):
        for stop in self._stops:
            stop()

    def first(self, kind, name, predicate):
        for when, obj in self.events:
            if obj["kind"] == kind and obj["metadata"]["name"] == name and predicate(obj):
                return when
        return None

    @property
    def switched(self):
        return self.first("VirtualService", "podinfo", lambda obj: all(
            d.get("weight", 0) == 0 for r in obj["spec"]["http"] for d in r["route"] if d["destination"]["host"] == "podinfo-canary"))

    @property
    def scaled_down(self):
        return self.first("Deployment", "podinfo", lambda obj: obj["spec"]["replicas"] == 0)


class FakeIstiod(object):
    """istiod's distribution status (PILOT_ENABLE_STATUS with distribution tracking), which the lab's istiod
    runs without: reports each VirtualService generation Reconciled through the real API server's status
    subresource (observedGeneration as a string, as Istio writes its int64) ``lag`` seconds after the
    generation appears in a watch, or never."""

    def __init__(self, lab, lag=0.3, reconciles=True):
        self.store, self.namespace, self.lag, self.reconciles = lab.store, lab.namespace, lag, reconciles
        self.queue = queue.Queue()
        self._unsubscribe = self.store.watch(VS[0], VS[1], self.namespace, self._on_event)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self.report(self.store.get(VS[0], VS[1], self.namespace, "podinfo"), reconciled=True)

    def _on_event(self, event, obj):
        if event != "DELETED":
            self.queue.put(obj)

    def _run(self):
        while True:
            obj = self.queue.get()
            if obj is None:
                return
            status = obj.get("status") or {}
            if str(obj["metadata"]["generation"]) != status.get("observedGeneration"):
                time.sleep(self.lag)
                self.report(obj, self.reconciles)

    def report(self, obj, reconciled):
        def change(vs):
            vs["status"] = {"observedGeneration": str(obj["metadata"]["generation"]), "conditions": [{
                "type": "Reconciled", "status": "True" if reconciled else "False", "reason": "" if reconciled else "stillPropagating",
                "message": "3/3 complete" if reconciled else "1/3 complete", "lastTransitionTime": "2024-01-01T00:00:00.000000Z"}]}
        for _ in range(20):
            current = self.store.get(VS[0], VS[1], self.namespace, "podinfo")
            if current["metadata"]["generation"] != obj["metadata"]["generation"]:
                return  # a newer generation is queued
            change(current)
            try:
                return self.store.update_status(current)
            except Exception:  # pylint: disable=broad-exception-caught  # 409: written meanwhile, read again
                continue

    def stop(self):
        self._unsubscribe()
        self.queue.put(None)
        self._thread.join(timeout=5)


@pytest.mark.parametrize("module", ["promote", "rollback"])
def test_switch_keeps_the_canary_until_the_delay_passed(initialised, module):
    lab = initialised
    new_revision(lab)
    assert not run_module(canary_route, lab, dict(ARGS, weight=80)).get("failed")
    timeline = Timeline(lab)
    try:
        if module == "promote":
            result = run_module(canary_promote, lab, dict(ARGS, timeout=30, scale_down_delay=1))
        else:
            result = run_module(canary_rollback, lab, dict(ARGS, scale_down_delay=1, reason="test"))
    finally:
        timeline.stop()
    assert not result.get("failed"), result
    assert timeline.switched is not None and timeline.scaled_down is not None
    assert timeline.scaled_down - timeline.switched >= 1.0, "the canary was scaled down %.3f s after the switch" % (
        timeline.scaled_down - timeline.switched)
    assert 1.0 <= result["drained_seconds"] < 3, result["drained_seconds"]
    assert result["route_reconciled"] is None and result["scaled_down"] is True
    assert result["weights"] == {"primary": 100, "canary": 0}
    if module == "promote":
        assert result["phase"] == "Succeeded"

    # Nothing left to do: no write and no wait, even with the default delay.
    started = time.monotonic()
    again = run_module(canary_promote if module == "promote" else canary_rollback, lab,
                       dict(ARGS, timeout=30) if module == "promote" else dict(ARGS, reason="test"))
    assert again["changed"] is False and again["drained_seconds"] == 0 and again["scaled_down"] is False, again
    assert time.monotonic() - started < 5


def test_switch_in_check_mode_does_not_wait(initialised):
    lab = initialised
    new_revision(lab)
    assert not run_module(canary_route, lab, dict(ARGS, weight=80)).get("failed")
    for module, args in ((canary_promote, dict(ARGS, timeout=30)), (canary_rollback, dict(ARGS))):
        started = time.monotonic()
        predicted = run_module(module, lab, args, check=True)      # the default delay of 30 s
        assert not predicted.get("failed"), predicted
        assert predicted["drained_seconds"] == 0 and predicted["scaled_down"] is True and predicted["changed"] is True
        assert time.monotonic() - started < 5


def test_promote_phases_without_scale_down_or_route(initialised):
    lab = initialised
    new_revision(lab)
    result = run_module(canary_promote, lab, dict(ARGS, timeout=30, scale_down=False))
    assert result["phase"] == "Finalising" and result["scaled_down"] is False and result["drained_seconds"] == 0, result
    result = run_module(canary_promote, lab, dict(ARGS, timeout=30, route=False, scale_down=False))
    assert result["phase"] == "Promoting" and result["weights"] is None, result


@pytest.mark.parametrize("module", ["promote", "rollback"])
def test_switch_ends_the_wait_when_istio_reports_the_route_reconciled(initialised, module):
    lab = initialised
    new_revision(lab)
    assert not run_module(canary_route, lab, dict(ARGS, weight=80)).get("failed")
    istiod = FakeIstiod(lab, lag=0.5)
    timeline = Timeline(lab)
    try:
        if module == "promote":
            result = run_module(canary_promote, lab, dict(ARGS, timeout=30, scale_down_delay=20))
        else:
            result = run_module(canary_rollback, lab, dict(ARGS, scale_down_delay=20))
    finally:
        timeline.stop()
        istiod.stop()
    assert not result.get("failed"), result
    assert result["route_reconciled"] is True, result
    # Not before istiod reported the new generation (the old one was reported reconciled already), long before the delay.
    assert 0.5 <= timeline.scaled_down - timeline.switched < 5, timeline.scaled_down - timeline.switched
    assert 0.5 <= result["drained_seconds"] < 5


def test_switch_wait_is_bounded_when_istio_still_propagates(initialised, capsys):
    lab = initialised
    new_revision(lab)
    assert not run_module(canary_route, lab, dict(ARGS, weight=80)).get("failed")
    istiod = FakeIstiod(lab, lag=0.1, reconciles=False)
    try:
        result = run_module(canary_rollback, lab, dict(ARGS, scale_down_delay=1))
    finally:
        istiod.stop()
    assert not result.get("failed"), result
    assert result["route_reconciled"] is False and result["scaled_down"] is True
    assert 1.0 <= result["drained_seconds"] < 3
    # ansible-core 2.19 returns warnings as structured summaries, or prints them when an earlier in-process test (the
    # lookup's unit tests) left a controller-side display behind: look for the text in both.
    warnings = str(result.get("warnings")) + capsys.readouterr().err
    assert "still propagating (stillPropagating: 1/3 complete) after scale_down_delay=1s" in warnings, warnings


def test_rollback_routes_first_even_when_the_scale_down_fails(initialised, monkeypatch):
    lab = initialised
    new_revision(lab)
    assert not run_module(canary_route, lab, dict(ARGS, weight=80)).get("failed")
    original = Cluster._patch

    def failing_patch(self, existing, patch, attempts=5, claimed=()):
        if existing["kind"] == "Deployment":
            raise ClusterError("failed to update Deployment test/podinfo (HTTP 403): forbidden")
        return original(self, existing, patch, attempts, claimed)

    monkeypatch.setattr(Cluster, "_patch", failing_patch)
    result = run_module(canary_rollback, lab, dict(ARGS, scale_down_delay=0, reason="test"))
    assert result["failed"]
    assert "the traffic is on the primary (weights 100/0), but scaling the target down failed" in result["msg"], result["msg"]
    assert "HTTP 403" in result["msg"] and "canary_rollback again" in result["msg"]
    assert result["weights"] == {"primary": 100, "canary": 0} and result["previous_weights"] == {"primary": 20, "canary": 80}
    assert result["scaled_down"] is False
    assert [d["weight"] for d in vs(lab)["spec"]["http"][0]["route"]] == [100, 0]
    assert lab.store.get("apps/v1", "Deployment", lab.namespace, "podinfo")["spec"]["replicas"] == 1


def test_negative_scale_down_delay_is_refused(initialised):
    lab = initialised
    new_revision(lab)
    before = snapshot(lab)
    for module, args in ((canary_promote, dict(ARGS, timeout=30)), (canary_rollback, dict(ARGS))):
        result = run_module(module, lab, dict(args, scale_down_delay=-1))
        assert result["failed"] and "scale_down_delay must be 0 or more seconds, got -1" in result["msg"], result
    assert snapshot(lab) == before
