"""Every strategy of the rollout role on the real lab, with real traffic through the mesh Envoy as istiod programs it:
A/B testing, Blue/Green, Blue/Green with traffic mirroring and Argo Rollouts' steps (docs/strategies.md), and each
strategy's faulty revision rolled back. The canary answers 6.0.1, the primary 6.0.0 until the promotion."""

import collections
import http.client
import json
import os
import signal
import threading
import time
import urllib.request
from urllib.parse import urlsplit

import pytest

from tests.mesh import wait_for

from .conftest import finish, kill_group, wait_for_line

PRIMARY, CANARY = "6.0.0", "6.0.1"
INSIDER = {"x-canary": "insider"}
MATCH = [{"headers": {"x-canary": {"exact": "insider"}}}]
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class Clients(object):
    """Clients sending requests through the mesh until stopped; each answer kept as (time, version, pod name)."""

    def __init__(self, canary, headers=None, clients=2, path="/"):
        self.url, self.path = urlsplit(canary.cluster.info["mesh"]), path
        self.headers = dict(headers or {}, Host="podinfo.%s:9898" % canary.namespace)
        self.answers, self.failures = [], []
        self._lock, self._stop = threading.Lock(), threading.Event()
        self._threads = [threading.Thread(target=self._client, daemon=True) for _ in range(clients)]
        for thread in self._threads:
            thread.start()

    def _client(self):
        conn = None
        while not self._stop.is_set():
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(self.url.hostname, self.url.port, timeout=5)
                conn.request("GET", self.path, headers=self.headers)
                response = conn.getresponse()
                body = response.read()
                info = json.loads(body) if response.status == 200 else {}
                with self._lock:
                    self.answers.append((time.monotonic(), info.get("version") or response.status, info.get("hostname")))
            except (OSError, http.client.HTTPException, ValueError) as exc:
                with self._lock:
                    self.failures.append(str(exc))
                if conn is not None:
                    conn.close()
                conn = None
            time.sleep(0.005)

    def versions(self, since=None):
        with self._lock:
            return collections.Counter(version for at, version, _ in self.answers if since is None or at >= since)

    def count(self):
        with self._lock:
            return len(self.answers)

    def stop(self):
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)
        return self


def served_by_canary(canary, path="version"):
    """Requests the canary's podinfo processes served on ``/<path>``, by their own /metrics (mirrored copies included)."""
    total = 0.0
    for pod in canary.cluster.store.list("v1", "Pod", canary.namespace):
        name = pod["metadata"]["name"]
        if name.startswith("podinfo-primary-") or pod["metadata"].get("deletionTimestamp") or not (pod.get("status") or {}).get("podIP"):
            continue
        with _DIRECT.open("http://%s:9797/metrics" % pod["status"]["podIP"], timeout=5) as response:
            text = response.read().decode()
        total += sum(float(line.split()[-1]) for line in text.splitlines()
                     if line.startswith("http_request_duration_seconds_count") and 'path="%s"' % path in line)
    return total


def extra_routes(canary):
    """The A/B, mirror and sticky routes the collection put ahead of the weighted one."""
    vs = canary.get("networking.istio.io/v1beta1", "VirtualService", "podinfo")
    return [route.get("name") for route in vs["spec"]["http"] if str(route.get("name")).endswith(("-canary-match", "-canary-mirror",
                                                                                                  "-canary-sticky"))]


def test_ab_testing_sends_the_matching_requests_to_the_canary_and_the_rest_to_the_primary(canary):
    canary.release(CANARY)
    run = canary.start(rollout_analysis={"interval": "3s", "iterations": 6, "match": MATCH})
    insiders = others = None
    try:
        wait_for_line(run, "Advance podinfo.%s canary iteration 1/6" % canary.namespace)
        wait_for(lambda: canary.status().get("strategy") == "ab_testing", timeout=30)
        # istiod pushes the match route within a second or so: measure once an insider reached the canary
        probe = Clients(canary, INSIDER, clients=1)
        wait_for(lambda: probe.versions()[CANARY] > 0, timeout=30)
        probe.stop()
        insiders, others = Clients(canary, INSIDER), Clients(canary)
        wait_for(lambda: insiders.count() >= 500 and others.count() >= 500, timeout=60)
        insiders.stop(), others.stop()
        assert canary.status()["phase"] == "Progressing", "the analysis ended before the measurement"
        output = finish(run, 180)
    finally:
        for clients in (insiders, others):
            if clients is not None:
                clients.stop()
        kill_group(run)
    assert run.returncode == 0, output
    assert insiders.versions() == {CANARY: insiders.count()}, insiders.versions()
    assert others.versions() == {PRIMARY: others.count()}, others.versions()
    assert not insiders.failures and not others.failures
    assert "Advance podinfo.%s canary iteration 6/6" % canary.namespace in output
    assert canary.status()["phase"] == "Succeeded" and canary.image("podinfo-primary").endswith(":" + CANARY)
    assert extra_routes(canary) == []


