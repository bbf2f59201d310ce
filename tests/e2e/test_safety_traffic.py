"""Operator actions on a running rollout, with steady clients through the session's lab (``shared_lab``: the real
control plane, istiod programming the mesh Envoy, the podinfo binary as pods), in a namespace of the module's own: an abort takes the canary out of the traffic within two seconds of its request and fails no request;
a forced abort takes the canary from the running run, which then touches nothing (before the fix it raised the
weight of a canary scaled to 0, and clients got 503s)."""

import calendar
import json
import os
import subprocess
import sys
import threading
import time

import pytest

from tests.cluster import Namespaces
from tests.mesh import REPO, SteadyTraffic, podinfo_deployment, wait_for

pytestmark = [pytest.mark.lab, pytest.mark.timing]

VS = ("networking.istio.io/v1beta1", "VirtualService")


class Runs:
    """ansible-playbook runs of the collection's playbooks against the lab."""

    def __init__(self, lab, namespace, tmp_path):
        self.lab, self.namespace, self.tmp_path, self.count = lab, namespace, tmp_path, 0

    def command(self, playbook, **overrides):
        extra = {
            "rollout_target": "podinfo",
            "rollout_namespace": self.namespace,
            "rollout_kubeconfig": self.lab.kubeconfig,
            "rollout_progress_deadline_seconds": 60,
            "rollout_scale_down_delay": 2,
            "rollout_analysis": {"interval": "20s", "threshold": 2, "step_weights": [20, 40, 60, 80], "metrics": []},
        }
        extra.update(overrides)
        self.count += 1
        path = self.tmp_path / ("vars-%d.json" % self.count)
        path.write_text(json.dumps(extra))
        return [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "progressive.delivery." + playbook, "-e", "@%s" % path]

    def env(self):
        return dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(REPO / ".build" / "collections"), ANSIBLE_PYTHON_INTERPRETER=sys.executable,
                    ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1", ANSIBLE_LOCAL_TEMP=str(self.tmp_path / "tmp"),
                    ANSIBLE_ASYNC_DIR=str(self.tmp_path / "async"))

    def run(self, playbook="rollout", timeout=240, **overrides):
        done = subprocess.run(self.command(playbook, **overrides), env=self.env(), cwd=REPO, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=timeout)
        return done.returncode, done.stdout

    def start(self, playbook="rollout", **overrides):
        process = subprocess.Popen(self.command(playbook, **overrides), env=self.env(), cwd=REPO, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True, start_new_session=True)
        output = []
        reader = threading.Thread(target=lambda: output.extend(process.stdout), daemon=True)
        reader.start()
        return process, output, reader


class Target:
    """podinfo under the rollout in the module's namespace ``ns`` of ``lab``; ``host`` for the mesh, ``runs``."""

    def __init__(self, lab, ns, runs):
        self.lab, self.ns, self.runs = lab, ns, runs
        self.host = "podinfo.%s:9898" % ns

    def read(self, api_version, kind, name):
        return self.lab.read(api_version, kind, self.ns, name)


@pytest.fixture(scope="module")
def target(shared_lab, tmp_path_factory):
    namespaces = Namespaces(shared_lab.store)
    ns = namespaces.create("safety-traffic")
    try:
        shared_lab.apply(podinfo_deployment(ns, "6.0.0", replicas=1))
        runs = Runs(shared_lab, ns, tmp_path_factory.mktemp("safety-runs"))
        rc, out = runs.run()
        assert rc == 0, out
        wait_for(lambda: shared_lab.rolled_out("podinfo-primary", 1, namespace=ns), 60, "the primary",
                 describe=lambda: shared_lab.describe("podinfo-primary", namespace=ns))
        yield Target(shared_lab, ns, runs)
    finally:
        namespaces.delete(ns)


def release(target, version):
    deployment = target.read("apps/v1", "Deployment", "podinfo")
    deployment["spec"]["template"]["spec"]["containers"][0]["image"] = "ghcr.io/stefanprodan/podinfo:" + version
    target.lab.apply(deployment)


def canary_weight(target):
    vs = target.read(VS[0], VS[1], "podinfo")
    return [r for r in vs["spec"]["http"][-1]["route"] if r["destination"]["host"].startswith("podinfo-canary")][0].get("weight", 0)


def status(target):
    return json.loads(target.read("v1", "ConfigMap", "podinfo-canary-status")["data"]["status.json"])


def started_at_weight_20(target, version):
    release(target, version)
    process, output, reader = target.runs.start()
    wait_for(lambda: canary_weight(target) == 20, 90, "the canary at weight 20", interval=0.2, describe=lambda: "".join(output)[-3000:])
    return process, output, reader


def finish(process, reader, timeout=120):
    try:
        process.wait(timeout=timeout)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, 9)
    reader.join(timeout=10)
    return process.returncode


def test_abort_takes_the_canary_out_within_two_seconds_and_fails_no_request(target):
    process, output, reader = started_at_weight_20(target, "6.0.1")
    with SteadyTraffic(target.lab, target.host, clients=2) as traffic:
        wait_for(lambda: traffic.versions["6.0.1"] >= 20, 30, "the canary's share of the traffic", describe=traffic.summary)
        rc, out = target.runs.run("abort", rollout_reason="error budget burnt")
        assert rc == 0, out
        code = finish(process, reader)
        time.sleep(3)
    assert code != 0, "".join(output)
    recorded = status(target)
    requested = recorded["run"]["requested_at"]
    requested_at = calendar.timegm(time.strptime(requested[:19], "%Y-%m-%dT%H:%M:%S")) + float("0." + requested[20:26])
    lag = traffic.last_seen["6.0.1"] - requested_at
    print("%s; the canary's last response came %.2f s after the abort request" % (traffic.summary(), lag))
    assert traffic.failures == [], traffic.summary()
    assert traffic.total >= 500
    assert lag < 2.0
    assert recorded["phase"] == "Failed" and recorded["reason"] == "error budget burnt"
    assert canary_weight(target) == 0


def test_forced_abort_leaves_the_interrupted_run_nothing_to_break(target):
    process, output, reader = started_at_weight_20(target, "6.0.2")
    with SteadyTraffic(target.lab, target.host, clients=2) as traffic:
        wait_for(lambda: traffic.versions["6.0.2"] >= 20, 30, "the canary's share of the traffic", describe=traffic.summary)
        rc, out = target.runs.run("abort", rollout_lock_force=True, rollout_reason="forced by the operator")
        assert rc == 0, out
        aborted_at = time.time()
        code = finish(process, reader)
        # the interrupted run's next interval would have come within 20 s: keep the clients on until then
        time.sleep(max(0, aborted_at + 22 - time.time()))
    text = "".join(output)
    print(traffic.summary())
    assert code != 0 and "lost the lock of canary podinfo.%s" % target.ns in text, text[-3000:]
    assert traffic.failures == [], traffic.summary()
    assert traffic.last_seen["6.0.2"] < aborted_at
    assert canary_weight(target) == 0
    recorded = status(target)
    assert recorded["phase"] == "Failed" and recorded["reason"] == "forced by the operator"
    assert target.read("apps/v1", "Deployment", "podinfo")["spec"]["replicas"] == 0
