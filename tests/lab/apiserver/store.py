"""The object store behind the emulated API server.

Thread-safe; every read returns a copy. HTTP handlers and controllers write through the same methods,
so every write is defaulted, validated and versioned the same way. Subscribers are called after each
committed write, on the writer's thread, while the store lock is held: they must only enqueue.
"""

import collections
import datetime
import json
import threading
import uuid
from typing import Callable, Dict, List, Optional, Tuple

from . import errors, resources
from .defaults import apply_defaults
from .patch import JSON, MERGE, STRATEGIC, json_patch, merge_patch, strategic_merge_patch
from .selectors import parse_field_selector, parse_label_selector
from .validation import validate

Callback = Callable[[str, dict], None]
_HISTORY = 5000


def clone(obj):
    return json.loads(json.dumps(obj))


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# Kinds whose metadata.generation the real API server maintains (all custom resources have it too).
_GENERATION_KINDS = {"Deployment", "ReplicaSet", "Pod", "HorizontalPodAutoscaler"}


def _has_generation(rtype) -> bool:
    return not rtype.builtin or rtype.kind in _GENERATION_KINDS


def _spec_part(obj: dict) -> dict:
    """Everything the generation counter watches: all but metadata and status."""
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


class Store:
    def __init__(self):
        self._lock = threading.RLock()
        self._objects: Dict[Tuple[str, str], Dict[Tuple[str, str], dict]] = collections.defaultdict(dict)
        self._rv = 0
        self._subscribers: List[Callback] = []
        self._history: collections.deque = collections.deque(maxlen=_HISTORY)
        self._warnings = threading.local()
        # Set by the kubelet: (namespace, pod, container) -> the container's output, or None.
        self.pod_log_reader: Optional[Callable[[str, str, Optional[str]], Optional[str]]] = None

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def resource_type(api_version: str, kind: str) -> resources.ResourceType:
        rtype = resources.by_kind(api_version, kind)
        if rtype is None:
            raise errors.ApiError(404, "NotFound", "the server could not find the requested resource (no kind %r in %r)"
                                  % (kind, api_version))
        return rtype

    @property
    def resource_version(self) -> int:
        with self._lock:
            return self._rv

    def last_warnings(self) -> List[str]:
        """Warnings of the calling thread's last write (unknown fields dropped)."""
        return list(getattr(self._warnings, "value", []))

    @staticmethod
    def _bucket(rtype) -> Tuple[str, str]:
        return (rtype.group, rtype.kind)

    @staticmethod
    def _key(rtype, namespace: Optional[str], name: str) -> Tuple[str, str]:
        return ((namespace or "") if rtype.namespaced else "", name)

    @staticmethod
    def _shown(obj: dict, rtype, api_version: Optional[str]) -> dict:
        result = clone(obj)
        if api_version and api_version != result.get("apiVersion"):
            result["apiVersion"] = api_version
        return result

    def _require_namespace(self, rtype, namespace: Optional[str]) -> None:
        if rtype.namespaced:
            if not namespace:
                raise errors.bad_request("%s is namespaced: metadata.namespace must be set" % rtype.kind)
            if ("", namespace) not in self._objects[("", "Namespace")]:
                raise errors.namespace_not_found(namespace)

    def _next_rv(self) -> str:
        self._rv += 1
        return str(self._rv)

    def _notify(self, event_type: str, obj: dict) -> None:
        self._history.append((int(obj["metadata"]["resourceVersion"]), event_type, obj))
        for callback in list(self._subscribers):
            callback(event_type, clone(obj))

    def _prepare(self, rtype, obj: dict, old: Optional[dict], field_validation: str) -> None:
        try:
            apply_defaults(obj)
        except (AttributeError, TypeError, KeyError):
            pass  # malformed object: validation below reports what is wrong
        self._warnings.value = validate(rtype, obj, old, field_validation)

    # ------------------------------------------------------------------ reads
    def get(self, api_version: str, kind: str, namespace: Optional[str], name: str) -> Optional[dict]:
        rtype = self.resource_type(api_version, kind)
        with self._lock:
            obj = self._objects[self._bucket(rtype)].get(self._key(rtype, namespace, name))
            return self._shown(obj, rtype, api_version) if obj is not None else None

    def list(self, api_version: str, kind: str, namespace: Optional[str] = None, label_selector: Optional[str] = None,
             field_selector: Optional[str] = None) -> List[dict]:
        return self.list_with_version(api_version, kind, namespace, label_selector, field_selector)[0]

    def list_with_version(self, api_version: str, kind: str, namespace: Optional[str] = None, label_selector: Optional[str] = None,
                          field_selector: Optional[str] = None) -> Tuple[List[dict], str]:
        rtype = self.resource_type(api_version, kind)
        labels_match = parse_label_selector(label_selector)
        fields_match = parse_field_selector(field_selector, kind)
        with self._lock:
            items = [
                self._shown(obj, rtype, api_version)
                for (ns, _), obj in sorted(self._objects[self._bucket(rtype)].items())
                if (namespace is None or not rtype.namespaced or ns == namespace)
                and labels_match(obj["metadata"].get("labels") or {})
                and fields_match(obj)
            ]
            return items, str(self._rv)

    # ------------------------------------------------------------------ writes
    def create(self, obj: dict, field_validation: str = "Warn", dry_run: bool = False) -> dict:
        obj = clone(obj)
        rtype = self.resource_type(obj.get("apiVersion"), obj.get("kind"))
        metadata = obj.setdefault("metadata", {})
        if not metadata.get("name") and metadata.get("generateName"):
            metadata["name"] = metadata["generateName"] + uuid.uuid4().hex[:5]
        if not rtype.namespaced:
            metadata.pop("namespace", None)
        with self._lock:
            self._require_namespace(rtype, metadata.get("namespace"))
            key = self._key(rtype, metadata.get("namespace"), metadata.get("name") or "")
            self._prepare(rtype, obj, None, field_validation)
            if key in self._objects[self._bucket(rtype)]:
                raise errors.already_exists(rtype, key[1])
            if metadata.get("resourceVersion"):
                raise errors.ApiError(500, "InternalError", "resourceVersion should not be set on objects to be created")
            for field in ("uid", "generation", "creationTimestamp", "deletionTimestamp", "managedFields", "selfLink"):
                metadata.pop(field, None)
            metadata["uid"] = str(uuid.uuid4())
            metadata["creationTimestamp"] = now()
            if _has_generation(rtype):
                metadata["generation"] = 1
            stored_version = obj["apiVersion"]
            obj["apiVersion"] = rtype.api_version()
            if dry_run:
                # What would be stored, uid and creationTimestamp included; the resourceVersion is only
                # assigned by storage, so a real server answers a dry-run create without one.
                return self._shown(obj, rtype, stored_version)
            metadata["resourceVersion"] = self._next_rv()
            self._objects[self._bucket(rtype)][key] = obj
            self._notify("ADDED", obj)
            return self._shown(obj, rtype, stored_version)

    def update(self, obj: dict, field_validation: str = "Warn", dry_run: bool = False) -> dict:
        """PUT of the main resource: a status sent with it is ignored where a status subresource exists."""
        return self._write(obj, status_only=False, field_validation=field_validation, dry_run=dry_run)

    def update_status(self, obj: dict, field_validation: str = "Warn", dry_run: bool = False) -> dict:
        """PUT of the status subresource: only `status` changes."""
        return self._write(obj, status_only=True, field_validation=field_validation, dry_run=dry_run)

    def _write(self, obj: dict, status_only: bool, field_validation: str, dry_run: bool) -> dict:
        obj = clone(obj)
        rtype = self.resource_type(obj.get("apiVersion"), obj.get("kind"))
        metadata = obj.setdefault("metadata", {})
        name = metadata.get("name") or ""
        with self._lock:
            key = self._key(rtype, metadata.get("namespace"), name)
            old = self._objects[self._bucket(rtype)].get(key)
            if old is None:
                raise errors.not_found(rtype, name)
            sent_rv = metadata.get("resourceVersion")
            if sent_rv and sent_rv != old["metadata"]["resourceVersion"]:
                raise errors.conflict(rtype, name)
            if not sent_rv and not rtype.builtin:
                raise errors.invalid(rtype, name, [{"reason": "FieldValueInvalid", "field": "metadata.resourceVersion",
                                                    "message": "Invalid value: 0x0: must be specified for an update"}])
            if status_only:
                new = clone(old)
                if "status" in obj:
                    new["status"] = obj["status"]
                else:
                    new.pop("status", None)
            else:
                new = obj
                new["apiVersion"] = old["apiVersion"]
                if "status" in rtype.subresources:
                    if "status" in old:
                        new["status"] = clone(old["status"])
                    else:
                        new.pop("status", None)
                for field in ("uid", "creationTimestamp", "generation", "deletionTimestamp", "deletionGracePeriodSeconds"):
                    if field in old["metadata"]:
                        new["metadata"][field] = old["metadata"][field]
                    else:
                        new["metadata"].pop(field, None)
                new["metadata"]["namespace"] = old["metadata"].get("namespace")
                if new["metadata"]["namespace"] is None:
                    new["metadata"].pop("namespace")
                new["metadata"].pop("managedFields", None)
            new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
            self._prepare(rtype, new, old, field_validation)
            return self._commit(rtype, key, old, new, dry_run, obj.get("apiVersion"))

    def _commit(self, rtype, key, old: dict, new: dict, dry_run: bool, shown_version: Optional[str]) -> dict:
        if new == old:
            return self._shown(old, rtype, shown_version)  # a no-op write changes nothing, not even resourceVersion
        if _has_generation(rtype) and _spec_part(new) != _spec_part(old):
            new["metadata"]["generation"] = old["metadata"].get("generation", 1) + 1
        if dry_run:
            return self._shown(new, rtype, shown_version)
        new["metadata"]["resourceVersion"] = self._next_rv()
        self._objects[self._bucket(rtype)][key] = new
        self._notify("MODIFIED", new)
        if new["metadata"].get("deletionTimestamp") and not new["metadata"].get("finalizers"):
            self._remove(rtype, key, new)  # the last finalizer is gone: the pending deletion completes
        return self._shown(new, rtype, shown_version)

    def patch(self, api_version: str, kind: str, namespace: Optional[str], name: str, patch, patch_type: str,
              subresource: Optional[str] = None, field_validation: str = "Warn", dry_run: bool = False) -> dict:
        rtype = self.resource_type(api_version, kind)
        with self._lock:
            current = self._objects[self._bucket(rtype)].get(self._key(rtype, namespace, name))
            if current is None:
                raise errors.not_found(rtype, name)
            current = self._shown(current, rtype, api_version)
            patched = self.apply_patch(rtype, current, patch, patch_type)
            patched.setdefault("metadata", {})
            if not patched["metadata"].get("resourceVersion"):
                patched["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
            # A patch may not rename or move the object.
            patched["metadata"]["name"] = name
            if rtype.namespaced:
                patched["metadata"]["namespace"] = namespace
            patched["apiVersion"], patched["kind"] = api_version, kind
            if subresource == "status":
                return self.update_status(patched, field_validation, dry_run)
            if "status" in rtype.subresources:
                patched["status"] = current.get("status")
                if patched["status"] is None:
                    patched.pop("status")
            return self._write(patched, status_only=False, field_validation=field_validation, dry_run=dry_run)

    @staticmethod
    def apply_patch(rtype, current: dict, patch, patch_type: str) -> dict:
        if patch_type == MERGE:
            if not isinstance(patch, dict):
                raise errors.bad_request("json: cannot unmarshal into a merge patch: the patch must be a JSON object")
            return merge_patch(current, patch)
        if patch_type == JSON:
            return json_patch(current, patch)
        if patch_type == STRATEGIC:
            if not rtype.builtin:
                raise errors.ApiError(415, "UnsupportedMediaType", "the body of the request was in an unknown format - accepted media "
                                      "types include: application/json-patch+json, application/merge-patch+json, "
                                      "application/apply-patch+yaml")
            return strategic_merge_patch(current, patch, rtype.kind)
        raise errors.unsupported_media_type(patch_type)

    def delete(self, api_version: str, kind: str, namespace: Optional[str], name: str, propagation: str = "Background",
               preconditions: Optional[dict] = None, dry_run: bool = False) -> dict:
        rtype = self.resource_type(api_version, kind)
        with self._lock:
            key = self._key(rtype, namespace, name)
            obj = self._objects[self._bucket(rtype)].get(key)
            if obj is None:
                raise errors.not_found(rtype, name)
            for field in ("uid", "resourceVersion"):
                wanted = (preconditions or {}).get(field)
                if wanted and wanted != obj["metadata"].get(field):
                    raise errors.ApiError(409, "Conflict", "Precondition failed: %s in precondition: %s, %s in object meta: %s"
                                          % (field.upper() if field == "uid" else field, wanted, field, obj["metadata"].get(field)),
                                          {"name": name, "kind": rtype.plural})
            if dry_run:
                return self._shown(obj, rtype, api_version)
            if obj["metadata"].get("finalizers"):
                # Finalizers hold the object: it is only marked, and goes once the last finalizer is removed.
                if not obj["metadata"].get("deletionTimestamp"):
                    marked = clone(obj)
                    marked["metadata"]["deletionTimestamp"] = now()
                    marked["metadata"]["deletionGracePeriodSeconds"] = 0
                    marked["metadata"]["resourceVersion"] = self._next_rv()
                    self._objects[self._bucket(rtype)][key] = marked
                    self._notify("MODIFIED", marked)
                    obj = marked
                return self._shown(obj, rtype, api_version)
            return self._shown(self._remove(rtype, key, obj, propagation), rtype, api_version)

    def _remove(self, rtype, key, obj: dict, propagation: str = "Background") -> dict:
        del self._objects[self._bucket(rtype)][key]
        deleted = clone(obj)
        deleted["metadata"]["resourceVersion"] = self._next_rv()
        self._notify("DELETED", deleted)
        if rtype.kind == "Namespace":
            self._delete_namespace_contents(key[1])
        elif propagation != "Orphan":
            self._collect_garbage(obj["metadata"]["uid"])
        return deleted

    def _delete_namespace_contents(self, namespace: str) -> None:
        for rtype in resources.RESOURCE_TYPES:
            if not rtype.namespaced:
                continue
            for (ns, name) in [k for k in self._objects[self._bucket(rtype)] if k[0] == namespace]:
                if (ns, name) in self._objects[self._bucket(rtype)]:
                    self.delete(rtype.api_version(), rtype.kind, ns, name, propagation="Orphan")

    def _collect_garbage(self, owner_uid: str) -> None:
        """Background cascading deletion: dependents whose ownerReferences name the deleted owner."""
        for rtype in resources.RESOURCE_TYPES:
            bucket = self._objects[self._bucket(rtype)]
            for key, obj in list(bucket.items()):
                refs = obj["metadata"].get("ownerReferences") or []
                if any(ref.get("uid") == owner_uid for ref in refs) and key in bucket:
                    self.delete(rtype.api_version(), rtype.kind, key[0] or None, key[1])

    # ------------------------------------------------------------------ watch
    def subscribe(self, callback: Callback) -> Callable[[], None]:
        with self._lock:
            self._subscribers.append(callback)

        def unsubscribe():
            with self._lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return unsubscribe

    def watch_from(self, resource_version: int, callback: Callback) -> Callable[[], None]:
        """Replay the events after `resource_version` then subscribe, atomically; 410 Gone if too old."""
        with self._lock:
            if resource_version < self._rv:
                oldest = self._history[0][0] if self._history else self._rv + 1
                if oldest > resource_version + 1:
                    raise errors.ApiError(410, "Expired", "too old resource version: %d (%d)" % (resource_version, oldest - 1))
            for rv, event_type, obj in self._history:
                if rv > resource_version:
                    callback(event_type, clone(obj))
            return self.subscribe(callback)

    def snapshot_and_subscribe(self, callback: Callback) -> Tuple[List[dict], Callable[[], None]]:
        """All objects (to send as synthetic ADDED events) and a subscription, atomically."""
        with self._lock:
            objects = [clone(obj) for bucket in self._objects.values() for obj in bucket.values()]
            return objects, self.subscribe(callback)
