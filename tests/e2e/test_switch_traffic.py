"""No request lost at the switch: canary_promote and canary_rollback under steady traffic through the mesh.

The session's lab (``shared_lab``: the real control plane, istiod programming the mesh Envoy, the podinfo binary as
pods). Each test sets up Flagger's tutorial podinfo in its own namespace (``namespace``), initialises it with canary_init,
releases 6.0.1 on the target, routes 80% to the canary, and then switches with clients sending
requests without pause through the mesh: every 5xx and every connection error counts as a failure.

The modules run in-process (``run_module``) against the lab's kubeconfig, as ansible-playbook would
run them. istiod pushes a VirtualService change to the mesh Envoy well within a second of the API write,
so a short ``scale_down_delay`` is plenty here; the point is the order (route, wait, scale down).
"""

import json
import time

import pytest

from ansible_collections.progressive.delivery.plugins.modules import canary_init, canary_promote, canary_rollback, canary_route

from tests.mesh import SteadyTraffic, podinfo_deployment, wait_for
from tests.modules.cluster.harness import run_module

pytestmark = pytest.mark.lab

OLD, NEW = "6.0.0", "6.0.1"
# Far above istiod's push of a route to the mesh Envoy, far below the module default.
DELAY = 2
SWITCH_ARGS = dict(scale_down_delay=DELAY)
MIN_REQUESTS = 1000
CLIENTS = 4     # more requests in flight at any moment than 2 clients: a lost one shows more surely
SIDE = MIN_REQUESTS // 2    # requests before the call, and again after it


@pytest.fixture
def lab(shared_lab):
    return shared_lab


