"""Fast abort on the session's lab with real load through the mesh (the role's own load generator on the canary's
host, Envoy's counters reshaped into Istio's istio_requests_total, Prometheus scraping every second): a faulty podinfo
6.0.2 (--random-error) is rolled back well inside its first interval with fast abort and after interval x threshold
without; a poll shorter than the scrape interval fails before anything is written."""

import threading
import time

import pytest

from tests.e2e.conftest import finish

pytestmark = pytest.mark.lab

SUCCESS_RATE = [{"name": "request-success-rate", "threshold_range": {"min": 99}}]


def analysis(interval, fast_abort, steps=(50, 100), threshold=2):
    return {"interval": interval, "metric_interval": "10s", "threshold": threshold, "step_weights": list(steps),
            "metrics": SUCCESS_RATE, "fast_abort": fast_abort}


def load(canary):
    return {"url": canary.cluster.info["mesh"] + "/", "host": "podinfo-canary.%s" % canary.namespace, "qps": 10, "concurrency": 2}


class Weights(object):
    """The VirtualService's canary weight every 0.1 s: when it first left 0, and when it was back at 0 after that."""

    def __init__(self, canary):
        self.canary, self.left_zero, self.back_to_zero, self.seen = canary, None, None, []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self):
        while not self.stop.is_set():
            try:
                weight = self.canary.weights().get("podinfo-canary", 0)
            except Exception:  # pylint: disable=broad-except  (a read during an update: try again)
                weight = None
            now = time.monotonic()
            if weight:
                self.seen.append(weight)
                if self.left_zero is None:
                    self.left_zero = now
            elif weight == 0 and self.left_zero is not None and self.back_to_zero is None:
                self.back_to_zero = now
            time.sleep(0.1)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc_info):
        self.stop.set()
        self.thread.join(timeout=5)

    @property
    def exposed(self):
        assert self.left_zero is not None and self.back_to_zero is not None, self.seen
        return self.back_to_zero - self.left_zero


def faulty_run(canary, fast_abort):
    # podinfo 6.0.2 with --random-error: about a third of its answers are 5xx
    command = canary.get("apps/v1", "Deployment", "podinfo")["spec"]["template"]["spec"]["containers"][0]["command"]
    assert "--random-error=false" in command, command
    canary.release("6.0.2", command=["--random-error=true" if arg == "--random-error=false" else arg for arg in command])
    with Weights(canary) as weights:
        process = canary.start(rollout_analysis=analysis("10s", fast_abort), rollout_load=load(canary))
        out = finish(process, 600)
    (canary.tmp_path / "run.log").write_text(out)
    return process.returncode, out, weights.exposed


def test_a_faulty_canary_is_rolled_back_inside_its_first_interval(canary):
    rc, out, exposed = faulty_run(canary, {"enabled": True})
    assert rc != 0, out
    name = "podinfo.%s" % canary.namespace
    assert "Fast abort reads the canary's counters every 1.0 s (Prometheus' scrape interval)" in out, out
    status = canary.status()
    assert status["phase"] == "Failed", out
    assert status["reason"].startswith("fast abort: "), status["reason"]
    assert any(e.startswith("Rolling back %s fast abort: " % name) for e in canary.events()), canary.events()
    assert canary.weights() == {"podinfo-primary": 100, "podinfo-canary": 0}
    # well inside the 10 s interval (Flagger: interval x threshold = 20 s)
    print("fault-to-safety with fast abort: %.2f s (%s)" % (exposed, status["reason"]))
    assert exposed < 10, (exposed, out)


def test_without_fast_abort_the_same_faulty_canary_takes_interval_x_threshold(canary):
    rc, out, exposed = faulty_run(canary, {"enabled": False})
    assert rc != 0, out
    status = canary.status()
    assert status["phase"] == "Failed" and status["reason"].startswith("failed checks threshold reached 2"), status
    assert "Fast abort" not in out
    print("fault-to-safety without fast abort: %.2f s" % exposed)
    # two failed checks, one per interval of 10 s
    assert 15 < exposed < 40, (exposed, out)


def test_a_poll_shorter_than_the_scrape_interval_fails_before_anything_is_written(canary):
    canary.release("6.0.1")
    before = canary.status()
    rc, out = canary.run(rollout_analysis=analysis("10s", {"enabled": True, "poll": 0.5}), rollout_load=load(canary))
    assert rc != 0
    assert "rollout_analysis.fast_abort.poll is 0.5s, shorter than Prometheus' scrape interval of 1s" in out, out
    assert "nothing was changed in the cluster" in out
    assert canary.status() == before
    assert canary.replicas("podinfo") == 0
    assert canary.weights() == {"podinfo-primary": 100, "podinfo-canary": 0}
    lease = canary.get("coordination.k8s.io/v1", "Lease", "podinfo-canary-lock")
    assert lease is None or not lease["spec"].get("holderIdentity")
