"""The builtin queries on the session's real lab (``shared_lab``): podinfo pods answering through the mesh Envoy that
istiod programs, the lab's Prometheus scraping both Envoys (Istio-shaped ``istio_requests_total`` /
``istio_request_duration_milliseconds_*`` from istiod's clusters ``outbound|9898||podinfo-canary.<ns>.svc.cluster.local``).

A healthy podinfo behind ``podinfo-canary`` passes Flagger's thresholds (success rate 100 %, a P99 far below
500 ms); the same Deployment with ``--random-error`` (one request in three fails, about one in nine with a 5xx) fails
the success rate. Only the Istio provider: the lab's Envoy bootstrap has no ``envoy_response_code_class`` tag, so it
exports ``envoy_cluster_upstream_rqxx`` where the envoy provider reads ``envoy_cluster_upstream_rq_xx`` (that
provider's queries run on a plain Prometheus in test_analysis_real_prometheus.py).
"""

import pytest

from ansible_collections.progressive.delivery.plugins.modules import canary_metric_check

from tests.analysis.conftest import run_module
from tests.mesh import SteadyTraffic, podinfo_deployment, wait_for

pytestmark = pytest.mark.lab

INTERVAL = "10s"
METRICS = [{"name": "request-success-rate", "threshold_range": {"min": 99}},
           {"name": "request-duration", "threshold_range": {"max": 500}}]


def canary_service(namespace):
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "podinfo-canary", "namespace": namespace},
            "spec": {"selector": {"app": "podinfo"}, "ports": [{"name": "http", "port": 9898, "targetPort": "http"}]}}


def under_traffic(lab, namespace, **container_changes):
    """podinfo behind podinfo-canary, with steady clients through the mesh until Prometheus has a full interval of it."""
    lab.apply(podinfo_deployment(namespace, "6.0.0", replicas=1, **container_changes))
    lab.apply(canary_service(namespace))
    wait_for(lambda: lab.rolled_out("podinfo", 1, namespace), 60, "podinfo", describe=lambda: lab.describe(namespace=namespace))
    traffic = SteadyTraffic(lab, "podinfo-canary.%s:9898" % namespace, clients=2, pause=0.02).start()
    # A counter's first sample never counts in rate(): wait for 10 s of samples of the workload's series.
    workload = 'istio_requests_total{reporter="destination",destination_workload_namespace="%s",destination_workload="podinfo"}' % namespace
    wait_for(lambda: lab.query("count_over_time(%s[%s]) >= 8" % (workload, INTERVAL)), 60, "10 s of the canary's metrics",
             interval=0.5, describe=traffic.summary)
    return traffic


def check(capsys, lab, namespace, **kwargs):
    args = dict(prometheus={"url": lab.info["prometheus"]}, target="podinfo", namespace=namespace, interval=INTERVAL, metrics=METRICS)
    args.update(kwargs)
    return run_module(canary_metric_check, args, capsys)


def test_a_healthy_canary_passes_the_istio_metrics(capsys, shared_lab, namespace):
    traffic = under_traffic(shared_lab, namespace)
    try:
        result = check(capsys, shared_lab, namespace)
    finally:
        traffic.stop()
    print(traffic.summary())
    assert traffic.failures == [], traffic.summary()
    rate, duration = result["metrics"]
    assert result["passed"] is True and result["failed_metrics"] == [], result
    assert rate["value"] == pytest.approx(100.0), result
    assert 0 < duration["value"] < 500, result


def test_random_errors_fail_the_istio_success_rate(capsys, shared_lab, namespace):
    command = podinfo_deployment(namespace)["spec"]["template"]["spec"]["containers"][0]["command"]
    traffic = under_traffic(shared_lab, namespace, command=[arg.replace("--random-error=false", "--random-error=true") for arg in command])
    try:
        result = check(capsys, shared_lab, namespace)
    finally:
        traffic.stop()
    print(traffic.summary())
    assert traffic.failures, "no 5xx with --random-error: %s" % traffic.summary()
    rate = result["metrics"][0]
    assert result["passed"] is False and result["failed_metrics"] == ["request-success-rate"], result
    # podinfo's --random-error seeds its generator with the current second at every request, so failures come in whole
    # seconds (a second's requests all fail, with one status, or none do): over a short window the rate varies widely
    # (66.4 % measured once), so only "some failed, not all" is asserted
    assert 0 < rate["value"] < 99, result
