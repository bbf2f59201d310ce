"""istiod (pilot-discovery) outside the cluster and two upstream Envoys it configures over ADS:
an ingress gateway (router) and a client-side sidecar-type proxy (captureMode NONE)."""

import json
import os
from typing import Dict, List, Optional

import requests
import yaml

from ..common import free_port
from .procs import ComponentError, Proc

NO_PROXY = {"http": None, "https": None}
ISTIO_VERSION = "1.31.0"
# Envoy's upstream_rq_time histogram buckets (ms): finer than Istio's, so a p99 is not pushed to the
# top of a wide bucket.
LATENCY_BUCKETS = [0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 25, 30, 40, 50, 75, 100, 150, 200, 250, 300, 400, 500,
                   750, 1000, 2500, 5000, 10000, 30000, 60000]

MESH_CONFIG = {
    "enableAutoMtls": False,  # auto-mTLS adds SDS transport sockets; no SDS server here
    "enableTracing": False,
    "enablePrometheusMerge": False,
    "accessLogFile": "",
    "defaultConfig": {"discoveryAddress": "", "proxyMetadata": {}},
    "defaultProviders": {"metrics": []},  # no Prometheus telemetry provider (istio.stats is not in upstream Envoy)
    "rootNamespace": "istio-system",
    "trustDomain": "cluster.local",
}


def bootstrap(node_id: str, cluster: str, metadata: dict, admin_port: int, xds_port: int) -> dict:
    return {
        "node": {"id": node_id, "cluster": cluster, "metadata": metadata},
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin_port}}},
        "dynamic_resources": {
            "ads_config": {"api_type": "GRPC", "transport_api_version": "V3", "set_node_on_first_message_only": True,
                           "grpc_services": [{"envoy_grpc": {"cluster_name": "xds-grpc"}}]},
            "cds_config": {"ads": {}, "resource_api_version": "V3"},
            "lds_config": {"ads": {}, "resource_api_version": "V3"},
        },
        "static_resources": {"clusters": [{
            "name": "xds-grpc", "type": "STATIC", "connect_timeout": "1s",
            "typed_extension_protocol_options": {"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                "explicit_http_config": {"http2_protocol_options": {}}}},
            "load_assignment": {"cluster_name": "xds-grpc", "endpoints": [{"lb_endpoints": [{"endpoint": {
                "address": {"socket_address": {"address": "127.0.0.1", "port_value": xds_port}}}}]}]},
        }]},
        "stats_flush_interval": "1s",
        # Envoy's default tags cut cluster names at the first dot and run first, so they are
        # replaced by the tags the Istio-shaped relabelling needs (Istio's bootstrap uses the same
        # cluster regex). istiod's clusters end in ";" (alt_stat_name), so the value is
        # envoy_cluster_name="outbound|9898||podinfo.test.svc.cluster.local;".
        "stats_config": {
            "histogram_bucket_settings": [{"match": {"suffix": "upstream_rq_time"}, "buckets": LATENCY_BUCKETS}],
            "use_all_default_tags": False,
            "stats_tags": [
                {"tag_name": "envoy.cluster_name", "regex": "^cluster\\.((.+?;|[^.]+)\\.)"},
                {"tag_name": "envoy.response_code", "regex": "_rq(_(\\d{3}))$"},
                {"tag_name": "envoy.response_code_class", "regex": "_rq(_(\\d))xx$"},
                {"tag_name": "envoy.http_conn_manager_prefix", "regex": "^http\\.((.*?)\\.)"},
            ]},
    }


