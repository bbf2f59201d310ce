"""Telemetry: the Envoys' cluster stats reshaped into Istio's metrics, the cluster -> workload map read
from Services, EndpointSlices and pods, pod targets, config reloads, Flagger's queries on a real Prometheus."""

import json
import shutil
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.lab.prometheus import Prometheus
from tests.lab.real.telemetry import Telemetry, cluster_workloads, istio_relabel_configs, pod_targets, prometheus_config

# istiod's cluster names as the lab's Envoy bootstrap tags them (alt_stat_name ends in ";").
CANARY = "outbound|9898||podinfo-canary.test.svc.cluster.local;"
PRIMARY = "outbound|9898||podinfo-primary.test.svc.cluster.local;"
WORKLOADS = {
    CANARY: {"service": "podinfo-canary", "service_namespace": "test", "host": "podinfo-canary.test.svc.cluster.local",
             "workload": "podinfo", "workload_namespace": "test"},
    PRIMARY: {"service": "podinfo-primary", "service_namespace": "test", "host": "podinfo-primary.test.svc.cluster.local",
              "workload": "podinfo-primary", "workload_namespace": "test"},
    "outbound|9898||idle.test.svc.cluster.local;": {"service": "idle", "service_namespace": "test", "host": "idle.test.svc.cluster.local"},
}


def pod(name, phase="Running", annotations=None, rs="podinfo-abc12", ip="10.213.1.5", uid=None):
    return {"metadata": {"name": name, "namespace": "test", "uid": uid or name, "labels": {"app": "podinfo", "pod-template-hash": rs.rsplit("-", 1)[1]},
                         "ownerReferences": [{"kind": "ReplicaSet", "name": rs, "controller": True}],
                         "annotations": dict(annotations or {})},
            "spec": {"containers": [{"name": "podinfod"}]}, "status": {"phase": phase, "podIP": ip}}


def svc(name):
    return {"metadata": {"name": name, "namespace": "test"}, "spec": {"ports": [{"name": "http", "port": 9898}]}}


def endpoint_slice(service, pods):
    return {"metadata": {"name": service + "-x", "namespace": "test", "labels": {"kubernetes.io/service-name": service}},
            "endpoints": [{"addresses": [p["status"]["podIP"]], "targetRef": {"kind": "Pod", "namespace": "test", "name": p["metadata"]["name"],
                                                                              "uid": p["metadata"]["uid"]}} for p in pods]}


def test_unmapped_clusters_are_dropped_and_mapped_ones_labelled():
    assert istio_relabel_configs({}) == [{"source_labels": ["__name__"], "regex": ".*", "action": "drop"}]
    rules = istio_relabel_configs(WORKLOADS)
    keep = rules[0]
    assert keep["action"] == "keep" and "idle" not in keep["regex"]
    assert r"outbound\|9898\|\|podinfo-canary\.test\.svc\.cluster\.local" in keep["regex"]
    targets = {(r.get("regex"), r.get("target_label")): r.get("replacement") for r in rules}
    assert targets[(r"outbound\|9898\|\|podinfo-canary\.test\.svc\.cluster\.local;", "destination_workload")] == "podinfo"
    assert targets[(r"outbound\|9898\|\|podinfo-primary\.test\.svc\.cluster\.local;", "destination_workload")] == "podinfo-primary"
    assert targets[(None, "reporter")] == "destination"


def test_clusters_map_to_the_deployment_owning_their_endpoints():
    canary = [pod("podinfo-abc12-x", rs="podinfo-abc12", ip="10.213.1.5")]
    primary = [pod("podinfo-primary-def34-y", rs="podinfo-primary-def34", ip="10.213.1.6"),
               pod("podinfo-primary-def34-z", rs="podinfo-primary-def34", ip="10.213.1.7")]
    mapping = cluster_workloads([svc("podinfo-canary"), svc("podinfo-primary"), svc("idle")],
                                [endpoint_slice("podinfo-canary", canary), endpoint_slice("podinfo-primary", primary)], canary + primary)
    assert mapping == {k: v for k, v in WORKLOADS.items() if v.get("workload")}


