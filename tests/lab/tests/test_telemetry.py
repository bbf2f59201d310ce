"""Telemetry: Envoy's cluster stats reshaped into Istio's metrics, pod targets, config reloads."""

import json
import shutil
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.lab.prometheus import Prometheus
from tests.lab.telemetry import Telemetry, istio_relabel_configs, pod_targets, prometheus_config

CANARY = "outbound|9898||podinfo-canary.test.svc.cluster.local"
PRIMARY = "outbound|9898||podinfo-primary.test.svc.cluster.local"
WORKLOADS = {
    CANARY: {"service": "podinfo-canary", "service_namespace": "test", "host": "podinfo-canary.test.svc.cluster.local",
             "workload": "podinfo", "workload_namespace": "test"},
    PRIMARY: {"service": "podinfo-primary", "service_namespace": "test", "host": "podinfo-primary.test.svc.cluster.local",
              "workload": "podinfo-primary", "workload_namespace": "test"},
    "outbound|9898||idle.test.svc.cluster.local": {"service": "idle", "service_namespace": "test", "host": "idle.test.svc.cluster.local"},
}


def pod(name, phase="Running", annotations=None, ports=({"name": "http", "containerPort": 9898}, {"name": "http-metrics", "containerPort": 9797})):
    return {"metadata": {"name": name, "namespace": "test", "labels": {"app": "podinfo", "pod-template-hash": "abc12"},
                         "ownerReferences": [{"kind": "ReplicaSet", "name": "podinfo-abc12", "controller": True}],
                         "annotations": dict({"lab.progressive.delivery/host-ports": '{"9898": 40001, "9797": 40002}'}, **(annotations or {}))},
            "spec": {"containers": [{"name": "podinfod", "ports": list(ports)}]}, "status": {"phase": phase}}


def test_unmapped_clusters_are_dropped_and_mapped_ones_labelled():
    assert istio_relabel_configs({}) == [{"source_labels": ["__name__"], "regex": ".*", "action": "drop"}]
    rules = istio_relabel_configs(WORKLOADS)
    keep = rules[0]
    assert keep["action"] == "keep" and "idle" not in keep["regex"]
    assert r"outbound\|9898\|\|podinfo-canary\.test\.svc\.cluster\.local" in keep["regex"]
    targets = {(r.get("regex"), r.get("target_label")): r.get("replacement") for r in rules}
    assert targets[(r"outbound\|9898\|\|podinfo-canary\.test\.svc\.cluster\.local", "destination_workload")] == "podinfo"
    assert targets[(r"outbound\|9898\|\|podinfo-primary\.test\.svc\.cluster\.local", "destination_workload")] == "podinfo-primary"
    assert targets[(None, "reporter")] == "destination"