class Istiod:
    def __init__(self, directory: str, logs: str, binary: str, kubeconfig: str):
        self.directory, self.logs, self.binary, self.kubeconfig = directory, logs, binary, kubeconfig
        self.ports = {name: free_port() for name in ("grpc", "http", "https", "monitoring", "ctrlz")}
        self.proc: Optional[Proc] = None

    @property
    def debug_url(self) -> str:
        return "http://127.0.0.1:%d" % self.ports["http"]

    def start(self, stop=None) -> None:
        os.makedirs(self.directory, exist_ok=True)
        mesh = os.path.join(self.directory, "mesh.yaml")
        with open(mesh, "w", encoding="utf-8") as handle:
            yaml.safe_dump(dict(MESH_CONFIG, defaultConfig={"discoveryAddress": "127.0.0.1:%d" % self.ports["grpc"], "proxyMetadata": {}}),
                           handle)
        env = dict(os.environ, POD_NAMESPACE="istio-system", POD_NAME="istiod-lab", REVISION="default",
                   INJECTION_WEBHOOK_CONFIG_NAME="", VALIDATION_WEBHOOK_CONFIG_NAME="",
                   ENABLE_CA_SERVER="false", PILOT_ENABLE_GATEWAY_API_DEPLOYMENT_CONTROLLER="false",
                   PILOT_ENABLE_METADATA_EXCHANGE="false", PILOT_ENABLE_ALPN_FILTER="false",
                   PILOT_ENABLE_GATEWAY_API_STATUS="false", PILOT_ENABLE_STATUS="false",
                   ISTIOD_CUSTOM_HOST="istiod-lab.istio-system.svc", KUBECONFIG=self.kubeconfig,
                   PILOT_DEBOUNCE_AFTER="10ms", PILOT_DEBOUNCE_MAX="100ms")
        args = [self.binary, "discovery", "--kubeconfig", self.kubeconfig, "--meshConfig", mesh,
                "--grpcAddr", "127.0.0.1:%d" % self.ports["grpc"], "--httpAddr", "127.0.0.1:%d" % self.ports["http"],
                "--httpsAddr", "127.0.0.1:%d" % self.ports["https"], "--monitoringAddr", "127.0.0.1:%d" % self.ports["monitoring"],
                "--secureGRPCAddr", "", "--ctrlz_address", "127.0.0.1", "--ctrlz_port", str(self.ports["ctrlz"]),
                "--shutdownDuration", "1s", "--domain", "cluster.local", "--clusterID", "Kubernetes", "--registries", "Kubernetes",
                "--log_output_level", "default:info"]
        self.proc = Proc("pilot-discovery", args, os.path.join(self.logs, "istiod.log"), env=env, cwd=self.directory).start()
        self.proc.wait_ready(lambda: requests.get("http://127.0.0.1:%d/ready" % self.ports["http"], timeout=1, proxies=NO_PROXY).status_code == 200,
                             60, stop)

    def stop(self) -> None:
        if self.proc:
            self.proc.stop()


class Proxy:
    """One upstream Envoy with an ADS bootstrap pointing at istiod."""

    def __init__(self, name: str, directory: str, logs: str, binary: str, node_id: str, cluster: str, metadata: dict, xds_port: int,
                 admin_port: int = 0):
        self.name, self.binary = name, binary
        self.admin_port = admin_port or free_port()
        self.config = os.path.join(directory, "%s-bootstrap.json" % name)
        os.makedirs(directory, exist_ok=True)
        with open(self.config, "w", encoding="utf-8") as handle:
            json.dump(bootstrap(node_id, cluster, metadata, self.admin_port, xds_port), handle, indent=2)
        self.node_id = node_id
        self.log_path = os.path.join(logs, "envoy-%s.log" % name)
        self.proc: Optional[Proc] = None

    @property
    def admin_url(self) -> str:
        return "http://127.0.0.1:%d" % self.admin_port

    def start(self) -> None:
        self.proc = Proc("envoy (%s)" % self.name, [self.binary, "-c", self.config, "--concurrency", "1", "--disable-hot-restart",
                                                    "--log-level", "warning", "--log-path", self.log_path, "--drain-time-s", "1"],
                         self.log_path + ".out").start()

    def stats(self, prefix: str = "") -> Dict[str, int]:
        text = requests.get(self.admin_url + "/stats", params={"filter": prefix} if prefix else None, timeout=2, proxies=NO_PROXY).text
        out = {}
        for line in text.splitlines():
            name, _, value = line.partition(": ")
            if value.strip().isdigit():
                out[name] = int(value)
        return out

    def rejected(self) -> Dict[str, int]:
        """Every ``*.update_rejected`` counter above zero (Envoy NACKed istiod's config)."""
        return {k: v for k, v in self.stats("update_rejected").items() if v}

    def wait_ready(self, listener_ports: List[int], timeout: float, stop=None) -> None:
        def check():
            if requests.get(self.admin_url + "/ready", timeout=1, proxies=NO_PROXY).status_code != 200:
                return False
            listeners = requests.get(self.admin_url + "/listeners", params={"format": "json"}, timeout=1, proxies=NO_PROXY).json()
            bound = set()
            for status in listeners.get("listener_statuses", []):
                address = (status.get("local_address") or {}).get("socket_address") or {}
                bound.add(address.get("port_value"))
            return all(port in bound for port in listener_ports)
        try:
            self.proc.wait_ready(check, timeout, stop)
        except ComponentError as exc:
            rejected = self.rejected() if self.proc.alive() else {}
            raise ComponentError("%s%s" % (exc, "; envoy rejected istiod's config: %s" % rejected if rejected else "")) from None

    def stop(self) -> None:
        if self.proc:
            self.proc.stop(3)
