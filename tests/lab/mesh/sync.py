"""Keep Envoy's files in step with the cluster state: store events -> translate -> atomic writes.

The store calls subscribers on the writer's thread, so the callback only marks the state dirty; a
worker thread coalesces bursts of events (a rollout writes many Pod statuses) for a few
milliseconds, then translates a fresh snapshot and rewrites the files that changed.
"""

import logging
import threading
import time
from typing import Callable, Dict, List, Optional

from .envoy import Envoy
from .translate import dumps, translate

log = logging.getLogger(__name__)

ISTIO_NETWORKING = "networking.istio.io/v1"
WATCHED = {
    "services": ("v1", "Service"),
    "endpoints": ("v1", "Endpoints"),
    "pods": ("v1", "Pod"),
    "destinationrules": (ISTIO_NETWORKING, "DestinationRule"),
    "virtualservices": (ISTIO_NETWORKING, "VirtualService"),
    "gateways": (ISTIO_NETWORKING, "Gateway"),
}
WATCHED_KINDS = {kind for _version, kind in WATCHED.values()}
COALESCE_SECONDS = 0.01


def snapshot(store) -> Dict[str, List[dict]]:
    return {key: store.list(api_version, kind) for key, (api_version, kind) in WATCHED.items()}


class MeshSync:
    """Runs in a daemon thread; ``listeners`` get ``(result, snapshot)`` after each successful write."""

    def __init__(self, store, envoy: Envoy, mesh_port: int, ingress_port: int,
                 listeners: Optional[List[Callable[[dict, dict], None]]] = None):
        self.store = store
        self.envoy = envoy
        self.mesh_port = mesh_port
        self.ingress_port = ingress_port
        self.listeners = list(listeners or [])
        self.generation = 0
        self.last_error: Optional[str] = None
        self._dirty = threading.Event()
        self._stopped = threading.Event()
        self._synced = threading.Condition()
        self._synced_generation = 0
        self._requested = 0
        self._requested_lock = threading.Lock()
        self._thread: Optional[threading.Thread] = None
        self._unsubscribe = None

    def _on_event(self, _event_type: str, obj: dict) -> None:
        if obj.get("kind") in WATCHED_KINDS:
            with self._requested_lock:
                self._requested += 1
            self._dirty.set()

    def sync_once(self) -> dict:
        """Translate the current state and write the files; returns the translation."""
        self.generation += 1
        state = snapshot(self.store)
        result = translate(state, self.mesh_port, self.ingress_port,
                           {"mesh": self.envoy.path("rds_mesh"), "ingress": self.envoy.path("rds_ingress")},
                           version=str(self.generation))
        # version_info changes every time; compare without it so unchanged files are left alone.
        self.envoy.write(result, lambda doc: dumps(dict(doc, version_info="lab")))
        for listener in self.listeners:
            listener(result, state)
        return result

    def start(self) -> "MeshSync":
        self._unsubscribe = self.store.subscribe(self._on_event)
        self.sync_once()
        self._thread = threading.Thread(target=self._run, name="lab-mesh-sync", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stopped.is_set():
            if not self._dirty.wait(timeout=0.5):
                continue
            time.sleep(COALESCE_SECONDS)
            self._dirty.clear()
            requested = self._requested
            try:
                self.sync_once()
                self.last_error = None
            except Exception as exc:  # keep serving the last good config; the error is logged and reported
                self.last_error = "%s: %s" % (type(exc).__name__, exc)
                log.exception("mesh sync failed")
            with self._synced:
                self._synced_generation = requested
                self._synced.notify_all()

    def wait_synced(self, timeout: float = 5.0) -> bool:
        """Block until every store event seen so far is reflected in the files."""
        target = self._requested
        deadline = time.monotonic() + timeout
        with self._synced:
            while self._synced_generation < target:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._synced.wait(remaining)
        return True

    def stop(self) -> None:
        self._stopped.set()
        if self._unsubscribe is not None:
            self._unsubscribe()
        if self._thread is not None:
            self._thread.join(timeout=5)