def test_pod_targets_use_the_mapped_metrics_port():
    targets = pod_targets([pod("podinfo-abc12-x", annotations={"prometheus.io/port": "9797"}), pod("podinfo-abc12-y"),
                           pod("podinfo-abc12-z", phase="Pending"), pod("podinfo-abc12-w", annotations={"prometheus.io/scrape": "false"})])
    assert targets == [
        {"targets": ["127.0.0.1:40002"], "labels": {"namespace": "test", "pod": "podinfo-abc12-x", "workload": "podinfo", "app": "podinfo"}},
        {"targets": ["127.0.0.1:40002"], "labels": {"namespace": "test", "pod": "podinfo-abc12-y", "workload": "podinfo", "app": "podinfo"}},
    ]


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (Debian prometheus package) is not installed")
def test_generated_config_passes_promtool(tmp_path):
    sd = tmp_path / "pods.json"
    sd.write_text("[]")
    config = tmp_path / "prometheus.yml"
    config.write_text(prometheus_config("127.0.0.1:19000", WORKLOADS, str(sd)))
    check = subprocess.run(["promtool", "check", "config", str(config)], capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stdout + check.stderr


def test_mappings_are_sticky_and_trigger_one_reload(tmp_path):
    telemetry = Telemetry(str(tmp_path), "127.0.0.1:19000")
    telemetry.update({"workloads": WORKLOADS}, {"pods": [pod("podinfo-abc12-x")]})
    assert telemetry._reload_needed.is_set()
    telemetry._reload_needed.clear()
    # The canary scaled to zero: its cluster has no workload any more, the mapping stays.
    gone = dict(WORKLOADS, **{CANARY: {"service": "podinfo-canary", "service_namespace": "test", "host": "x"}})
    telemetry.update({"workloads": gone}, {"pods": []})
    assert not telemetry._reload_needed.is_set()
    assert telemetry.workloads[CANARY]["workload"] == "podinfo"
    assert json.loads((tmp_path / "pods.json").read_text()) == []


class FakeEnvoy(BaseHTTPRequestHandler):
    """Serves Envoy-shaped cluster stats whose counters grow with time (10 rps canary with 20% 500s, 10 rps primary)."""

    started = time.time()

    def do_GET(self):
        seconds = time.time() - self.started
        ok, errors, fast = int(8 * seconds), int(2 * seconds), int(10 * seconds)
        lines = []
        for cluster, codes in ((CANARY, {"200": ok, "500": errors}), (PRIMARY, {"200": fast})):
            total = sum(codes.values())
            for code, value in codes.items():
                lines.append('envoy_cluster_upstream_rq{envoy_response_code="%s",envoy_cluster_name="%s"} %d' % (code, cluster, value))
            lines.append('envoy_cluster_upstream_rq_xx{envoy_response_code_class="2",envoy_cluster_name="%s"} %d' % (cluster, codes["200"]))
            # canary: 90% within 25 ms, all within 50 ms; primary: all within 5 ms
            slow = cluster == CANARY
            for le, value in (("5", 0 if slow else total), ("25", int(total * 0.9) if slow else total), ("50", total), ("+Inf", total)):
                lines.append('envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name="%s",le="%s"} %d' % (cluster, le, value))
            lines.append('envoy_cluster_upstream_rq_time_sum{envoy_cluster_name="%s"} %d' % (cluster, total * 10))
            lines.append('envoy_cluster_upstream_rq_time_count{envoy_cluster_name="%s"} %d' % (cluster, total))
        body = ("\n".join(lines) + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.mark.prometheus
def test_flagger_builtin_queries_read_the_reshaped_series(tmp_path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeEnvoy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        telemetry = Telemetry(str(tmp_path), "127.0.0.1:%d" % server.server_address[1])
        telemetry.update({"workloads": WORKLOADS}, {"pods": []})
        with Prometheus(str(tmp_path), telemetry.config()) as prom:
            prom.wait_for_sample('istio_requests_total{destination_workload="podinfo"}', timeout=20)
            series = prom.query('istio_requests_total{destination_workload="podinfo",response_code="500"}')
            assert len(series) == 1
            labels = series[0]["metric"]
            assert labels["reporter"] == "destination" and labels["destination_workload_namespace"] == "test"
            assert labels["destination_service_name"] == "podinfo-canary" and labels["destination_service_namespace"] == "test"
            assert "envoy_response_code" not in labels and not prom.query('envoy_cluster_upstream_rq_xx{job="envoy-istio"}')
            success = ('sum(rate(istio_requests_total{reporter="destination",destination_workload_namespace="test",'
                       'destination_workload=~"podinfo",response_code!~"5.*"}[10s])) / sum(rate(istio_requests_total{'
                       'reporter="destination",destination_workload_namespace="test",destination_workload=~"podinfo"}[10s])) * 100')
            result = prom.wait_for(lambda r: r and 75 <= float(r[0]["value"][1]) <= 85, success, timeout=10)
            assert 75 <= float(result[0]["value"][1]) <= 85
            primary = prom.query(success.replace('=~"podinfo"', '=~"podinfo-primary"'))
            assert float(primary[0]["value"][1]) == 100.0
            p99 = prom.query('histogram_quantile(0.99, sum(rate(istio_request_duration_milliseconds_bucket{reporter="destination",'
                             'destination_workload_namespace="test",destination_workload=~"podinfo"}[10s])) by (le))')
            assert 40 <= float(p99[0]["value"][1]) <= 50  # 90% <= 25 ms, the rest in (25, 50]: p99 = 47.5
    finally:
        server.shutdown()
        server.server_close()