def test_destination_rule_subsets_map_to_the_pods_carrying_their_labels():
    stable = pod("podinfo-primary-def34-y", rs="podinfo-primary-def34", ip="10.213.1.6")
    stable["metadata"]["labels"]["app"] = "podinfo-primary"
    nxt = pod("podinfo-abc12-x", rs="podinfo-abc12", ip="10.213.1.5")
    rule = {"metadata": {"name": "family", "namespace": "test"},
            "spec": {"host": "family.test.svc.cluster.local", "subsets": [{"name": "stable", "labels": {"app": "podinfo-primary"}},
                                                                         {"name": "next", "labels": {"app": "podinfo"}},
                                                                         {"name": "none", "labels": {"app": "nothing"}}]}}
    mapping = cluster_workloads([svc("family")], [endpoint_slice("family", [stable, nxt])], [stable, nxt], [rule])
    assert {name: entry["workload"] for name, entry in mapping.items()} == {
        "outbound|9898||family.test.svc.cluster.local;": "podinfo-primary",  # a tie: the larger name wins, stably
        "outbound|9898|stable|family.test.svc.cluster.local;": "podinfo-primary",
        "outbound|9898|next|family.test.svc.cluster.local;": "podinfo"}
    short = dict(rule, spec=dict(rule["spec"], host="family"))
    assert cluster_workloads([svc("family")], [endpoint_slice("family", [stable, nxt])], [stable, nxt], [short]) == mapping


def test_pod_targets_are_annotated_running_pods_at_their_pod_ip():
    scrape = {"prometheus.io/scrape": "true", "prometheus.io/port": "9797"}
    targets = pod_targets([pod("podinfo-abc12-x", annotations=scrape), pod("podinfo-abc12-y"),
                           pod("podinfo-abc12-z", phase="Pending", annotations=scrape),
                           pod("podinfo-abc12-w", annotations={"prometheus.io/scrape": "false", "prometheus.io/port": "9797"})])
    assert targets == [
        {"targets": ["10.213.1.5:9797"], "labels": {"namespace": "test", "pod": "podinfo-abc12-x", "workload": "podinfo", "app": "podinfo"}},
    ]


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (Debian prometheus package) is not installed")
def test_generated_config_passes_promtool(tmp_path):
    sd = tmp_path / "pods.json"
    sd.write_text("[]")
    config = tmp_path / "prometheus.yml"
    config.write_text(prometheus_config(["127.0.0.1:19000", "127.0.0.1:19001"], WORKLOADS, str(sd)))
    check = subprocess.run(["promtool", "check", "config", str(config)], capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stdout + check.stderr


def test_mappings_are_sticky_and_trigger_one_reload(tmp_path):
    telemetry = Telemetry(str(tmp_path), ["127.0.0.1:19000"])
    canary = [pod("podinfo-abc12-x", annotations={"prometheus.io/scrape": "true", "prometheus.io/port": "9797"})]
    assert telemetry.update([svc("podinfo-canary")], [endpoint_slice("podinfo-canary", canary)], canary) is True
    assert telemetry._reload_needed.is_set()
    assert len(json.loads((tmp_path / "pods.json").read_text())) == 1
    telemetry._reload_needed.clear()
    assert telemetry.update([svc("podinfo-canary")], [endpoint_slice("podinfo-canary", canary)], canary) is False
    # The canary scaled to zero: its cluster has no endpoints any more, the mapping stays.
    assert telemetry.update([svc("podinfo-canary")], [], []) is False
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
        telemetry = Telemetry(str(tmp_path), ["127.0.0.1:%d" % server.server_address[1]])
        telemetry.workloads.update({k: v for k, v in WORKLOADS.items() if v.get("workload")})
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
