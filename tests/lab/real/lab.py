"""The lab process (``python -m tests.lab serve --dir DIR``; ``up`` runs it in the background).

Starts Prometheus, the pod network, etcd and the Kubernetes control plane, the node agent, the CRDs,
istiod and the two Envoys, in that order, and writes ``DIR/lab.json`` (docs/lab.md lists its keys)
at every step, so ``down`` can stop whatever exists even when ``up`` failed half-way. Nothing is
restarted behind the user's back: a dead component or an Envoy NACK makes the lab ``degraded``.
"""

import json
import logging
import os
import signal
import threading
import time
from typing import List, Optional

import urllib3

from . import network as net
from .controlplane import ControlPlane
from .istio import ISTIO_VERSION, Istiod, Proxy
from .node import NodeAgent
from .procs import ComponentError, load_manifest
from .telemetry import Telemetry
from ..common import atomic_write, free_port, lab_file
from ..prometheus import Prometheus

log = logging.getLogger("tests.lab.real")
NODE_NAME = "lab-node"
# Service ports the client-side proxy serves. One Sidecar egress listener per port: with an
# HTTP_PROXY egress port istiod writes domains with ":port" but also ignore_port_in_host_matching,
# so nothing matches (see docs/lab.md); a listener on the service port gets port-less domains.
MESH_PORTS = (9898,)
urllib3.disable_warnings()


def _envoy_binary() -> str:
    import shutil
    import sys
    candidate = os.path.join(os.path.dirname(sys.executable), "envoy")
    return candidate if os.path.exists(candidate) else (shutil.which("envoy") or "envoy")


