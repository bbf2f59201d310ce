"""A tiny controller manager: store events -> work queue -> one reconcile thread.

Every controller reconciles one object key at a time on the same thread, so controllers never race
each other; the kubelet's pod runners write pod status from their own threads and the store's
resourceVersion check settles those races (a conflict just requeues).
"""

import heapq
import itertools
import logging
import threading
import time
from typing import Callable, Dict, List, Optional, Tuple

from ..apiserver.errors import ApiError
from ..apiserver.store import Store

log = logging.getLogger(__name__)

Key = Tuple[str, str, str]  # (kind, namespace, name)


class Manager:
    def __init__(self, store: Store):
        self.store = store
        self._handlers: Dict[str, List[Callable[[str, str], Optional[float]]]] = {}
        self._watchers: List[Callable[[str, dict], List[Key]]] = []
        self._cond = threading.Condition()
        self._pending: Dict[Key, float] = {}
        self._heap: List[Tuple[float, int, Key]] = []
        self._counter = itertools.count()
        self._stopped = False
        self._thread: Optional[threading.Thread] = None
        self._unsubscribe = None

    # registration -------------------------------------------------------
    def handle(self, kind: str, reconcile: Callable[[str, str], Optional[float]]) -> None:
        """`reconcile(namespace, name)` may return seconds after which to look again."""
        self._handlers.setdefault(kind, []).append(reconcile)

    def map_events(self, mapper: Callable[[str, dict], List[Key]]) -> None:
        """`mapper(event_type, obj)` returns the keys an event concerns beyond the object itself."""
        self._watchers.append(mapper)

    # queue -------------------------------------------------------------
    def enqueue(self, key: Key, delay: float = 0.0) -> None:
        due = time.monotonic() + max(delay, 0.0)
        with self._cond:
            if key in self._pending and self._pending[key] <= due:
                return
            self._pending[key] = due
            heapq.heappush(self._heap, (due, next(self._counter), key))
            self._cond.notify()

    def _on_event(self, event_type: str, obj: dict) -> None:
        meta = obj.get("metadata") or {}
        keys = [(obj.get("kind"), meta.get("namespace") or "", meta.get("name"))]
        for mapper in self._watchers:
            keys.extend(mapper(event_type, obj))
        for key in keys:
            if key[0] in self._handlers:
                self.enqueue(key)

    def _next(self) -> Optional[Key]:
        with self._cond:
            while not self._stopped:
                now = time.monotonic()
                while self._heap and self._pending.get(self._heap[0][2]) != self._heap[0][0]:
                    heapq.heappop(self._heap)  # superseded entry
                if self._heap and self._heap[0][0] <= now:
                    _, _, key = heapq.heappop(self._heap)
                    del self._pending[key]
                    return key
                self._cond.wait(timeout=(self._heap[0][0] - now) if self._heap else None)
            return None

    def _run(self) -> None:
        while True:
            key = self._next()
            if key is None:
                return
            kind, namespace, name = key
            for reconcile in self._handlers.get(kind, []):
                try:
                    again = reconcile(namespace, name)
                except ApiError as error:
                    if error.code in (404, 409):
                        again = 0.05  # raced with another writer: look again
                    else:
                        log.exception("reconcile %s failed", key)
                        again = 1.0
                except Exception:  # a controller bug must not stop the lab
                    log.exception("reconcile %s failed", key)
                    again = 1.0
                if again is not None and not self._stopped:
                    self.enqueue(key, again)

    # lifecycle ---------------------------------------------------------
    def start(self) -> None:
        self._unsubscribe = self.store.subscribe(self._on_event)
        for kind in self._handlers:
            api_version = {"Deployment": "apps/v1", "ReplicaSet": "apps/v1", "HorizontalPodAutoscaler": "autoscaling/v2"}.get(kind, "v1")
            for obj in self.store.list(api_version, kind):
                self.enqueue((kind, obj["metadata"].get("namespace") or "", obj["metadata"]["name"]))
        self._thread = threading.Thread(target=self._run, name="lab-controllers", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._unsubscribe:
            self._unsubscribe()
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)
