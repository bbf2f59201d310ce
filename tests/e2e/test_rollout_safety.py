"""The rollout under operator actions and races, through ansible-playbook against the session's lab
(``shared_lab``: the real kube-apiserver and controllers, podinfo pods as real processes, the lab's
Prometheus), each test in a namespace of its own: an abort acted on at once, a forced abort that the
interrupted run cannot undo, a revision pushed mid-analysis, bad settings that write nothing, a dead
runner taken over within one interval, a rollback that itself fails."""

import calendar
import json
import subprocess
import threading
import time

import pytest

from .conftest import kill_group

pytestmark = pytest.mark.prometheus

SLOW = {"interval": "3s", "step_weights": [20, 40, 60, 80]}
VS = ("networking.istio.io/v1beta1", "VirtualService")


class Output:
    """Reads a running ansible-playbook's output in the background (so its pipe never fills)."""

    def __init__(self, process):
        self.process = process
        self.lines = []
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self):
        for line in self.process.stdout:
            self.lines.append(line)

    @property
    def text(self):
        return "".join(self.lines)

    def wait_for(self, text, timeout=120):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.text:
                return
            if self.process.poll() is not None and text not in self.text:
                self._thread.join(timeout=5)
                break
            time.sleep(0.05)
        assert text in self.text, "%r never appeared:\n%s" % (text, self.text)

    def finish(self, timeout=120):
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_group(self.process)
            raise AssertionError("the run did not end within %d s:\n%s" % (timeout, self.text[-20000:]))
        self._thread.join(timeout=10)
        return self.process.returncode, self.text


def canary_weight(canary):
    return canary.weights()["podinfo-canary"]


def watch_weights(canary, stop):
    """(monotonic time, canary weight) every 20 ms until ``stop`` is set."""
    seen = []

    def poll():
        while not stop.is_set():
            seen.append((time.time(), canary_weight(canary)))
            time.sleep(0.02)
    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    return seen, thread


def snapshot(canary):
    """Everything a rollout writes, to prove that nothing was."""
    objects = {}
    for api_version, kind, name in [("v1", "ConfigMap", "podinfo-canary-status"), ("coordination.k8s.io/v1", "Lease", "podinfo-canary-lock"),
                                    VS + ("podinfo",), ("apps/v1", "Deployment", "podinfo")]:
        obj = canary.get(api_version, kind, name)
        # the Deployment's metadata is the controllers' (revision annotation, generation): its spec is what a rollout writes
        objects[kind] = None if obj is None else json.loads(json.dumps(obj["spec"] if kind == "Deployment" else obj))
    objects["events"] = canary.events()
    return objects


@pytest.mark.timing
def test_abort_rolls_back_within_two_seconds_mid_wait_with_the_operators_reason(canary):
    canary.release("6.0.1")
    run = Output(canary.start(rollout_analysis=dict(SLOW, interval="30s")))
    stop = threading.Event()
    try:
        run.wait_for("canary weight 20")
        time.sleep(2)  # well inside the 30 s wait of the first interval
        seen, poller = watch_weights(canary, stop)
        rc, out = canary.run("abort", rollout_reason="bad smell in the logs")
        assert rc == 0, out
        code, output = run.finish(timeout=60)
        stop.set()
        poller.join()
    finally:
        stop.set()
        kill_group(run.process)
    assert code != 0
    status = canary.status()
    requested_at = calendar.timegm(time.strptime(status["run"]["requested_at"][:19], "%Y-%m-%dT%H:%M:%S")) + float(
        "0." + status["run"]["requested_at"][20:26])
    back_at = next(t for t, weight in seen if weight == 0)
    print("abort acted on %.2f s after the request was recorded" % (back_at - requested_at))
    assert back_at - requested_at < 2.0
    assert max(weight for _t, weight in seen) == 20, "the weight was raised after the abort"
    assert status["phase"] == "Failed" and status["reason"] == "bad smell in the logs"
    assert "requested" not in status
    assert "Rolling back podinfo.%s bad smell in the logs" % canary.namespace in output
    assert canary.replicas("podinfo") == 0


def test_forced_abort_takes_the_canary_and_the_interrupted_run_touches_nothing(canary):
    canary.release("6.0.1")
    run = Output(canary.start(rollout_analysis=SLOW))
    try:
        run.wait_for("canary weight 20")
        rc, out = canary.run("abort", rollout_lock_force=True, rollout_reason="operator: forced")
        assert rc == 0, out
        assert canary.weights() == {"podinfo-primary": 100, "podinfo-canary": 0}
        after_abort = snapshot(canary)
        code, output = run.finish(timeout=60)
    finally:
        kill_group(run.process)
    assert code != 0
    assert "lost the lock of canary podinfo.%s" % canary.namespace in output, output
    assert "released by somebody else" in output or "locked by" in output
    # the interrupted run wrote nothing after the abort: route, replicas, status, lease and events are the abort's
    time.sleep(1)
    assert snapshot(canary) == after_abort
    status = canary.status()
    assert status["phase"] == "Failed" and status["reason"] == "operator: forced"
    assert not canary.get("coordination.k8s.io/v1", "Lease", "podinfo-canary-lock")["spec"].get("holderIdentity")
    assert "Canary failed! Scaling down" not in output  # the interrupted run did not run its own rollback


