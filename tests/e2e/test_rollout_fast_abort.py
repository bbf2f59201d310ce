"""Fast abort on the session's lab: a poll shorter than Prometheus' scrape interval (the lab scrapes every second)
fails before anything is written, naming rollout_analysis.fast_abort.poll."""

import pytest

pytestmark = pytest.mark.lab

SUCCESS_RATE = [{"name": "request-success-rate", "threshold_range": {"min": 99}}]


def analysis(interval, fast_abort, steps=(50, 100), threshold=2):
    return {"interval": interval, "metric_interval": "10s", "threshold": threshold, "step_weights": list(steps),
            "metrics": SUCCESS_RATE, "fast_abort": fast_abort}


def load(canary):
    return {"url": canary.cluster.info["mesh"] + "/", "host": "podinfo-canary.%s" % canary.namespace, "qps": 10, "concurrency": 2}


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
