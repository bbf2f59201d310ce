"""Fast abort wired in: the poll against the scrape interval, the counter queries, the counts of an interval, the
probe's decisions look after look, the wait it ends and the judge's rollback."""

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils.analysis import fast_abort as fa
from ansible_collections.progressive.delivery.plugins.module_utils.analysis import judge
from ansible_collections.progressive.delivery.plugins.module_utils.analysis.prometheus import PrometheusAPIError, QueryResult
from ansible_collections.progressive.delivery.plugins.module_utils.state import watch
from tests.unit.clock import FakeClock

DEPLOYMENT = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "podinfo", "namespace": "test"},
              "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "podinfo"}},
                       "template": {"metadata": {"labels": {"app": "podinfo"}}, "spec": {"containers": [{"name": "podinfod"}]}}},
              "status": {"readyReplicas": 1}}


class FakeCluster(object):
    """The target and no status: nothing but the fast abort can end the wait early."""

    def get(self, api_version, kind, namespace, name):
        return DEPLOYMENT if (kind, name) == ("Deployment", "podinfo") else None


def test_the_poll_defaults_to_the_scrape_interval_and_may_not_be_shorter():
    assert fa.check_poll(None, 15.0) == {"poll": 15.0, "source": "scrape_interval"}
    assert fa.check_poll(None, None) == {"poll": 1.0, "source": "fallback"}
    assert fa.check_poll(30, 15.0) == {"poll": 30.0, "source": "setting"}
    with pytest.raises(fa.FastAbortError) as error:
        fa.check_poll(0.5, 1.0)
    assert error.value.field == "rollout_analysis.fast_abort.poll"
    assert "rollout_analysis.fast_abort.poll is 0.5s, shorter than Prometheus' scrape interval of 1s" in str(error.value)
    assert "set rollout_analysis.fast_abort.poll to at least 1" in str(error.value)
    with pytest.raises(fa.FastAbortError):
        fa.check_poll(0, None)


def test_the_counters_use_the_success_rate_label_set_escaped():
    queries = fa.count_queries("istio", {"namespace": "test", "target": "pod.info"})
    assert queries["requests"] == ('sum(istio_requests_total{reporter="destination",destination_workload_namespace="test",'
                                   'destination_workload=~"pod\\\\.info"})')
    assert queries["failed"] == queries["requests"][:-2] + ',response_code=~"5.*"})'
    envoy = fa.count_queries("envoy", {"cluster": "outbound|9898||podinfo-canary"})
    assert 'envoy_response_code_class="5"' in envoy["failed"] and "envoy_cluster_upstream_rq_xx" in envoy["requests"]
    with pytest.raises(fa.FastAbortError):
        fa.count_queries("skywalking", {})


def vector(*values):
    return QueryResult("vector", [{"metric": {}, "value": [0, str(v)]} for v in values])


def test_counts_of_the_interval():
    assert fa.sample_sum(vector()) == 0 and fa.sample_sum(vector(3, "4.5")) == 7.5
    assert fa.interval_counts({"requests": 100, "failed": 3}, {"requests": 160, "failed": 10}) == (60, 7)
    # a restarted canary's counters start again from 0
    assert fa.interval_counts({"requests": 100, "failed": 3}, {"requests": 20, "failed": 2}) == (20, 2)


class Prometheus(object):
    """Answers the counters: at the start of the interval, then the next of ``looks`` for every look."""

    def __init__(self, start, looks, error_at=None):
        self.start, self.looks, self.asked, self.error_at = start, list(looks), [], error_at

    def query(self, expr, time=None):
        key = "failed" if "5.*" in expr else "requests"
        self.asked.append((key, time))
        if time is not None:
            return vector(self.start[key])
        if key == "requests" and len(self.looks) == self.error_at:
            self.looks.pop(0)
            raise PrometheusAPIError("query failed", status=503)
        now = self.looks[0] if key == "requests" else self.looks.pop(0)
        return vector(now[key]) if now else vector()


def probe(prometheus, expected=None):
    return fa.Probe(prometheus.query, fa.count_queries("istio", {"namespace": "test", "target": "podinfo"}), fa.settings(99),
                    started=1000.0, every=1.0, expected_requests=expected, wall_clock=lambda: 1004.5, errors=(PrometheusAPIError,))


def test_the_probe_tests_the_counts_since_the_start_look_after_look():
    # a faulty canary: one request in three fails; the counters stood at 500/2 when the interval began
    prometheus = Prometheus({"requests": 500, "failed": 2},
                            [{"requests": 506, "failed": 4}, {"requests": 512, "failed": 6}, {"requests": 518, "failed": 8}])
    looking = probe(prometheus)
    decisions = [looking.look(), looking.look(), looking.look()]
    assert [(d["requests"], d["failed"], d["abort"]) for d in decisions] == [(6, 2, False), (12, 4, False), (18, 6, True)]
    assert decisions[2]["rule"] == "sequential" and decisions[2]["seconds"] == 4.5 and decisions[2]["looks"] == 3
    assert decisions[2]["llr"] == pytest.approx(fa.log_likelihood_ratio(fa.settings(99), 18, 6), abs=1e-3)
    # the counters at the start are read once, at the interval's start time
    assert [asked for asked in prometheus.asked if asked[1] is not None] == [("requests", 1000.0), ("failed", 1000.0)]


