"""The lab's emulated Kubernetes API server (see tests/lab/DESIGN.md)."""

import secrets
import threading
from typing import Optional

import yaml

from .http import Handler, Server
from .store import Store

# Namespaces every real cluster starts with.
SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


class ApiServer:
    """An API server running in a background thread of this process."""

    def __init__(self, store: Store, server: Server, token: str):
        self.store = store
        self.token = token
        self._server = server
        self._stopping = threading.Event()
        host, port = server.server_address[:2]
        self.host, self.port = host, port
        self.url = "http://%s:%d" % (host, port)
        self._thread: Optional[threading.Thread] = None

    def _start(self, stopping: threading.Event) -> None:
        self._stopping = stopping
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="lab-apiserver", daemon=True)
        self._thread.start()

    def kubeconfig(self, namespace: str = "default") -> dict:
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "lab", "cluster": {"server": self.url}}],
            "users": [{"name": "lab", "user": {"token": self.token}}],
            "contexts": [{"name": "lab", "context": {"cluster": "lab", "user": "lab", "namespace": namespace}}],
            "current-context": "lab",
            "preferences": {},
        }

    def write_kubeconfig(self, path, namespace: str = "default") -> str:
        with open(path, "w") as handle:
            yaml.safe_dump(self.kubeconfig(namespace), handle, default_flow_style=False)
        return str(path)

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._server.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)


def start_apiserver(host: str = "127.0.0.1", port: int = 0, token: Optional[str] = None, store: Optional[Store] = None) -> ApiServer:
    """Start serving on host:port (0: a free port from the OS) with a bearer token (random when None)."""
    store = store if store is not None else Store()
    for name in SYSTEM_NAMESPACES:
        if store.get("v1", "Namespace", None, name) is None:
            store.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    token = token or secrets.token_urlsafe(24)
    stopping = threading.Event()
    handler = type("LabHandler", (Handler,), {"store": store, "token": token, "stopping": stopping})
    server = Server((host, port), handler)
    api = ApiServer(store, server, token)
    api._start(stopping)
    return api


__all__ = ["ApiServer", "Store", "start_apiserver"]