class TimedTraffic(SteadyTraffic):
    """SteadyTraffic that also keeps when each version and each Deployment (``podinfo``, ``podinfo-primary``) answered last."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.last_seen = {}

    def _record(self, status, body):
        super()._record(status, body)
        if status == 200:
            try:
                info = json.loads(body)
            except ValueError:
                return
            now = time.monotonic()
            with self._lock:
                self.last_seen[info.get("version")] = now
                # Pod names are <deployment>-<template hash>-<suffix>.
                self.last_seen[str(info.get("hostname")).rsplit("-", 2)[0]] = now


def canary_at_80(lab, namespace):
    """podinfo initialised in ``namespace`` (primary on 6.0.0), 6.0.1 on the target (1 replica), 80% to the canary."""
    lab.apply(podinfo_deployment(namespace, version=OLD, replicas=1))
    args = dict(namespace=namespace, target="podinfo")
    init = run_module(canary_init, lab, dict(args, wait_timeout=60))
    assert not init.get("failed"), init
    wait_for(lambda: lab.rolled_out("podinfo-primary", 1, namespace), 90, "the primary",
             describe=lambda: lab.describe("podinfo-primary", namespace=namespace))

    patch = {"spec": {"replicas": 1, "template": {"spec": {"containers": [
        {"name": "podinfod", "image": "ghcr.io/stefanprodan/podinfo:" + NEW}]}}}}
    lab.resource("apps/v1", "Deployment").patch(name="podinfo", namespace=namespace, body=patch,
                                                content_type="application/strategic-merge-patch+json")
    wait_for(lambda: lab.rolled_out("podinfo", 1, namespace), 90, "the canary 6.0.1", describe=lambda: lab.describe("podinfo", namespace=namespace))
    routed = run_module(canary_route, lab, dict(args, weight=80))
    assert not routed.get("failed") and routed["weights"] == {"primary": 20, "canary": 80}, routed
    return args


def switch_under_traffic(lab, namespace, module, args):
    """Run ``module`` with clients sending requests through the mesh before, during and after it."""
    with TimedTraffic(lab, "podinfo.%s:9898" % namespace, clients=CLIENTS) as traffic:
        # Warm up: primary and canary pods both answer before the switch.
        wait_for(lambda: traffic.total >= SIDE and "podinfo" in traffic.last_seen and "podinfo-primary" in traffic.last_seen, 30,
                 "traffic to the primary and the canary", describe=traffic.summary)
        before = traffic.total
        started = time.monotonic()
        result = run_module(module, lab, args)
        ended = time.monotonic()
        during = traffic.total - before
        # Keep going a while after the scale-down: a pod that dies late must show here too.
        after_start = traffic.total
        wait_for(lambda: traffic.total - after_start >= SIDE, 30, "traffic after the switch", describe=traffic.summary)
    return result, traffic, started, ended, before, during


def report(name, result, traffic, started, ended, before, during):
    last_canary = traffic.last_seen.get("podinfo")
    print("\n%s: %d requests in total, %d before the call, %d during it (%.2f s); the canary answered last %.0f ms after the "
          "call started and %.0f ms before it returned (drained_seconds=%s, route_reconciled=%s); failures: %d %s"
          % (name, traffic.total, before, during, ended - started, (last_canary - started) * 1000, (ended - last_canary) * 1000,
             result.get("drained_seconds"), result.get("route_reconciled"), len(traffic.failures),
             [(round((t - started) * 1000), what) for t, what in traffic.failures[:10]]))


def assert_clean_switch(result, traffic, ended):
    assert not result.get("failed"), result
    assert traffic.total >= MIN_REQUESTS, traffic.summary()
    assert traffic.failures == [], traffic.summary()
    # The cause, not only the symptom: the mesh had stopped sending requests to the canary well before the call scaled it
    # down and returned (with the old order the canary answered until the very moment it was scaled down).
    assert ended - traffic.last_seen["podinfo"] >= DELAY / 2.0, traffic.summary()
    assert result["drained_seconds"] >= DELAY


def test_promote_at_80_percent_drops_no_request(lab, namespace):
    args = canary_at_80(lab, namespace)
    # The primary's rolling update first, before the clients start (as the role does with step_weight_promotion): the
    # lab's pods exit at once on SIGTERM and its one Envoy has no destination sidecar to turn a request cut by a dying
    # old primary pod into a retried 503, so that rollout loses a request or two in the lab whatever the switch does.
    rolled = run_module(canary_promote, lab, dict(args, timeout=60, route=False, scale_down=False))
    assert not rolled.get("failed"), rolled
    wait_for(lambda: lab.rolled_out("podinfo-primary", 1, namespace), 90, "the primary on 6.0.1")
    result, traffic, started, ended, before, during = switch_under_traffic(
        lab, namespace, canary_promote, dict(args, timeout=60, **SWITCH_ARGS))
    report("promote", result, traffic, started, ended, before, during)
    assert_clean_switch(result, traffic, ended)
    assert result["weights"] == {"primary": 100, "canary": 0} and result["phase"] == "Succeeded"
    assert lab.read("apps/v1", "Deployment", namespace, "podinfo")["spec"]["replicas"] == 0
    # After the switch only the primary answers, with the promoted version.
    assert traffic.last_seen["podinfo"] < ended and traffic.last_seen["podinfo-primary"] > ended
    assert set(traffic.versions) == {NEW}


def test_rollback_at_80_percent_drops_no_request(lab, namespace):
    args = canary_at_80(lab, namespace)
    result, traffic, started, ended, before, during = switch_under_traffic(
        lab, namespace, canary_rollback, dict(args, reason="switch test", **SWITCH_ARGS))
    report("rollback", result, traffic, started, ended, before, during)
    assert_clean_switch(result, traffic, ended)
    assert result["weights"] == {"primary": 100, "canary": 0} and result["scaled_down"] is True
    assert lab.read("apps/v1", "Deployment", namespace, "podinfo")["spec"]["replicas"] == 0
    assert traffic.last_seen[NEW] < ended and traffic.last_seen["podinfo"] < ended
    assert traffic.last_seen[OLD] > ended and traffic.last_seen["podinfo-primary"] > ended
