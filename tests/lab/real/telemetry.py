"""Prometheus for the lab: Istio's standard metrics derived from the Envoys' own statistics, and the
pods' own /metrics.

Upstream Envoy has no ``istio.stats`` filter, so ``istio_requests_total`` and
``istio_request_duration_milliseconds_*`` with ``reporter="destination"`` are made at scrape time
(``metric_relabel_configs``) from the Envoys' per-cluster counters ``envoy_cluster_upstream_rq`` and
histogram ``envoy_cluster_upstream_rq_time``. Each istiod cluster (``outbound|PORT|SUBSET|HOST;``)
is mapped to the workload that owns its endpoints' pods (read every second from Services,
EndpointSlices and the pods' owners), the Service behind it and their namespaces; the config is
reloaded when the mapping grows. Mappings are sticky: a cluster keeps its workload after its pods
go away, so a canary scaled to zero keeps its history. Every output series maps one-to-one onto an
Envoy series (``envoy_cluster_name`` is kept as an extra label), so ``rate()`` sees ordinary
counters. Pods with ``prometheus.io/scrape: "true"`` are scraped at ``podIP:prometheus.io/port``.
"""

import json
import logging
import os
import re
import threading
from typing import Dict, List, Optional, Tuple

from ..common import atomic_write

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


def prometheus_config(envoy_admins: List[str], workloads: Dict[str, dict], pods_sd_path: str, interval: str = "1s") -> str:
    """The whole prometheus.yml (JSON, which Prometheus reads as YAML): the Envoys' admin endpoints
    (``host:port``) as they are (job ``envoy``) and reshaped (job ``envoy-istio``), and the pods."""
    config = {
        "global": {"scrape_interval": interval, "scrape_timeout": interval, "evaluation_interval": interval},
        "scrape_configs": [
            {"job_name": "envoy", "metrics_path": "/stats/prometheus",
             "static_configs": [{"targets": list(envoy_admins), "labels": {"envoy_node": "lab-envoy"}}]},
            {"job_name": "envoy-istio", "metrics_path": "/stats/prometheus",
             "static_configs": [{"targets": list(envoy_admins)}],
             "metric_relabel_configs": istio_relabel_configs(workloads)},
            {"job_name": "kubernetes-pods", "file_sd_configs": [{"files": [pods_sd_path], "refresh_interval": "1s"}]},
        ],
    }
    return json.dumps(config, indent=1, sort_keys=True) + "\n"


def workload_of(pod: dict) -> Tuple[str, str]:
    """(workload name, namespace) as Istio derives it: the Deployment from the ReplicaSet owner minus its pod-template-hash."""
    meta = pod.get("metadata") or {}
    name = meta.get("name") or ""
    for ref in meta.get("ownerReferences") or []:
        if ref.get("controller") or len(meta.get("ownerReferences")) == 1:
            name = ref.get("name") or name
            if ref.get("kind") == "ReplicaSet":
                template_hash = (meta.get("labels") or {}).get("pod-template-hash")
                if template_hash and name.endswith("-" + template_hash):
                    name = name[: -len(template_hash) - 1]
            break
    return name, meta.get("namespace") or "default"


def _most_common_workload(pods: List[dict]):
    counts: Dict[tuple, int] = {}
    for pod in pods:
        key = workload_of(pod)
        counts[key] = counts.get(key, 0) + 1
    return max(counts.items(), key=lambda item: (item[1], item[0]))[0] if counts else None


def _dr_host(rule: dict) -> Optional[Tuple[str, str]]:
    """(namespace, service name) a DestinationRule's host names, for hosts of this cluster's Services."""
    host = (rule.get("spec") or {}).get("host") or ""
    parts = host.split(".")
    if len(parts) == 1:
        return rule["metadata"]["namespace"], parts[0]
    if len(parts) in (2, 3, 5) and (len(parts) == 2 or parts[2] == "svc") and (len(parts) != 5 or parts[3:] == ["cluster", "local"]):
        return parts[1], parts[0]
    return None


def cluster_workloads(services: List[dict], slices: List[dict], pods: List[dict],
                      destination_rules: Optional[List[dict]] = None) -> Dict[str, dict]:
    """istiod's outbound clusters as tagged by our bootstrap (``outbound|PORT||HOST;``, and
    ``outbound|PORT|SUBSET|HOST;`` for DestinationRule subsets: the Service's pods carrying the
    subset's labels) -> Telemetry's workload entries."""
    by_uid = {p["metadata"]["uid"]: p for p in pods}
    by_name = {(p["metadata"]["namespace"], p["metadata"]["name"]): p for p in pods}
    backends: Dict[tuple, List[dict]] = {}
    for item in slices:
        service = (item["metadata"].get("labels") or {}).get("kubernetes.io/service-name")
        if not service:
            continue
        for endpoint in item.get("endpoints") or []:
            ref = endpoint.get("targetRef") or {}
            pod = by_uid.get(ref.get("uid")) or by_name.get((ref.get("namespace"), ref.get("name")))
            if pod is not None:
                backends.setdefault((item["metadata"]["namespace"], service), []).append(pod)
    subsets: Dict[tuple, List[dict]] = {}
    for rule in destination_rules or []:
        target = _dr_host(rule)
        if target is not None:
            subsets.setdefault(target, []).extend(s for s in (rule.get("spec") or {}).get("subsets") or [] if s.get("name"))
    out = {}
    for svc in services:
        namespace, name = svc["metadata"]["namespace"], svc["metadata"]["name"]
        host = "%s.%s.svc.cluster.local" % (name, namespace)
        ports = [port["port"] for port in (svc.get("spec") or {}).get("ports") or []]
        pods_behind = backends.get((namespace, name), [])
        clusters = [("", pods_behind)]
        for subset in subsets.get((namespace, name), []):
            labels = subset.get("labels") or {}
            clusters.append((subset["name"], [p for p in pods_behind
                                              if all((p["metadata"].get("labels") or {}).get(k) == v for k, v in labels.items())]))
        for subset_name, members in clusters:
            found = _most_common_workload(members)
            if found is None:
                continue
            for port in ports:
                out["outbound|%d|%s|%s;" % (port, subset_name, host)] = {
                    "service": name, "service_namespace": namespace, "host": host,
                    "workload": found[0], "workload_namespace": found[1]}
    return out


