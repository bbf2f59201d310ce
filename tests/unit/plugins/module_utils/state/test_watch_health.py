"""The wait's health looks: at most once a second, ended by an unhealthy canary, logs or why not."""

from ansible_collections.progressive.delivery.plugins.module_utils.k8s import ClusterError
from ansible_collections.progressive.delivery.plugins.module_utils.state import watch
from tests.unit.clock import FakeClock

DEPLOYMENT = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "podinfo", "namespace": "test"},
              "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "podinfo"}},
                       "template": {"metadata": {"labels": {"app": "podinfo"}}, "spec": {"containers": [{"name": "podinfod"}]}}},
              "status": {"readyReplicas": 1}}


def pod(restarts=0, waiting=None):
    state = {"waiting": {"reason": waiting}} if waiting else {"running": {}}
    return {"metadata": {"name": "podinfo-1-a"}, "spec": {"containers": [{"name": "podinfod"}]},
            "status": {"conditions": [{"type": "Ready", "status": "True"}],
                       "containerStatuses": [{"name": "podinfod", "ready": not waiting, "restartCount": restarts, "state": state,
                                              "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}} if restarts else {}}]}}


class FakeCluster(object):
    def __init__(self, pods, log=None):
        self.pods, self.log, self.lists, self.log_reads = list(pods), log, [], []

    def get(self, api_version, kind, namespace, name):
        return DEPLOYMENT if (kind, name) == ("Deployment", "podinfo") else None

    def list(self, api_version, kind, namespace, label_selector=None):
        self.lists.append(label_selector)
        return [self.pods.pop(0) if len(self.pods) > 1 else self.pods[0]]

    def pod_log(self, namespace, name, container, tail_lines, limit_bytes, previous=False):
        self.log_reads.append((name, container, tail_lines, previous))
        if isinstance(self.log, Exception):
            raise self.log
        return self.log[previous] if isinstance(self.log, dict) else self.log


def run(cluster, seconds=3.0, poll=0.1):
    clock = FakeClock()
    health = watch.HealthWatch(cluster, "test", wall_clock=lambda: 1e9)
    result = watch.watch(cluster, "podinfo", "test", seconds, poll=poll, health=health, clock=clock, sleep=clock.sleep)
    return result, clock


def test_a_healthy_canary_is_looked_at_about_once_a_second():
    cluster = FakeCluster([pod()])
    result, clock = run(cluster)
    assert result["unhealthy"] is None and result["health"]["healthy"] is True
    assert clock.now >= 3.0
    assert cluster.lists == ["app=podinfo"] * len(cluster.lists) and 3 <= len(cluster.lists) <= 4, cluster.lists


def test_restarts_climbing_during_the_wait_end_it():
    cluster = FakeCluster([pod(restarts=2), pod(restarts=2), pod(restarts=3)], log="panic: boom\n")
    result, clock = run(cluster, seconds=30)
    assert result["interrupted"] is None and clock.now < 3.5
    assert result["unhealthy"]["reason"] == ("canary podinfo-1-a container podinfod running (restarted 3 times, last exit code 1: "
                                             "Error, 1 restart since the previous check); last log lines: panic: boom")
    assert cluster.log_reads == [("podinfo-1-a", "podinfod", 10, False)]


def test_a_container_restarted_a_moment_ago_is_explained_by_its_previous_instance():
    cluster = FakeCluster([pod(restarts=2), pod(restarts=3)], log={False: "", True: "Error: unknown flag: --no-such-flag\n"})
    result = run(cluster, seconds=30)[0]
    assert result["unhealthy"]["reason"].endswith("1 restart since the previous check); last log lines: "
                                                  "Error: unknown flag: --no-such-flag")
    assert [read[3] for read in cluster.log_reads] == [False, True]


def test_an_empty_log_of_both_instances_is_said():
    cluster = FakeCluster([pod(restarts=2), pod(restarts=3)], log="")
    result = run(cluster, seconds=30)[0]
    assert result["unhealthy"]["reason"].endswith("; logs unavailable (empty log)")


def test_an_unreadable_log_is_said_not_raised():
    cluster = FakeCluster([pod(restarts=1, waiting="CrashLoopBackOff")], log=ClusterError("HTTP 500: no such host"))
    result, clock = run(cluster, seconds=30)
    assert clock.now == 0.0
    assert result["unhealthy"]["reason"].endswith("CrashLoopBackOff (restarted 1 time, last exit code 1: Error); "
                                                  "logs unavailable (HTTP 500: no such host)")
    # waiting for its restart: the log worth reading is the previous instance's
    assert cluster.log_reads[0][3] is True


def test_canary_ready_waits_do_not_judge_health():
    cluster = FakeCluster([pod(waiting="CrashLoopBackOff")])
    clock = FakeClock()
    result = watch.watch(cluster, "podinfo", "test", 1.0, until=watch.CANARY_READY, poll=0.5,
                         health=watch.HealthWatch(cluster, "test"), clock=clock, sleep=clock.sleep)
    assert "unhealthy" not in result and cluster.lists == []
