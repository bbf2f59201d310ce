"""Prometheus for the lab: Envoy's stats reshaped into Istio's standard metrics, and the pods' own /metrics.

Istio's ``istio_requests_total`` and ``istio_request_duration_milliseconds_*`` with
``reporter="destination"`` are made at scrape time (``metric_relabel_configs``) from Envoy's
per-cluster counters ``envoy_cluster_upstream_rq`` and histogram ``envoy_cluster_upstream_rq_time``.
Each cluster (``outbound|PORT|SUBSET|HOST``) is mapped to the workload that owns its endpoints'
pods, the Service behind it and their namespaces; the mapping comes from the cluster state (the mesh
translator) and the config is reloaded when it grows. Mappings are sticky: a cluster keeps its
workload after its pods go away, so a canary scaled to zero keeps its history, as in Istio.

Every output series maps one-to-one onto an Envoy series (``envoy_cluster_name`` is kept as an
extra label), so ``rate()`` sees ordinary counters and subset or multi-port clusters of one
workload never collide.
"""

import json
import logging
import os
import re
import threading
from typing import Dict, List, Optional

from ..mesh.translate import HOST_PORTS_ANNOTATION, workload_of

log = logging.getLogger(__name__)

ISTIO_SERIES = {
    "envoy_cluster_upstream_rq": "istio_requests_total",
    "envoy_cluster_upstream_rq_time_bucket": "istio_request_duration_milliseconds_bucket",
    "envoy_cluster_upstream_rq_time_sum": "istio_request_duration_milliseconds_sum",
    "envoy_cluster_upstream_rq_time_count": "istio_request_duration_milliseconds_count",
}
CONSTANT_LABELS = {
    "reporter": "destination",
    "request_protocol": "http",
    "source_workload": "unknown",
    "source_workload_namespace": "unknown",
    "source_app": "unknown",
    "destination_cluster": "Kubernetes",
    "connection_security_policy": "none",
    "response_flags": "-",
}


def _literal(text: str) -> str:
    """An RE2 pattern matching exactly ``text`` (Prometheus anchors relabel regexes)."""
    return re.sub(r"([\\.^$|?*+()\[\]{}])", r"\\\1", text)


def istio_relabel_configs(workloads: Dict[str, dict]) -> List[dict]:
    """metric_relabel_configs turning the Envoy series of mapped clusters into Istio's series."""
    mapped = {name: entry for name, entry in sorted(workloads.items()) if entry.get("workload")}
    if not mapped:
        return [{"source_labels": ["__name__"], "regex": ".*", "action": "drop"}]
    rules: List[dict] = [{
        "source_labels": ["__name__", "envoy_cluster_name"],
        "separator": ";",
        "regex": "(%s);(%s)" % ("|".join(sorted(ISTIO_SERIES)), "|".join(_literal(n) for n in mapped)),
        "action": "keep",
    }]
    for name, entry in mapped.items():
        values = {
            "destination_workload": entry["workload"],
            "destination_workload_namespace": entry["workload_namespace"],
            "destination_canonical_service": entry["workload"],
            "destination_service": entry["host"],
            "destination_service_name": entry["service"],
            "destination_service_namespace": entry["service_namespace"] or entry["workload_namespace"],
        }
        for label, value in values.items():
            rules.append({"source_labels": ["envoy_cluster_name"], "regex": _literal(name), "target_label": label, "replacement": value})
    rules.append({"source_labels": ["envoy_response_code"], "regex": "(.+)", "target_label": "response_code", "replacement": "$1"})
    for source, target in sorted(ISTIO_SERIES.items()):
        rules.append({"source_labels": ["__name__"], "regex": source, "target_label": "__name__", "replacement": target})
    for label, value in CONSTANT_LABELS.items():
        rules.append({"target_label": label, "replacement": value})
    rules.append({"regex": "envoy_response_code", "action": "labeldrop"})
    return rules


def prometheus_config(envoy_admin: str, workloads: Dict[str, dict], pods_sd_path: str, interval: str = "1s") -> str:
    """The whole prometheus.yml (JSON, which Prometheus reads as YAML)."""
    config = {
        "global": {"scrape_interval": interval, "scrape_timeout": interval, "evaluation_interval": interval},
        "scrape_configs": [
            {"job_name": "envoy", "metrics_path": "/stats/prometheus",
             "static_configs": [{"targets": [envoy_admin], "labels": {"envoy_node": "lab-envoy"}}]},
            {"job_name": "envoy-istio", "metrics_path": "/stats/prometheus",
             "static_configs": [{"targets": [envoy_admin]}],
             "metric_relabel_configs": istio_relabel_configs(workloads)},
            {"job_name": "kubernetes-pods", "file_sd_configs": [{"files": [pods_sd_path], "refresh_interval": "1s"}]},
        ],
    }
    return json.dumps(config, indent=1, sort_keys=True) + "\n"