def test_blue_green_keeps_the_primary_until_the_switch_then_the_canary_then_promotes(canary):
    canary.release(CANARY)
    clients = Clients(canary)
    try:
        wait_for(lambda: clients.count() > 20, timeout=30)
        rc, out = canary.run(rollout_analysis={"interval": "3s", "iterations": 3}, rollout_scale_down_delay=3)
        time.sleep(3)   # the promoted primary answers
    finally:
        clients.stop()
    assert rc == 0, out
    events = canary.events()
    assert events.index("Routing all traffic to canary") < events.index(
        "Copying podinfo.%s template spec to podinfo-primary.%s" % (canary.namespace, canary.namespace))
    answers = clients.answers
    switched = next(at for at, version, _ in answers if version == CANARY)
    # before the switch the primary served every request; a few in flight as the route changes may still be old
    before = [version for at, version, _ in answers if at < switched]
    assert set(before) == {PRIMARY} and len(before) > 100, collections.Counter(before)
    assert not [a for a in answers if a[0] > switched + 2 and a[1] == PRIMARY]
    # after the switch the canary's own pods answered (all traffic on it), then the promoted primary's
    hosts = [host for at, version, host in answers if at > switched]
    assert any(not host.startswith("podinfo-primary-") for host in hosts)
    assert hosts[-1].startswith("podinfo-primary-")
    assert not clients.failures, clients.failures[:5]
    assert canary.status()["phase"] == "Succeeded" and canary.status()["strategy"] == "blue_green"


def test_blue_green_mirroring_shows_clients_only_the_primary_while_the_canary_gets_the_copies(canary):
    canary.release(CANARY)
    run = canary.start(rollout_analysis={"interval": "3s", "iterations": 6, "mirror": True})
    clients = None
    try:
        wait_for_line(run, "Advance podinfo.%s canary iteration 1/6" % canary.namespace)
        wait_for(lambda: canary.status().get("strategy") == "blue_green_mirroring", timeout=30)
        before = served_by_canary(canary)
        clients = Clients(canary, path="/version")
        wait_for(lambda: clients.count() >= 300, timeout=60)
        clients.stop()
        wait_for(lambda: served_by_canary(canary) - before >= 0.9 * clients.count(), timeout=20,
                 message="the canary's counter to grow by the mirrored requests")
        assert canary.status()["phase"] == "Progressing", "the analysis ended before the measurement"
        output = finish(run, 180)
    finally:
        if clients is not None:
            clients.stop()
        kill_group(run)
    assert run.returncode == 0, output
    assert clients.versions() == {PRIMARY: clients.count()}, clients.versions()
    assert not clients.failures, clients.failures[:5]
    assert canary.status()["phase"] == "Succeeded" and canary.image("podinfo-primary").endswith(":" + CANARY)


def test_argo_steps_hold_at_an_indefinite_pause_until_the_promote_playbook(canary):
    canary.release(CANARY)
    steps = [{"set_weight": 25}, {"pause": {}}, {"set_weight": 75}, {"pause": {"duration": "4s"}}]
    run = canary.start(rollout_analysis={"interval": "2s", "steps": steps})
    try:
        wait_for_line(run, "Pausing podinfo.%s at step 1/2 until promoted" % canary.namespace)
        # an interval of these runs costs 5-10 s of CPU on a loaded runner: two need more than 30 s (CI rehearsal)
        wait_for(lambda: canary.status()["phase"] == "WaitingPromotion", timeout=90)
        held = canary.status()
        wait_for(lambda: canary.status()["iterations"] >= held["iterations"] + 2, timeout=90)
        assert canary.status()["phase"] == "WaitingPromotion" and canary.weights()["podinfo-canary"] == 25
        rc, out = canary.run("promote")
        assert rc == 0, out
        wait_for_line(run, "Resuming podinfo.%s after the pause at step 1/2" % canary.namespace)
        wait_for_line(run, "Advance podinfo.%s canary weight 75" % canary.namespace)
        output = finish(run, 180)
    finally:
        kill_group(run)
    assert run.returncode == 0, output
    assert "Pausing podinfo.%s at step 2/2 for 4s" % canary.namespace in output
    status = canary.status()
    assert status["phase"] == "Succeeded" and status["strategy"] == "steps" and "requested" not in status
    assert canary.image("podinfo-primary").endswith(":" + CANARY)