def pod_targets(pods: List[dict]) -> List[dict]:
    targets = []
    for pod in sorted(pods, key=lambda p: (p["metadata"]["namespace"], p["metadata"]["name"])):
        annotations = pod["metadata"].get("annotations") or {}
        if (pod.get("status") or {}).get("phase") != "Running" or pod["metadata"].get("deletionTimestamp") \
                or not pod["status"].get("podIP") or annotations.get("prometheus.io/scrape") != "true":
            continue
        port = annotations.get("prometheus.io/port")
        if not port:
            continue
        workload, namespace = workload_of(pod)
        labels = {"namespace": namespace, "pod": pod["metadata"]["name"], "workload": workload}
        app = (pod["metadata"].get("labels") or {}).get("app")
        if app:
            labels["app"] = app
        targets.append({"targets": ["%s:%s" % (pod["status"]["podIP"], port)], "labels": labels})
    return targets


class Telemetry:
    """Keeps a running ``tests.lab.prometheus.Prometheus`` in step with the cluster: every second it
    reads Services, EndpointSlices and Pods (``kube``: ``tests.lab.real.kube.Kube``), remembers new
    cluster -> workload mappings (reloading Prometheus when there are any) and rewrites the pod targets."""

    def __init__(self, directory: str, envoy_admins: List[str], kube=None):
        self.directory = os.path.abspath(directory)
        self.envoy_admins = list(envoy_admins)
        self.kube = kube
        self.pods_sd_path = os.path.join(self.directory, "pods.json")
        self.workloads: Dict[str, dict] = {}
        self.prometheus = None
        self.last_error: Optional[str] = None  # the last reload failed
        self.poll_error: Optional[str] = None  # the last read of the cluster failed
        self.reloads = 0
        self._lock = threading.Lock()
        self._reload_needed = threading.Event()
        self._stopped = threading.Event()
        self._threads: List[threading.Thread] = []
        os.makedirs(self.directory, exist_ok=True)
        if not os.path.exists(self.pods_sd_path):
            atomic_write(self.pods_sd_path, "[]\n")

    def config(self) -> str:
        with self._lock:
            workloads = dict(self.workloads)
        return prometheus_config(self.envoy_admins, workloads, self.pods_sd_path)

    def update(self, services: List[dict], slices: List[dict], pods: List[dict], destination_rules: Optional[List[dict]] = None) -> bool:
        """Take one reading of the cluster; True when a mapping is new (Prometheus will be reloaded)."""
        changed = False
        with self._lock:
            for name, entry in cluster_workloads(services, slices, pods, destination_rules).items():
                if self.workloads.get(name) != entry:
                    self.workloads[name] = entry  # sticky: never removed
                    changed = True
        text = json.dumps(pod_targets(pods), indent=1, sort_keys=True) + "\n"
        try:
            with open(self.pods_sd_path, encoding="utf-8") as handle:
                same = handle.read() == text
        except OSError:
            same = False
        if not same:
            atomic_write(self.pods_sd_path, text)  # Prometheus watches file_sd files itself
        if changed:
            self._reload_needed.set()
        return changed

    def poll_once(self) -> None:
        self.update(self.kube.get("/api/v1/services")["items"],
                    self.kube.get("/apis/discovery.k8s.io/v1/endpointslices")["items"],
                    self.kube.get("/api/v1/pods")["items"],
                    self.kube.get("/apis/networking.istio.io/v1/destinationrules")["items"])

    def start(self, prometheus) -> "Telemetry":
        """``prometheus``: a started ``tests.lab.prometheus.Prometheus`` built with ``self.config()``."""
        self.prometheus = prometheus
        for target, name in ((self._reload_loop, "lab-telemetry-reload"), (self._poll_loop, "lab-telemetry-poll")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def _reload_loop(self) -> None:
        while not self._stopped.is_set():
            if not self._reload_needed.wait(timeout=0.5):
                continue
            self._reload_needed.clear()
            try:
                self.prometheus.reload(config_text=self.config())
                self.reloads += 1
                self.last_error = None
            except Exception as exc:  # noqa: BLE001 - reported in status; the previous config keeps running
                self.last_error = "%s: %s" % (type(exc).__name__, exc)
                log.exception("Prometheus reload failed")

    def _poll_loop(self) -> None:
        while not self._stopped.wait(1.0):
            try:
                self.poll_once()
                self.poll_error = None
            except Exception as exc:  # noqa: BLE001
                self.poll_error = "%s: %s" % (type(exc).__name__, exc)
                log.warning("telemetry poll failed: %s", exc)

    def stop(self) -> None:
        self._stopped.set()
        for thread in self._threads:
            thread.join(timeout=5)
