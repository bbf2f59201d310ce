"""The canary-versus-primary judge (rollout_analysis.judge) inside the role's loop, end to end on the lab: real podinfo
processes behind the lab's mesh Envoy, real requests to both the canary (the role's rollout_load, through the mesh to
podinfo-canary) and the primary (the test's own steady traffic to podinfo-primary), Istio's series in the lab's
Prometheus (1 s scrape), and canary_compare's Mann-Whitney U test on range queries of both every interval."""

import json

import pytest

from tests.mesh import SteadyTraffic

from .test_rollout_safety import snapshot

pytestmark = pytest.mark.prometheus

# Intervals of 10 s: the lookback (the interval) in steps of 1 s, each sample a 2 s rate (two scrapes), so a side has up
# to 11 samples per interval - the first interval's canary side a few less, as its load starts with the interval.
JUDGE = {
    "step": "1s",
    "interval": "2s",
    "metrics": [
        {"name": "request-success-rate", "critical": True},
        # identical versions still differ a little between two pods: a 50% higher mean P99 is the regression looked for
        {"name": "request-duration", "effect_size": {"allowed_increase": 1.5}},
    ],
}
ANALYSIS = {"interval": "10s", "threshold": 1, "step_weights": [50, 100], "judge": JUDGE}


def load(canary, qps=20):
    return {"url": canary.cluster.info["mesh"] + "/", "host": "podinfo-canary.%s" % canary.namespace, "qps": qps, "concurrency": 2}


def primary_traffic(canary):
    """About 20 requests a second to the primary through the mesh, as the canary's load generator sends to the canary."""
    return SteadyTraffic(canary.cluster, "podinfo-primary.%s:9898" % canary.namespace, clients=1, pause=0.05, max_seconds=480)


def judged(entry):
    """The judge's entries of a history entry (the history keeps name, value, judgment, status and message)."""
    return dict((m["name"], m) for m in entry["metrics"] if m["name"].startswith("judge:") or m["name"] == "canary-vs-primary")


def test_identical_versions_pass_and_promote_with_the_numbers_recorded(canary):
    canary.release("6.0.1")
    # threshold 2: on a loaded lab the first interval's canary side has, now and then, no sample yet (its load starts
    # with the interval); such an interval is NoData, named, and must not be the only one judged
    with primary_traffic(canary) as traffic:
        rc, out = canary.run(rollout_analysis=dict(ANALYSIS, threshold=2), rollout_load=load(canary), timeout=480)
    assert rc == 0, out
    assert traffic.statuses[200] > 100, traffic.statuses
    status = canary.status()
    assert status["phase"] == "Succeeded", out
    assert canary.image("podinfo-primary").endswith(":6.0.1")
    intervals = [entry for entry in status["history"] if any(m["name"] == "canary-vs-primary" for m in entry["metrics"])]
    passed = [entry for entry in intervals if judged(entry)["canary-vs-primary"]["status"] == "pass"]
    assert len(intervals) >= 2 and len(passed) >= 2, json.dumps(status["history"], indent=1)
    for entry in intervals:
        verdict = judged(entry)["canary-vs-primary"]
        assert verdict["status"] in ("pass", "no_data"), entry   # never Fail or Marginal on identical versions
        if verdict["status"] == "no_data":
            assert "no usable samples" in verdict["message"], entry
    for entry in passed:
        metrics = judged(entry)
        verdict = metrics["canary-vs-primary"]
        assert verdict["judgment"] == "Pass", entry
        assert verdict["value"] == 100.0   # the score
        for name in ("judge:request-success-rate", "judge:request-duration"):
            assert metrics[name]["judgment"] == "Pass", entry
            assert "p = " in metrics[name]["message"] and "mean ratio" in metrics[name]["message"], entry
    # the last analysis keeps every number of the last interval
    last = dict((m["name"], m) for m in status["last_analysis"])
    assert last["canary-vs-primary"]["score"] == 100.0
    duration = last["judge:request-duration"]
    assert duration["canary_samples"] >= 5 and duration["primary_samples"] >= 5, duration
    assert 0.0 < duration["p_value"] <= 1.0 and duration["mean_ratio"] > 0, duration
    assert duration["canary_median"] > 0 and duration["primary_median"] > 0, duration


def test_a_canary_with_errors_fails_the_judge_and_is_rolled_back(canary):
    command = canary.get("apps/v1", "Deployment", "podinfo")["spec"]["template"]["spec"]["containers"][0]["command"]
    # without probes: podinfo's --random-error also fails its own /healthz and /readyz, and a restarted canary is rolled
    # back by the health watch before the judge has an interval to judge (CI's run of stop 21: CrashLoopBackOff)
    canary.release("6.0.2", command=[arg if arg != "--random-error=false" else "--random-error=true" for arg in command],
                   livenessProbe=None, readinessProbe=None)
    with primary_traffic(canary):
        rc, out = canary.run(rollout_analysis=ANALYSIS, rollout_load=load(canary), timeout=480)
    assert rc != 0, out
    status = canary.status()
    assert status["phase"] == "Failed", out
    assert canary.weights() == {"podinfo-primary": 100, "podinfo-canary": 0}
    assert canary.image("podinfo-primary").endswith(":6.0.0")
    reason = status["reason"]
    assert reason.startswith("failed checks threshold reached 1"), reason
    assert "canary versus primary: Fail" in reason and "critical metric(s) request-success-rate failed" in reason, reason
    assert "request-success-rate vs primary: Low" in reason and "p = " in reason, reason
    last = dict((m["name"], m) for m in status["last_analysis"])
    success = last["judge:request-success-rate"]
    assert success["classification"] == "Low" and success["p_value"] < 0.02, success
    # podinfo's --random-error: about 1 request in 9 is a 5xx; the primary answers all
    assert success["canary_median"] < 99.0 and success["primary_median"] == 100.0, success


def test_a_primary_without_a_series_is_no_data_named_not_a_crash(canary):
    canary.release("6.0.1")
    # only the canary gets traffic: the primary workload of this namespace has no istio_requests_total series at all
    analysis = dict(ANALYSIS, judge=dict(JUDGE, metrics=[{"name": "request-success-rate"}]))
    rc, out = canary.run(rollout_analysis=analysis, rollout_load=load(canary), timeout=480)
    assert rc != 0, out
    status = canary.status()
    assert status["phase"] == "Failed" and canary.image("podinfo-primary").endswith(":6.0.0"), out
    reason = status["reason"]
    assert "request-success-rate vs primary: NoData" in reason and "the primary has no series" in reason, reason
    last = dict((m["name"], m) for m in status["last_analysis"])
    assert last["canary-vs-primary"]["status"] == "no_data"
    assert last["judge:request-success-rate"]["primary_series"] is False
    assert last["judge:request-success-rate"]["canary_samples"] >= 1


BAD_JUDGES = {
    "confidence": (dict(JUDGE, confidence=1.5), "rollout_analysis.judge.confidence 1.5 is outside (0, 1)"),
    "pass-below-marginal": (dict(JUDGE, thresholds={"pass": 50, "marginal": 75}),
                            "rollout_analysis.judge.thresholds.pass (50) is below rollout_analysis.judge.thresholds.marginal (75)"),
}


def test_bad_judge_settings_write_nothing(canary):
    canary.release("6.0.1")
    before = snapshot(canary)
    for name, (judge, message) in BAD_JUDGES.items():
        rc, out = canary.run(rollout_analysis=dict(ANALYSIS, judge=judge))
        assert rc != 0 and message in out, (name, out)
        assert "nothing was changed in the cluster" in out, (name, out)
        assert snapshot(canary) == before, name
