"""Prometheus for the real lab: both Envoys' stats with the emulated lab's Istio-shaped relabelling
(``tests/lab/telemetry``), the cluster -> workload mapping read from the API server
(Services, EndpointSlices and the pods' owners), and the pods' own metrics at their pod IPs."""

import json
import logging
import threading
from typing import Dict, List

from ..mesh.translate import workload_of
from ..telemetry import Telemetry, _atomic_write

log = logging.getLogger(__name__)


def cluster_workloads(services: List[dict], slices: List[dict], pods: List[dict]) -> Dict[str, dict]:
    """istiod's outbound clusters as tagged by our bootstrap (``outbound|PORT||HOST;``) -> Telemetry's workload entries."""
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
    out = {}
    for svc in services:
        namespace, name = svc["metadata"]["namespace"], svc["metadata"]["name"]
        host = "%s.%s.svc.cluster.local" % (name, namespace)
        counts: Dict[tuple, int] = {}
        for pod in backends.get((namespace, name), []):
            key = workload_of(pod)
            counts[key] = counts.get(key, 0) + 1
        if not counts:
            continue
        (workload, workload_namespace), _ = max(counts.items(), key=lambda item: (item[1], item[0]))
        for port in (svc.get("spec") or {}).get("ports") or []:
            out["outbound|%d||%s;" % (port["port"], host)] = {
                "service": name, "service_namespace": namespace, "host": host,
                "workload": workload, "workload_namespace": workload_namespace}
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


class RealTelemetry(Telemetry):
    def __init__(self, directory: str, envoy_admins: List[str], kube):
        super().__init__(directory, envoy_admins[0])
        self.envoy_admins = list(envoy_admins)
        self.kube = kube
        self.poll_error = None
        self._poller = None

    def config(self) -> str:
        config = json.loads(super().config())
        for job in config["scrape_configs"]:
            if job["job_name"] in ("envoy", "envoy-istio"):
                job["static_configs"][0]["targets"] = list(self.envoy_admins)
        return json.dumps(config, indent=1, sort_keys=True) + "\n"

    def poll_once(self) -> None:
        services = self.kube.get("/api/v1/services")["items"]
        slices = self.kube.get("/apis/discovery.k8s.io/v1/endpointslices")["items"]
        pods = self.kube.get("/api/v1/pods")["items"]
        changed = False
        with self._lock:
            for name, entry in cluster_workloads(services, slices, pods).items():
                if self.workloads.get(name) != entry:
                    self.workloads[name] = entry  # sticky, as in the emulated lab
                    changed = True
        text = json.dumps(pod_targets(pods), indent=1, sort_keys=True) + "\n"
        try:
            with open(self.pods_sd_path, encoding="utf-8") as handle:
                same = handle.read() == text
        except OSError:
            same = False
        if not same:
            _atomic_write(self.pods_sd_path, text)
        if changed:
            self._reload_needed.set()

    def start(self, prometheus) -> "RealTelemetry":
        super().start(prometheus)
        self._poller = threading.Thread(target=self._poll, name="lab-real-telemetry", daemon=True)
        self._poller.start()
        return self

    def _poll(self) -> None:
        while not self._stopped.wait(1.0):
            try:
                self.poll_once()
                self.poll_error = None
            except Exception as exc:  # noqa: BLE001
                self.poll_error = "%s: %s" % (type(exc).__name__, exc)
                log.warning("telemetry poll failed: %s", exc)
