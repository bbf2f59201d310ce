"""The tests' hands on the lab's real API server: read, write, watch and wait, by apiVersion and kind.

``Store`` is what the module, analysis and end-to-end suites seed and inspect the cluster with (the
modules themselves go through kubernetes.core, as in a user's run). ``shared_lab`` starts one lab for
the whole pytest session (``python -m tests.lab up``, real control plane); each test works in a
namespace of its own (``Namespaces``), so no test sees another's objects and none waits for a
namespace to be deleted.
"""

import itertools
import re
import threading
import time

from tests.lab.real.kube import ApiError
from tests.mesh import wait_for

__all__ = ["ApiError", "Namespaces", "Store", "wait_for"]

_PATCH_TYPES = {
    "merge": "application/merge-patch+json",
    "json": "application/json-patch+json",
    "strategic": "application/strategic-merge-patch+json",
}


class Store:
    """Objects of the real API server as plain dicts; ``ApiError`` (with ``.code``) on any API error."""

    def __init__(self, kubeconfig):
        from kubernetes import config, dynamic

        self.kubeconfig = str(kubeconfig)
        self._client = dynamic.DynamicClient(config.new_client_from_config(self.kubeconfig))

    def resource(self, api_version, kind):
        return self._client.resources.get(api_version=api_version, kind=kind)

    def _call(self, action):
        from kubernetes.client.exceptions import ApiException
        from kubernetes.dynamic.exceptions import DynamicApiError

        try:
            result = action()
        except DynamicApiError as exc:
            raise ApiError(exc.status, exc.summary()) from None
        except ApiException as exc:
            raise ApiError(exc.status, exc.reason) from None
        return result.to_dict() if result is not None and hasattr(result, "to_dict") else result

    # reads ------------------------------------------------------------------------------------
    def get(self, api_version, kind, namespace, name):
        """The object, or ``None`` when it does not exist."""
        try:
            return self._call(lambda: self.resource(api_version, kind).get(name=name, namespace=namespace))
        except ApiError as exc:
            if exc.code == 404:
                return None
            raise

    def list(self, api_version, kind, namespace=None, label_selector=None):
        listing = self._call(lambda: self.resource(api_version, kind).get(namespace=namespace, label_selector=label_selector))
        items = listing.get("items") or []
        for item in items:  # a list's items carry no apiVersion/kind of their own
            item.setdefault("apiVersion", api_version)
            item.setdefault("kind", kind)
        return items

    # writes -----------------------------------------------------------------------------------
    def create(self, obj, field_validation="Strict"):
        namespace = obj["metadata"].get("namespace")
        return self._call(lambda: self.resource(obj["apiVersion"], obj["kind"]).create(
            body=obj, namespace=namespace, field_validation=field_validation))

    def update(self, obj, field_validation="Strict"):
        """Replace (``metadata.resourceVersion`` decides: a stale one is a 409)."""
        namespace = obj["metadata"].get("namespace")
        return self._call(lambda: self.resource(obj["apiVersion"], obj["kind"]).replace(
            body=obj, namespace=namespace, field_validation=field_validation))

    def update_status(self, obj):
        resource = self.resource(obj["apiVersion"], obj["kind"]).subresources["status"]
        return self._call(lambda: resource.replace(body=obj, namespace=obj["metadata"].get("namespace"), name=obj["metadata"]["name"]))

    def patch(self, api_version, kind, namespace, name, patch, patch_type="merge", subresource=None):
        resource = self.resource(api_version, kind)
        if subresource:
            resource = resource.subresources[subresource]
        return self._call(lambda: resource.patch(body=patch, name=name, namespace=namespace,
                                                 content_type=_PATCH_TYPES[patch_type]))

    def delete(self, api_version, kind, namespace, name, propagation="Background", grace_period_seconds=None):
        """Delete; ``None`` when it was already gone."""
        body = {"propagationPolicy": propagation}
        if grace_period_seconds is not None:
            body["gracePeriodSeconds"] = grace_period_seconds
        try:
            return self._call(lambda: self.resource(api_version, kind).delete(name=name, namespace=namespace, body=body))
        except ApiError as exc:
            if exc.code == 404:
                return None
            raise

    def edit(self, api_version, kind, namespace, name, change, attempts=20):
        """Read, ``change(obj)`` in place, replace; again when a controller wrote in between (409)."""
        for attempt in range(attempts):
            obj = self.get(api_version, kind, namespace, name)
            change(obj)
            try:
                return self.update(obj)
            except ApiError as exc:
                if exc.code != 409 or attempt == attempts - 1:
                    raise
        return None

    # watches ----------------------------------------------------------------------------------
    def watch(self, api_version, kind, namespace, callback):
        """Call ``callback(event_type, obj)`` for every change from now on, in a thread; returns ``stop()``."""
        stopped = threading.Event()
        resource = self.resource(api_version, kind)
        start_version = self._call(lambda: resource.get(namespace=namespace))["metadata"]["resourceVersion"]

        def run():
            version = start_version
            while not stopped.is_set():
                try:
                    for event in self._client.watch(resource, namespace=namespace, resource_version=version, timeout=1):
                        obj = event["raw_object"]
                        version = obj["metadata"].get("resourceVersion", version)
                        if event["type"] in ("ADDED", "MODIFIED", "DELETED"):
                            callback(event["type"], obj)
                        if stopped.is_set():
                            return
                except Exception:  # noqa: BLE001 - a watch that expired or broke is opened again from where it was
                    if stopped.is_set():
                        return
                    time.sleep(0.1)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()

        def stop():
            stopped.set()
            thread.join(timeout=5)

        return stop


class Namespaces:
    """A fresh namespace per test, named after it; deleted (in the background) when the test ends."""

    _counter = itertools.count(1)

    def __init__(self, store):
        self.store = store

    def create(self, label):
        name = ("t%d-%s" % (next(self._counter), re.sub(r"[^a-z0-9-]+", "-", label.lower())))[:50].strip("-")
        self.store.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
        # What the controller-manager adds to every namespace, before a test snapshots it or creates
        # pods (the ServiceAccount admission refuses pods until "default" exists).
        wait_for(lambda: self.store.get("v1", "ServiceAccount", name, "default"), 30, "serviceaccount default in %s" % name)
        wait_for(lambda: self.store.get("v1", "ConfigMap", name, "kube-root-ca.crt"), 30, "kube-root-ca.crt in %s" % name)
        return name

    def delete(self, name):
        self.store.delete("v1", "Namespace", None, name)
