"""etcd, kube-apiserver, kube-controller-manager and kube-scheduler on 127.0.0.1 free ports."""

import glob
import os
import secrets
import subprocess
import time
from typing import Dict, List

import requests
import yaml

from . import pki
from .kube import Kube
from ..common import free_port
from .procs import ComponentError, Proc

SERVICE_CIDR = "10.96.0.0/16"
CONTROLLERS = ",".join([
    "deployment-controller", "replicaset-controller", "endpoints-controller", "endpointslice-controller",
    "endpointslice-mirroring-controller", "horizontal-pod-autoscaler-controller", "garbage-collector-controller",
    "namespace-controller", "serviceaccount-controller", "serviceaccount-token-controller", "node-lifecycle-controller",
    "taint-eviction-controller", "pod-garbage-collector-controller", "root-ca-certificate-publisher-controller",
    "clusterrole-aggregation-controller",
])


def _https_ok(url: str) -> bool:
    return requests.get(url, verify=False, timeout=1, proxies={"https": None, "http": None}).status_code == 200


class ControlPlane:
    def __init__(self, directory: str, logs: str, binaries: Dict[str, str], stop=None):
        self.directory, self.logs, self.binaries, self.stop_event = directory, logs, binaries, stop
        self.pki_dir = os.path.join(directory, "pki")
        self.kubeconfig = os.path.join(directory, "kubeconfig")
        self.token = secrets.token_hex(16)
        self.ports = {"etcd": free_port(), "etcd_peer": free_port(), "api": free_port(),
                      "controller_manager": free_port(), "scheduler": free_port()}
        self.api_url = "https://127.0.0.1:%d" % self.ports["api"]
        self.procs: List[Proc] = []
        self.kube = None

    def _proc(self, name: str, args: List[str]) -> Proc:
        proc = Proc(name, [self.binaries[name]] + args, os.path.join(self.logs, "%s.log" % name))
        self.procs.append(proc)
        return proc.start()

    def pids(self) -> Dict[str, int]:
        return {p.name: p.pid for p in self.procs if p.pid}

    def start(self) -> None:
        paths = pki.generate(self.pki_dir)
        token_file = os.path.join(self.pki_dir, "tokens.csv")
        with open(token_file, "w", encoding="utf-8") as handle:
            handle.write('%s,lab-admin,lab-admin-uid,"system:masters"\n' % self.token)
        os.chmod(token_file, 0o600)
        self.write_kubeconfig(paths["ca.crt"])
        etcd_url = "http://127.0.0.1:%d" % self.ports["etcd"]
        peer_url = "http://127.0.0.1:%d" % self.ports["etcd_peer"]
        etcd = self._proc("etcd", [
            "--name", "lab", "--data-dir", os.path.join(self.directory, "etcd"), "--unsafe-no-fsync",
            "--listen-client-urls", etcd_url, "--advertise-client-urls", etcd_url,
            "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url,
            "--initial-cluster", "lab=%s" % peer_url, "--log-level", "warn", "--quota-backend-bytes", str(1 << 30)])
        etcd.wait_ready(lambda: requests.get(etcd_url + "/health", timeout=1).json().get("health") == "true", 20, self.stop_event)

        api = self._proc("kube-apiserver", [
            "--etcd-servers", etcd_url, "--cert-dir", os.path.join(self.pki_dir, "apiserver-cert-dir"),
            "--tls-cert-file", paths["apiserver.crt"], "--tls-private-key-file", paths["apiserver.key"],
            "--client-ca-file", paths["ca.crt"], "--token-auth-file", token_file,
            "--secure-port", str(self.ports["api"]), "--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1",
            "--authorization-mode", "RBAC", "--allow-privileged=true",
            "--service-account-issuer", "https://kubernetes.default.svc.cluster.local",
            "--service-account-key-file", paths["sa.pub"], "--service-account-signing-key-file", paths["sa.key"],
            "--service-cluster-ip-range", SERVICE_CIDR, "--endpoint-reconciler-type", "none",
            # pods/log as in a cluster: to the node's address, the kubelet's certificate checked, the API server's shown
            "--kubelet-preferred-address-types", "InternalIP", "--kubelet-certificate-authority", paths["ca.crt"],
            "--kubelet-client-certificate", paths["apiserver-kubelet-client.crt"],
            "--kubelet-client-key", paths["apiserver-kubelet-client.key"],
            "--enable-priority-and-fairness=false", "--profiling=false", "--v", "1"])
        self.kube = Kube(self.api_url, self.token, paths["ca.crt"])
        api.wait_ready(lambda: self.kube.session.get(self.api_url + "/readyz", timeout=2).status_code == 200, 60, self.stop_event)

        common = ["--kubeconfig", self.kubeconfig, "--authentication-kubeconfig", self.kubeconfig,
                  "--authorization-kubeconfig", self.kubeconfig, "--bind-address", "127.0.0.1", "--leader-elect=false", "--v", "1"]
        kcm = self._proc("kube-controller-manager", common + [
            "--secure-port", str(self.ports["controller_manager"]), "--controllers", CONTROLLERS,
            "--service-account-private-key-file", paths["sa.key"], "--root-ca-file", paths["ca.crt"],
            "--use-service-account-credentials=false", "--service-cluster-ip-range", SERVICE_CIDR,
            "--cert-dir", os.path.join(self.pki_dir, "kcm-cert-dir"), "--concurrent-deployment-syncs", "2",
            "--node-monitor-grace-period", "40s"])
        sched = self._proc("kube-scheduler", common + [
            "--secure-port", str(self.ports["scheduler"]), "--cert-dir", os.path.join(self.pki_dir, "scheduler-cert-dir")])
        kcm.wait_ready(lambda: _https_ok("https://127.0.0.1:%d/healthz" % self.ports["controller_manager"]), 60, self.stop_event)
        sched.wait_ready(lambda: _https_ok("https://127.0.0.1:%d/healthz" % self.ports["scheduler"]), 60, self.stop_event)
        # The serviceaccount controller must have made "default" before pods can be admitted.
        kcm.wait_ready(lambda: self.kube.get("/api/v1/namespaces/default/serviceaccounts/default", ok404=True) is not None,
                       60, self.stop_event)

    def write_kubeconfig(self, ca_file: str) -> None:
        import base64
        with open(ca_file, "rb") as handle:
            ca = base64.b64encode(handle.read()).decode()
        config = {"apiVersion": "v1", "kind": "Config", "current-context": "lab", "preferences": {},
                  "clusters": [{"name": "lab", "cluster": {"server": self.api_url, "certificate-authority-data": ca}}],
                  "users": [{"name": "lab-admin", "user": {"token": self.token}}],
                  "contexts": [{"name": "lab", "context": {"cluster": "lab", "user": "lab-admin", "namespace": "default"}}]}
        with open(self.kubeconfig, "w", encoding="utf-8") as handle:
            yaml.safe_dump(config, handle)
        os.chmod(self.kubeconfig, 0o600)

    def kubectl(self, *args: str, timeout: float = 120) -> str:
        result = subprocess.run([self.binaries["kubectl"], "--kubeconfig", self.kubeconfig] + list(args),
                                capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            raise ComponentError("kubectl %s failed: %s" % (" ".join(args), result.stderr.strip()[-2000:]))
        return result.stdout

    def install_crds(self, crd_dirs: Dict[str, str]) -> None:
        files = sorted(glob.glob(os.path.join(crd_dirs["istio"], "*.yaml")))
        # Gateway API's folder also holds a ValidatingAdmissionPolicy and its binding (not CRDs).
        files += [f for f in sorted(glob.glob(os.path.join(crd_dirs["gateway-api"], "*.yaml"))) if "vap_" not in os.path.basename(f)]
        args = ["apply", "--server-side", "--force-conflicts", "-o", "name"]
        for path in files:
            args += ["-f", path]
        started = time.monotonic()
        with open(os.path.join(self.logs, "crds.log"), "w", encoding="utf-8") as log:
            log.write(self.kubectl(*args))
            log.write(self.kubectl("wait", "--for", "condition=Established", "crd", "--all", "--timeout", "60s"))
            log.write("installed in %.1f s\n" % (time.monotonic() - started))

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()