def _metrics_port(pod: dict) -> Optional[int]:
    meta = pod.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    if annotations.get("prometheus.io/scrape") == "false":
        return None
    host_ports = json.loads(annotations.get(HOST_PORTS_ANNOTATION) or "{}")
    if not host_ports:
        return None
    port = annotations.get("prometheus.io/port")
    if port is None:
        container_ports = [p for c in (pod.get("spec") or {}).get("containers") or [] for p in c.get("ports") or []]
        named = [p["containerPort"] for p in container_ports if "metrics" in (p.get("name") or "")]
        port = named[0] if named else (container_ports[0]["containerPort"] if container_ports else None)
    return host_ports.get(str(port)) if port is not None else None


def pod_targets(pods: List[dict]) -> List[dict]:
    """file_sd entries for the running pods' /metrics, labelled like Kubernetes service discovery would."""
    targets = []
    for pod in sorted(pods, key=lambda p: (p["metadata"].get("namespace", ""), p["metadata"]["name"])):
        if (pod.get("status") or {}).get("phase") != "Running" or pod["metadata"].get("deletionTimestamp"):
            continue
        port = _metrics_port(pod)
        if port is None:
            continue
        workload, namespace = workload_of(pod)
        labels = {"namespace": namespace, "pod": pod["metadata"]["name"], "workload": workload}
        app = (pod["metadata"].get("labels") or {}).get("app")
        if app:
            labels["app"] = app
        targets.append({"targets": ["127.0.0.1:%d" % port], "labels": labels})
    return targets


def _atomic_write(path: str, text: str) -> None:
    tmp = "%s.tmp-%d" % (path, os.getpid())
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)


class Telemetry:
    """Keeps a running ``tests.lab.prometheus.Prometheus`` in step with the mesh (a MeshSync listener)."""

    def __init__(self, directory: str, envoy_admin: str):
        self.directory = os.path.abspath(directory)
        self.envoy_admin = envoy_admin
        self.pods_sd_path = os.path.join(self.directory, "pods.json")
        self.workloads: Dict[str, dict] = {}
        self.prometheus = None
        self.last_error: Optional[str] = None
        self._lock = threading.Lock()
        self._reload_needed = threading.Event()
        self._stopped = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self.reloads = 0
        os.makedirs(self.directory, exist_ok=True)
        if not os.path.exists(self.pods_sd_path):
            _atomic_write(self.pods_sd_path, "[]\n")

    def config(self) -> str:
        with self._lock:
            workloads = dict(self.workloads)
        return prometheus_config(self.envoy_admin, workloads, self.pods_sd_path)

    def update(self, result: dict, state: dict) -> None:
        """MeshSync listener: remember new cluster mappings, rewrite the pod targets."""
        changed = False
        with self._lock:
            for name, entry in result["workloads"].items():
                if entry.get("workload") and self.workloads.get(name) != entry:
                    self.workloads[name] = entry
                    changed = True
        text = json.dumps(pod_targets(state.get("pods") or []), indent=1, sort_keys=True) + "\n"
        try:
            with open(self.pods_sd_path, encoding="utf-8") as handle:
                same = handle.read() == text
        except OSError:
            same = False
        if not same:
            _atomic_write(self.pods_sd_path, text)  # Prometheus watches file_sd files itself
        if changed:
            self._reload_needed.set()

    def start(self, prometheus) -> "Telemetry":
        """``prometheus``: a started ``tests.lab.prometheus.Prometheus`` built with ``self.config()``."""
        self.prometheus = prometheus
        self._thread = threading.Thread(target=self._run, name="lab-telemetry", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stopped.is_set():
            if not self._reload_needed.wait(timeout=0.5):
                continue
            self._reload_needed.clear()
            try:
                self.prometheus.reload(config_text=self.config())
                self.reloads += 1
                self.last_error = None
            except Exception as exc:  # reported in status; the previous config keeps running
                self.last_error = "%s: %s" % (type(exc).__name__, exc)
                log.exception("Prometheus reload failed")

    def stop(self) -> None:
        self._stopped.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