class RealLab:
    def __init__(self, directory: str):
        self.directory = os.path.abspath(directory)
        self.logs = os.path.join(self.directory, "logs")
        self.started = time.time()
        self.state = "starting"
        self.errors: List[str] = []
        self.ready_seconds: Optional[float] = None
        self.timings = {}
        self.stop_event = threading.Event()
        self._write_lock = threading.Lock()
        self.manifest = {}
        self.network: Optional[net.Network] = None
        self.cp: Optional[ControlPlane] = None
        self.node: Optional[NodeAgent] = None
        self.istiod: Optional[Istiod] = None
        self.ingress: Optional[Proxy] = None
        self.sidecar: Optional[Proxy] = None
        self.mesh_ports = list(MESH_PORTS)
        self.mesh_address = None  # 127.213.N.1: a loopback address of this lab's own (N = its network number)
        self.ingress_port = free_port()
        self.admin_ports = {"ingress": free_port(), "mesh": free_port()}
        self.prometheus: Optional[Prometheus] = None
        self.telemetry: Optional[Telemetry] = None
        self._last_pods = None

    # ------------------------------------------------------------------ lifecycle
    def _mark(self, name: str) -> None:
        self.timings[name] = round(time.time() - self.started, 2)
        log.info("%s after %.2f s", name, self.timings[name])

    def start(self) -> None:
        os.makedirs(self.logs, exist_ok=True)
        self.write()
        self.manifest = load_manifest()
        binaries = self.manifest["binaries"]
        self.network = net.Network.create(on_number=self._record_network)
        self.write()
        # Prometheus first: its first sample comes ~5 s after start whatever we do, so overlap it.
        self.telemetry = Telemetry(os.path.join(self.directory, "prometheus"),
                                       ["127.0.0.1:%d" % self.admin_ports[n] for n in ("mesh", "ingress")], None)
        self.prometheus = Prometheus(self.telemetry.directory, self.telemetry.config())
        self.prometheus.start()
        if not os.path.lexists(os.path.join(self.logs, "prometheus.log")):
            os.symlink(self.prometheus.log_path, os.path.join(self.logs, "prometheus.log"))
        self.cp = ControlPlane(self.directory, self.logs, binaries, self.stop_event)
        self.write()
        self.cp.start()
        self._mark("control plane ready")
        self.write()
        self.node = NodeAgent(self.cp.kube, NODE_NAME, self.network, self.manifest.get("versions"),
                              os.path.join(self.logs, "pods"), os.path.join(self.directory, "pods"), pki_dir=self.cp.pki_dir)
        self.node.start()
        self.cp.install_crds(self.manifest["crds"])
        self._mark("CRDs established")
        self._mesh_objects()
        self.istiod = Istiod(os.path.join(self.directory, "istiod"), self.logs, binaries["pilot-discovery"], self.cp.kubeconfig)
        self.write()
        self.istiod.start(self.stop_event)
        self._mark("istiod ready")
        xds = self.istiod.ports["grpc"]
        envoy = _envoy_binary()
        base = {"CLUSTER_ID": "Kubernetes", "ISTIO_VERSION": ISTIO_VERSION, "MESH_ID": "cluster.local", "INSTANCE_IPS": "127.0.0.1"}
        self.ingress = Proxy("ingress", os.path.join(self.directory, "envoy"), self.logs, envoy,
                             "router~127.0.0.1~istio-ingressgateway-lab.istio-system~istio-system.svc.cluster.local",
                             "istio-ingressgateway.istio-system",
                             dict(base, NAMESPACE="istio-system", NAME="istio-ingressgateway-lab", WORKLOAD_NAME="istio-ingressgateway",
                                  LABELS={"istio": "ingressgateway", "app": "istio-ingressgateway"}), xds, self.admin_ports["ingress"])
        self.sidecar = Proxy("mesh", os.path.join(self.directory, "envoy"), self.logs, envoy,
                             "sidecar~127.0.0.1~lab-client.istio-system~istio-system.svc.cluster.local",
                             "lab-client.istio-system",
                             dict(base, NAMESPACE="istio-system", NAME="lab-client", WORKLOAD_NAME="lab-client",
                                  INTERCEPTION_MODE="NONE", LABELS={"app": "lab-client"}), xds, self.admin_ports["mesh"])
        self.ingress.start()
        self.sidecar.start()
        self.write()
        self.ingress.wait_ready([self.ingress_port], 30, self.stop_event)
        self.sidecar.wait_ready(self.mesh_ports, 30, self.stop_event)
        self._mark("envoys ready")
        self.telemetry.kube = self.cp.kube
        self.telemetry.start(self.prometheus)
        try:
            self.prometheus.wait_for_sample('up{job="envoy"}', timeout=20)
        except Exception as exc:  # noqa: BLE001
            raise ComponentError("prometheus has no sample of the Envoys' stats: %s; see %s" % (exc, self.prometheus.log_path)) from None
        self._mark("prometheus has samples")
        self.state = "running"
        self.ready_seconds = round(time.time() - self.started, 2)
        self.write()
        log.info("lab ready in %.2f s", self.ready_seconds)

    def _record_network(self, network: net.Network) -> None:
        self.network = network
        self.mesh_address = "127.213.%d.1" % network.number
        self.write()

    def _mesh_objects(self) -> None:
        kube = self.cp.kube
        kube.apply("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "istio-system"}})
        kube.apply("/apis/networking.istio.io/v1/namespaces/istio-system/gateways", {
            "apiVersion": "networking.istio.io/v1", "kind": "Gateway", "metadata": {"name": "lab-ingress", "namespace": "istio-system"},
            "spec": {"selector": {"istio": "ingressgateway"},
                     "servers": [{"port": {"number": self.ingress_port, "name": "http", "protocol": "HTTP"}, "bind": "127.0.0.1",
                                  "hosts": ["*/*"]}]}})
        # istiod builds an egress listener only for a port some Service has: this selector-less
        # Service keeps the mesh listeners up (and testable) before any workload exists.
        kube.apply("/api/v1/namespaces/istio-system/services", {
            "apiVersion": "v1", "kind": "Service", "metadata": {"name": "lab-mesh", "namespace": "istio-system"},
            "spec": {"ports": [{"name": "http-%d" % port, "port": port, "protocol": "TCP"} for port in self.mesh_ports]}})
        kube.apply("/apis/networking.istio.io/v1/namespaces/istio-system/sidecars", {
            "apiVersion": "networking.istio.io/v1", "kind": "Sidecar", "metadata": {"name": "lab-client", "namespace": "istio-system"},
            "spec": {"workloadSelector": {"labels": {"app": "lab-client"}},
                     "outboundTrafficPolicy": {"mode": "REGISTRY_ONLY"},
                     "egress": [{"port": {"number": port, "protocol": "HTTP", "name": "http-%d" % port},
                                 "bind": self.mesh_address, "captureMode": "NONE", "hosts": ["*/*"]} for port in self.mesh_ports]}})

    # ------------------------------------------------------------------ lab.json
    def pids(self) -> dict:
        pods = self.node.pids() if self.node is not None else []
        self._last_pods = pods
        return {
            "supervisor": os.getpid(),
            "envoy": self.sidecar.proc.pid if self.sidecar and self.sidecar.proc else None,
            "envoys": [p.proc.pid for p in (self.ingress, self.sidecar) if p and p.proc],
            "prometheus": self.prometheus.process.pid if self.prometheus and self.prometheus.process else None,
            "pods": pods,
            "control_plane": dict(self.cp.pids() if self.cp else {}, **({"pilot-discovery": self.istiod.proc.pid}
                                                                         if self.istiod and self.istiod.proc else {})),
        }

    def listen_ports(self) -> list:
        ports = [self.ingress_port]
        if self.cp:
            ports += list(self.cp.ports.values())
        if self.istiod:
            ports += [p for k, p in self.istiod.ports.items()]
        ports += list(self.admin_ports.values())
        if self.prometheus and self.prometheus.port:
            ports.append(self.prometheus.port)
        return sorted(set(ports))

    def info(self) -> dict:
        info = {"dir": self.directory, "control_plane": "real", "state": self.state, "started_at": self.started,
                "ready_seconds": self.ready_seconds, "timings": self.timings, "logs": self.logs, "pids": self.pids(),
                "errors": list(self.errors), "listen_ports": self.listen_ports(),
                "ingress": "http://127.0.0.1:%d" % self.ingress_port, "ingress_port": self.ingress_port, "node": NODE_NAME,
                "mesh_address": self.mesh_address, "mesh_ports": self.mesh_ports}
        if self.mesh_address:
            info.update(mesh="http://%s:%d" % (self.mesh_address, self.mesh_ports[0]), mesh_port=self.mesh_ports[0])
        if self.network:
            info["network"] = self.network.info()
        if self.manifest:
            info["versions"] = self.manifest.get("versions")
            info["kubectl"] = self.manifest["binaries"]["kubectl"]
        if self.cp:
            info.update(api=self.cp.api_url, token=self.cp.token, kubeconfig=self.cp.kubeconfig,
                        ca=os.path.join(self.cp.pki_dir, "ca.crt"))
        if self.istiod:
            info.update(istiod=self.istiod.debug_url, istiod_grpc="127.0.0.1:%d" % self.istiod.ports["grpc"])
        if self.sidecar:
            info.update(envoy_admin=self.sidecar.admin_url, mesh_admin=self.sidecar.admin_url)
        if self.ingress:
            info.update(ingress_admin=self.ingress.admin_url)
        if self.prometheus and self.prometheus.port:
            info.update(prometheus=self.prometheus.url)
        return info

    def write(self) -> None:
        with self._write_lock:
            atomic_write(lab_file(self.directory), json.dumps(self.info(), indent=2, sort_keys=True) + "\n")

    def watch(self) -> None:
        while not self.stop_event.wait(1.0):
            problems = []
            procs = list(self.cp.procs) + [self.istiod.proc, self.ingress.proc, self.sidecar.proc]
            for proc in procs:
                if not proc.alive():
                    problems.append("%s exited with code %s; see %s" % (proc.name, proc.process.returncode, proc.log_path))
            for proxy in (self.ingress, self.sidecar):
                if proxy.proc.alive():
                    try:
                        rejected = proxy.rejected()
                    except Exception:  # noqa: BLE001
                        rejected = {}
                    if rejected:
                        problems.append("envoy (%s) rejected istiod's config (NACK): %s" % (proxy.name, rejected))
            if not (self.prometheus.process and self.prometheus.process.poll() is None):
                problems.append("prometheus exited; see %s" % self.prometheus.log_path)
            for error in (self.telemetry.last_error, self.telemetry.poll_error):
                if error:
                    problems.append("telemetry: %s" % error)
            if self.node.last_error:
                problems.append("node agent: %s" % self.node.last_error)
            if problems != self.errors or self._last_pods != self.node.pids():
                for problem in problems:
                    if problem not in self.errors:
                        log.error("%s", problem)
                self.errors = problems
                self.state = "degraded" if problems else "running"
                self.write()

    def stop(self) -> None:
        self.state = "stopping"
        self.write()
        for name, action in (("telemetry", lambda: self.telemetry and self.telemetry.stop()),
                             ("node agent", lambda: self.node and self.node.stop()),
                             ("envoy ingress", lambda: self.ingress and self.ingress.stop()),
                             ("envoy mesh", lambda: self.sidecar and self.sidecar.stop()),
                             ("istiod", lambda: self.istiod and self.istiod.stop()),
                             ("control plane", lambda: self.cp and self.cp.stop()),
                             ("prometheus", lambda: self.prometheus and self.prometheus.stop()),
                             ("network", lambda: self.network and net.cleanup(self.network.info()))):
            try:
                action()
            except Exception:  # noqa: BLE001
                log.exception("stopping %s failed", name)
        self.state = "stopped"
        self.write()
        log.info("lab stopped")


def serve(directory: str) -> int:
    """Run a lab in the foreground until SIGTERM or SIGINT; 1 when it failed to start."""
    directory = os.path.abspath(directory)
    os.makedirs(os.path.join(directory, "logs"), exist_ok=True)
    logging.basicConfig(filename=os.path.join(directory, "logs", "lab.log"), level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    lab = RealLab(directory)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: lab.stop_event.set())
    code = 0
    try:
        lab.start()
        lab.watch()
    except Exception as exc:  # noqa: BLE001
        log.exception("lab failed")
        lab.errors.append(str(exc))
        code = 1
    finally:
        lab.stop()
        if code:
            lab.state = "failed"
            lab.write()
    return code
