"""Fixtures for the end-to-end tests of the rollout role: the session's real lab (``shared_lab``:
kube-apiserver, the controllers, podinfo pods as real processes, istiod, the Envoys, Prometheus), a
namespace of its own per test, and a runner for ansible-playbook with the collection's playbooks."""

import copy
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.mesh import podinfo_deployment

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class Canary(object):
    """One podinfo target in its own namespace, and ansible-playbook runs against it."""

    def __init__(self, lab, namespace, tmp_path, target="podinfo"):
        self.cluster, self.namespace, self.tmp_path, self.target = lab, namespace, tmp_path, target
        self.runs = 0

    def vars(self, **overrides):
        base = {
            "rollout_target": self.target,
            "rollout_namespace": self.namespace,
            "rollout_kubeconfig": str(self.cluster.kubeconfig),
            # Real pods: Ready 1-2 s after the scale-up, but a pod that gets the pod IP of one stopped seconds before is
            # unreachable from the host until the bridge's neighbour entry for that IP expires (~30 s, then its liveness
            # probe restarts it): the deadline leaves room for that (a tests/lab/real/network.py issue, see the report).
            "rollout_progress_deadline_seconds": 90,
            # no traffic reaches these canaries (the metrics are constant queries): nothing to drain
            "rollout_scale_down_delay": 0,
            # the runs that wait for an approval wait seconds here; a bound of an hour at 1-2 s intervals would leave
            # thousands of loop slots to skip after the end (docs/rollout.md, "Webhooks, manual gates and alerts")
            "rollout_approval_timeout": 120,
            # the report of every run (docs/report.md) in the test's own directory, not under /tmp/progressive-delivery
            "rollout_report_dir": str(self.tmp_path / "report"),
            "rollout_prometheus": {"url": self.cluster.info["prometheus"]},
            "rollout_analysis": {
                "interval": "1s",
                "threshold": 2,
                "step_weights": [50, 100],
                "metrics": [{"name": "error-free", "query": "vector(100)", "threshold_range": {"min": 99}}],
            },
        }
        for key, value in overrides.items():
            if isinstance(value, dict) and isinstance(base.get(key), dict):
                merged = copy.deepcopy(base[key])
                merged.update(value)
                base[key] = merged
            else:
                base[key] = value
        return base

    def command(self, playbook, extra):
        self.runs += 1
        path = self.tmp_path / ("vars-%d.json" % self.runs)
        path.write_text(json.dumps(extra))
        return [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "progressive.delivery." + playbook, "-e", "@%s" % path]

    def env(self):
        env = dict(os.environ)
        env.update({
            "ANSIBLE_COLLECTIONS_PATH": os.path.join(REPO, ".build", "collections"),
            "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
            "ANSIBLE_FORCE_COLOR": "0",
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_DISPLAY_SKIPPED_HOSTS": "false",
            "ANSIBLE_LOCAL_TEMP": str(self.tmp_path / "ansible-tmp"),
            "ANSIBLE_ASYNC_DIR": str(self.tmp_path / "ansible-async"),
        })
        return env

    def run(self, playbook="rollout", timeout=300, **overrides):
        result = subprocess.run(self.command(playbook, self.vars(**overrides)), env=self.env(), cwd=REPO,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout)
        return result.returncode, result.stdout

    def start(self, playbook="rollout", **overrides):
        return subprocess.Popen(self.command(playbook, self.vars(**overrides)), env=self.env(), cwd=REPO,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)

    # cluster reads -------------------------------------------------------------------------
    def get(self, api_version, kind, name):
        return self.cluster.store.get(api_version, kind, self.namespace, name)

    def status(self):
        cm = self.get("v1", "ConfigMap", self.target + "-canary-status")
        return json.loads(cm["data"]["status.json"]) if cm else {}

    def weights(self):
        vs = self.get("networking.istio.io/v1beta1", "VirtualService", "podinfo")
        return {r["destination"]["host"]: r.get("weight", 0) for r in vs["spec"]["http"][-1]["route"]}

    def image(self, name):
        return self.get("apps/v1", "Deployment", name)["spec"]["template"]["spec"]["containers"][0]["image"]

    def replicas(self, name):
        return self.get("apps/v1", "Deployment", name)["spec"]["replicas"]

    def events(self):
        """The rollout's Events on the target, oldest first (not the Deployment controller's ScalingReplicaSet ones)."""
        events = [e for e in self.cluster.store.list("v1", "Event", self.namespace)
                  if e["involvedObject"]["name"] == "podinfo" and (e.get("source") or {}).get("component") == "progressive.delivery"]
        return [e["message"] for e in sorted(events, key=lambda e: e["metadata"]["name"])]

    def release(self, version, **container_changes):
        deployment = self.get("apps/v1", "Deployment", self.target)
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        container["image"] = "ghcr.io/stefanprodan/podinfo:" + version
        container.update(container_changes)
        self.cluster.store.update(deployment)


@pytest.fixture
def canary(shared_lab, namespace, tmp_path):
    """podinfo 6.0.0 (Flagger's tutorial Deployment, 1 replica, short probe delays) in the test's own namespace of the
    session's lab, initialised by a first rollout run (podinfo-primary serves it, the target is at 0)."""
    shared_lab.store.create(podinfo_deployment(namespace, "6.0.0", replicas=1))
    target = Canary(shared_lab, namespace, tmp_path)
    rc, out = target.run()
    assert rc == 0, out
    assert target.status()["phase"] == "Initialized", out
    return target


def kill_group(process):
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(timeout=10)


def wait_for_line(process, text, timeout=120):
    """Read the run's output until a line contains ``text``; returns the output so far."""
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        seen.append(line)
        if text in line:
            return "".join(seen)
    raise AssertionError("%r never appeared:\n%s" % (text, "".join(seen)))


def finish(process, timeout):
    """The rest of a run's output once it ends; a run still going after ``timeout`` seconds is killed, and the
    assertion shows where it was."""
    try:
        output, _ = process.communicate(timeout=timeout)
        return output
    except subprocess.TimeoutExpired:
        kill_group(process)
        output, _ = process.communicate()
        raise AssertionError("the run did not end within %d s; its last output:\n%s" % (timeout, (output or "")[-6000:]))