def test_a_revision_pushed_during_the_analysis_restarts_it(canary):
    canary.release("6.0.1")
    run = Output(canary.start(rollout_analysis=dict(SLOW, step_weights=[20, 40])))
    stop = threading.Event()
    try:
        run.wait_for("canary weight 20")
        seen, poller = watch_weights(canary, stop)
        canary.release("6.0.3")
        code, output = run.finish(timeout=240)
        stop.set()
        poller.join()
    finally:
        stop.set()
        kill_group(run.process)
    assert code == 0, output
    name = "podinfo.%s" % canary.namespace
    assert "New revision detected! Restarting analysis for " + name in output
    # back to weight 0 before the new revision got any traffic, then its own analysis from the first step
    weights = [w for _t, w in seen]
    assert 0 in weights and weights.index(0) < len(weights) - 1
    assert canary.image("podinfo-primary").endswith(":6.0.3")
    status = canary.status()
    assert status["phase"] == "Succeeded" and status["failed_checks"] == 0
    events = canary.events()
    restart = events.index("New revision detected! Restarting analysis for " + name)
    assert "Advance %s canary weight 20" % name in events[restart:]


BAD_SETTINGS = {
    "metric": ({"rollout_analysis": {"metrics": [{"name": "my-latency", "threshold_range": {"max": 5}}]}},
               "rollout_analysis.metrics[0] (my-latency): 'my-latency' is not a builtin istio metric"),
    "threshold": ({"rollout_analysis": {"threshold": 0}}, "rollout_analysis.threshold must be at least 1, got 0"),
    "prometheus-url": ({"rollout_prometheus": {"url": "prometheus:9090"}}, "rollout_prometheus.url must be an http:// or https:// URL"),
    "load": ({"rollout_load": {"url": "http://podinfo-canary:9898/", "qps": 0}}, "rollout_load.qps must be positive"),
    "route-timeout": ({"rollout_service": {"timeout": "120"}}, "rollout_service.timeout must be an Istio duration"),
    "kubeconfig": ({"rollout_kubeconfig": "/nonexistent/kubeconfig"},
                   "rollout_kubeconfig: the kubeconfig file /nonexistent/kubeconfig does not exist"),
}


def test_bad_settings_write_nothing_and_do_not_fail_the_revision(canary):
    # one canary for all the settings: each refused run must leave the same pending revision untouched, so the
    # next bad run (and the corrected one at the end) starts from exactly the state the first one found
    canary.release("6.0.1")
    before = snapshot(canary)
    for name, (overrides, message) in BAD_SETTINGS.items():
        rc, out = canary.run(**overrides)
        assert rc != 0 and message in out, (name, out)
        assert "nothing was changed in the cluster" in out, (name, out)
        assert snapshot(canary) == before, name
    # corrected, the same revision is analysed (no bad run marked it failed)
    rc, out = canary.run(rollout_analysis={"step_weights": [50]})
    assert rc == 0 and "New revision detected" in out, out
    assert canary.status()["phase"] == "Succeeded"


def test_prometheus_down_before_the_first_step_moves_no_traffic(canary):
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    canary.release("6.0.1")
    before = snapshot(canary)
    rc, out = canary.run(rollout_prometheus={"url": "http://127.0.0.1:%d" % closed})
    assert rc != 0
    assert "the metrics server does not answer Flagger's vector(1) check" in out, out
    assert snapshot(canary) == before
    assert canary.status()["phase"] == "Initialized"


@pytest.mark.timing
def test_a_dead_runner_is_taken_over_within_one_interval(canary):
    canary.release("6.0.1")
    interval = 10
    run = Output(canary.start(rollout_analysis=dict(SLOW, interval="%ds" % interval)))
    try:
        run.wait_for("canary weight 20")
        deadline = time.monotonic() + 30
        while canary.status().get("canary_weight") != 20 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        kill_group(run.process)
    killed_at = time.time()
    lease = canary.get("coordination.k8s.io/v1", "Lease", "podinfo-canary-lock")["spec"]
    assert lease["leaseDurationSeconds"] == interval
    # the re-run of the next operator may take over once the lease ran out: at most one interval after the death
    renewed = calendar.timegm(time.strptime(lease["renewTime"][:19], "%Y-%m-%dT%H:%M:%S")) + float("0." + lease["renewTime"][20:26])
    print("the dead run's lease ran out %.2f s after the kill (interval %d s)" % (renewed + lease["leaseDurationSeconds"] - killed_at, interval))
    assert renewed + lease["leaseDurationSeconds"] - killed_at <= interval
    time.sleep(max(renewed + lease["leaseDurationSeconds"] - time.time(), 0) + 0.5)
    rc, out = canary.run(rollout_analysis=dict(SLOW, interval="1s"))
    assert rc == 0, out
    assert "Resuming" in out, out
    assert "Resuming the analysis of podinfo.%s at canary weight 20" % canary.namespace in out
    assert canary.status()["phase"] == "Succeeded"


def test_a_rollback_that_fails_still_records_failed_with_both_reasons(canary):
    canary.release("6.0.1")
    run = Output(canary.start(rollout_analysis=SLOW))
    try:
        run.wait_for("canary weight 20")
        # somebody deletes the VirtualService: the next step and the rollback both fail on it
        canary.cluster.store.delete(VS[0], VS[1], canary.namespace, "podinfo")
        code, output = run.finish(timeout=60)
    finally:
        kill_group(run.process)
    assert code != 0
    status = canary.status()
    assert status["phase"] == "Failed"
    assert "VirtualService %s/podinfo not found" % canary.namespace in status["reason"]
    assert "the rollback itself failed" in status["reason"]
    assert "Rollback of podinfo.%s failed" % canary.namespace in output
