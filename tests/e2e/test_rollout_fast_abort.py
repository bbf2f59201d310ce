"""Fast abort on the session's lab, with real requests through the mesh Envoy and Prometheus' real counters (1 s
scrape): a canary whose answers fail is rolled back inside its first interval, where the same canary without fast
abort takes interval x threshold; a healthy canary is never aborted over ten intervals; a poll shorter than the scrape
interval fails before anything is written, naming rollout_analysis.fast_abort.poll."""

import threading

import pytest

from .test_rollout_safety import watch_weights

pytestmark = pytest.mark.lab

SUCCESS_RATE = [{"name": "request-success-rate", "threshold_range": {"min": 99}}]


def analysis(interval, fast_abort, steps=(50, 100), threshold=2):
    return {"interval": interval, "metric_interval": "10s", "threshold": threshold, "step_weights": list(steps),
            "metrics": SUCCESS_RATE, "fast_abort": fast_abort}


def load(canary, path="/"):
    return {"url": canary.cluster.info["mesh"] + path, "host": "podinfo-canary.%s" % canary.namespace, "qps": 10, "concurrency": 2}


def time_to_safety(canary, **settings):
    """Seconds from the canary's weight leaving 0 to 100/0 again (the VirtualService read every 20 ms), the run's answer."""
    stop = threading.Event()
    seen, poller = watch_weights(canary, stop)
    try:
        rc, out = canary.run(**settings)
    finally:
        stop.set()
        poller.join()
    first = next(at for at, weight in seen if weight > 0)
    back = next(at for at, weight in seen if at > first and weight == 0)
    return back - first, rc, out


@pytest.mark.timing
def test_failing_answers_are_rolled_back_inside_the_first_interval_and_later_without_fast_abort(canary):
    # podinfo's /status/500 answers 500 to every request, while the pod's probes stay healthy: a fault of the answers
    # only, so neither readiness nor the health watch can end the analysis first
    faulty = load(canary, "/status/500")
    canary.release("6.0.1")
    fast, rc, out = time_to_safety(canary, rollout_analysis=analysis("10s", {"enabled": True}), rollout_load=faulty)
    assert rc != 0, out
    reason = canary.status()["reason"]
    print("fast abort: %.2f s from the first traffic to 100/0 (%s)" % (fast, reason))
    assert reason.startswith("fast abort: "), reason
    # within the first interval of 10 s: the wait routes to the primary the moment the breach is certain (measured
    # 6.4 s alone, from the canary's first traffic, which includes the load generator's start); Flagger's interval x
    # threshold is 20 s before its rollback even starts
    assert fast < 12, "not within the first interval"
    assert canary.weights() == {"podinfo-primary": 100, "podinfo-canary": 0}

    canary.release("6.0.3")
    slow, rc, out = time_to_safety(canary, rollout_analysis=analysis("10s", {"enabled": False}), rollout_load=faulty)
    assert rc != 0, out
    reason = canary.status()["reason"]
    print("without fast abort: %.2f s (%s); Flagger's interval x threshold: 20 s" % (slow, reason))
    assert reason.startswith("failed checks threshold reached 2"), reason
    assert slow > 20 and fast + 5 < slow


def test_a_healthy_canary_is_not_aborted_over_ten_intervals(canary):
    # ten intervals keep the CI run short: 30 took over 6 min beside another suite
    canary.release("6.0.1")
    steps = list(range(10, 101, 10))
    rc, out = canary.run(rollout_analysis=analysis("2s", {"enabled": True}, steps=steps), rollout_load=load(canary), timeout=600)
    assert rc == 0, out
    status = canary.status()
    assert status["phase"] == "Succeeded", out
    assert canary.image("podinfo-primary").endswith(":6.0.1")
    # the reason a fast abort gives ("fast abort: 3 of 9 requests failed ..."), never seen
    assert "fast abort: " not in out and not status.get("reason")
    assert out.count("Advance podinfo.%s canary weight" % canary.namespace) >= len(steps) - 1, out[-3000:]


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