@pytest.mark.parametrize("strategy, analysis", [
    ("ab_testing", {"iterations": 3, "match": MATCH}),
    ("blue_green", {"iterations": 3}),
    ("blue_green_mirroring", {"iterations": 3, "mirror": True}),
    ("steps", {"steps": [{"set_weight": 30}, {"pause": {"duration": "2s"}}, {"set_weight": 60}]}),
])
def test_each_strategy_rolls_back_a_faulty_revision(canary, strategy, analysis):
    canary.release(CANARY)
    faulty = dict(analysis, interval="1s", threshold=2,
                  metrics=[{"name": "error-free", "query": "vector(42)", "threshold_range": {"min": 99}}])
    rc, out = canary.run(rollout_analysis=faulty)
    assert rc != 0, out
    status = canary.status()
    assert (status["phase"], status["strategy"]) == ("Failed", strategy)
    assert "failed checks threshold reached 2" in status["reason"]
    assert canary.weights() == {"podinfo-primary": 100, "podinfo-canary": 0}
    assert extra_routes(canary) == []
    assert canary.image("podinfo-primary").endswith(":" + PRIMARY) and canary.replicas("podinfo") == 0


BAD_SETTINGS = [
    ({"iterations": 0, "match": MATCH}, None, "rollout_analysis.iterations must be a positive integer"),
    ({"iterations": -1}, None, "rollout_analysis.iterations must be a positive integer"),
    ({"iterations": 3, "match": MATCH, "mirror": True}, None, "rollout_analysis.match and mirror cannot be combined"),
    ({"steps": [{"set_weight": 50}, {"set_weight": 20}]}, None, "rollout_analysis.steps[1].set_weight = 20 must be above"),
    ({"steps": [{"set_weight": 20}, {"pause": {"duration": "soon"}}]}, None, "rollout_analysis.steps[1].pause.duration must be a duration"),
    ({"steps": [{"set_weight": 120}]}, None, "rollout_analysis.steps[0].set_weight must be an integer between 0 and 100"),
    ({"iterations": 3}, "ab_testing", "rollout_strategy ab_testing needs match in rollout_analysis"),
    ({"iterations": 3, "mirror": True, "mirror_weight": 150}, None, "rollout_analysis.mirror_weight must be an integer between 0 and 100"),
    ({}, "steps", "rollout_strategy steps needs steps in rollout_analysis"),
]


def test_bad_strategy_settings_name_the_variable_and_change_nothing(canary):
    canary.release(CANARY)
    before = (canary.status(), canary.weights(), canary.replicas("podinfo"), canary.image("podinfo-primary"))
    for analysis, strategy, words in BAD_SETTINGS:
        extra = {"rollout_strategy": strategy} if strategy else {}
        rc, out = canary.run(rollout_analysis=analysis, **extra)
        assert rc != 0 and words in out and "nothing was changed in the cluster" in out, (analysis, strategy, out[-3000:])
        assert (canary.status(), canary.weights(), canary.replicas("podinfo"), canary.image("podinfo-primary")) == before


def test_a_canary_that_starts_crashing_mid_analysis_is_rolled_back_within_the_interval(canary):
    canary.release(CANARY)
    run = canary.start(rollout_analysis={"interval": "4s", "step_weights": [20, 40, 60, 80]})
    try:
        wait_for_line(run, "Advance podinfo.%s canary weight 20" % canary.namespace)
        [(name, (pid, version))] = canary.cluster.pod_processes("podinfo", canary.namespace).items()
        assert version == CANARY
        # the container's process dies (exit 137): the node agent restarts it, as a kubelet would
        os.kill(pid, signal.SIGKILL)
        crashed = time.monotonic()
        output = finish(run, 120)
        noticed = time.monotonic() - crashed
    finally:
        kill_group(run)
    assert run.returncode != 0, output
    reason = canary.status()["reason"]
    assert "canary %s container podinfod" % name in reason, reason
    assert "restart" in reason or "CrashLoopBackOff" in reason, reason
    # within the interval it happened in (4 s) and the next one, not after the progress deadline (90 s)
    assert "Advance podinfo.%s canary weight 60" % canary.namespace not in output
    assert noticed < 60, noticed
    assert canary.weights() == {"podinfo-primary": 100, "podinfo-canary": 0}