def test_the_unreachable_rule_needs_the_expected_requests():
    prometheus = Prometheus({"requests": 0, "failed": 0}, [{"requests": 4, "failed": 2}, {"requests": 4, "failed": 2}])
    assert probe(prometheus).look()["abort"] is False
    decision = probe(prometheus, expected=100).look()
    assert decision["abort"] is True and decision["rule"] == "unreachable"


def run_wait(prometheus, seconds=10.0):
    cluster = FakeCluster()
    clock = FakeClock()
    result = watch.watch(cluster, "podinfo", "test", seconds, poll=0.25, probe=probe(prometheus), clock=clock, sleep=clock.sleep)
    return result, clock


def test_a_certain_breach_ends_the_wait_at_the_look_that_shows_it():
    looks = [{"requests": 6 * n, "failed": 2 * n} for n in range(1, 10)]
    result, clock = run_wait(Prometheus({"requests": 0, "failed": 0}, looks))
    assert result["interrupted"] == "fast_abort" and result["fast_abort"]["abort"] is True
    assert result["fast_abort"]["looks"] == 3
    assert 2.0 <= clock.now < 3.0  # looks at 0, 1, 2 s: the third has 18 requests, 6 failed


def test_a_certain_breach_routes_to_the_primary_before_the_wait_returns():
    looks = [{"requests": 6 * n, "failed": 2 * n} for n in range(1, 10)]
    cluster, clock, routed = FakeCluster(), FakeClock(), []
    result = watch.watch(cluster, "podinfo", "test", 10.0, poll=0.25, probe=probe(Prometheus({"requests": 0, "failed": 0}, looks)),
                         on_abort=lambda: routed.append(clock.now) or {"podinfo-primary": 70, "podinfo-canary": 30},
                         clock=clock, sleep=clock.sleep)
    assert result["interrupted"] == "fast_abort"
    assert routed == [clock.now] and result["on_abort"] == {"podinfo-primary": 70, "podinfo-canary": 30}
    # a healthy canary's wait never calls it
    routed[:] = []
    healthy = [{"requests": 10 * n, "failed": 0} for n in range(1, 40)]
    result = watch.watch(cluster, "podinfo", "test", 3.0, poll=0.25, probe=probe(Prometheus({"requests": 0, "failed": 0}, healthy)),
                         on_abort=lambda: routed.append(clock.now), clock=clock, sleep=clock.sleep)
    assert result["interrupted"] is None and routed == [] and "on_abort" not in result


def test_a_healthy_canary_waits_the_whole_interval_and_a_failed_read_does_not_end_it():
    looks = [{"requests": 10 * n, "failed": 0} for n in range(1, 40)]
    result, clock = run_wait(Prometheus({"requests": 0, "failed": 0}, looks, error_at=37), seconds=5.0)
    assert result["interrupted"] is None and clock.now >= 5.0
    assert result["fast_abort"]["abort"] is False and result["fast_abort"]["looks"] == 5


def test_a_failed_read_is_reported_and_the_wait_goes_on():
    looks = [{"requests": 10, "failed": 0}, {"requests": 20, "failed": 0}]
    result, _clock = run_wait(Prometheus({"requests": 0, "failed": 0}, looks, error_at=1), seconds=1.5)
    assert result["interrupted"] is None and "query failed" in result["fast_abort"]["error"]


def test_the_judge_rolls_back_at_once_with_the_reason():
    steps = [{"weight": 10}, {"weight": 20}]
    state = {"step": 0, "weight": 10, "failed_checks": 0, "iterations": 1}
    reason = "6 of 18 requests failed (33.33 %): worse than 99 % success with 1 % false-alarm risk (sequential test)"
    answer = judge.decide(state, steps, 5, {"interrupted": "fast_abort", "fast_abort": {"abort": True, "reason": reason}}, "podinfo.test")
    assert answer["action"] == judge.ROLLBACK and answer["limit"] == "fast_abort"
    assert answer["reason"] == "fast abort: " + reason
    assert answer["message"] == "Rolling back podinfo.test fast abort: " + reason
    assert answer["state"]["failed_checks"] == 1
    # an operator's abort still wins
    answer = judge.decide(state, steps, 5, {"interrupted": "abort", "fast_abort": {"abort": True, "reason": reason}}, "podinfo.test")
    assert not answer["reason"].startswith("fast abort")
