"""HTTP front end: the Kubernetes REST paths, discovery, auth, watch, status and scale subresources."""

import hmac
import http.server
import json
import queue
import threading
import time
import urllib.parse
from typing import Optional

import yaml

from . import errors, resources
from .patch import APPLY, PATCH_TYPES, STRATEGIC
from .selectors import parse_field_selector, parse_label_selector, selector_to_string
from .store import Store, clone
from .validation import schema_version

JSON_TYPE = "application/json"

# The options object each writing verb decodes from the query (and DELETE also from its body).
_OPTIONS_KINDS = {"POST": "CreateOptions", "PUT": "UpdateOptions", "PATCH": "PatchOptions", "DELETE": "DeleteOptions"}


class Request:
    """A parsed resource URL."""

    def __init__(self, rtype, version: str, namespace: Optional[str], name: Optional[str], subresource: Optional[str]):
        self.rtype = rtype
        self.version = version
        self.namespace = namespace
        self.name = name
        self.subresource = subresource

    @property
    def api_version(self) -> str:
        return self.rtype.api_version(self.version)


def _version_info() -> dict:
    version = schema_version().lstrip("v")
    major, minor = version.split(".")[:2]
    return {"major": major, "minor": minor, "gitVersion": "v%s-lab" % version, "gitCommit": "", "gitTreeState": "clean",
            "buildDate": "", "goVersion": "", "compiler": "gc", "platform": "linux/amd64"}


def _group_entry(name, versions):
    entries = [{"groupVersion": "%s/%s" % (name, v), "version": v} for v in versions]
    return {"name": name, "versions": entries, "preferredVersion": entries[0]}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "lab-apiserver"
    sys_version = ""

    # set on the subclass by ApiServer
    store: Store = None
    token: str = ""
    stopping: threading.Event = None

    def log_message(self, format, *args):  # noqa: A002 - keep the test output quiet
        pass

    # ------------------------------------------------------------------ plumbing
    def _send_json(self, code: int, body, warnings=()) -> None:
        data = json.dumps(body, separators=(",", ":")).encode()
        self.send_response(code)
        self.send_header("Content-Type", JSON_TYPE)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-cache, private")
        for warning in warnings:
            self.send_header("Warning", '299 - "%s"' % warning.replace('"', '\\"'))
        self.end_headers()
        self.wfile.write(data)

    def _send_error(self, error: errors.ApiError) -> None:
        self._send_json(error.code, error.status())

    def _body(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw:
            raise errors.bad_request("the body of the request is empty")
        content_type = (self.headers.get("Content-Type") or JSON_TYPE).split(";")[0].strip()
        try:
            if content_type in (APPLY, "application/yaml"):
                return yaml.safe_load(raw), content_type
            return json.loads(raw), content_type
        except (ValueError, yaml.YAMLError) as exc:
            raise errors.bad_request("the object provided is unrecognized: %s" % exc)

    def _authorized(self) -> bool:
        header = self.headers.get("Authorization") or ""
        if not header.startswith("Bearer "):
            return False
        return hmac.compare_digest(header[len("Bearer "):].strip().encode(), self.token.encode())

    def _dispatch(self, method: str) -> None:
        parsed = urllib.parse.urlsplit(self.path)
        self.query_lists = urllib.parse.parse_qs(parsed.query, keep_blank_values=True)
        self.query = {k: v[-1] for k, v in self.query_lists.items()}
        path = parsed.path.rstrip("/") or "/"
        try:
            if path in ("/healthz", "/readyz", "/livez"):
                return self._send_text(200, "ok")
            if not self._authorized():
                # Drain a request body so the keep-alive connection stays usable.
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                raise errors.unauthorized()
            if method == "GET" and self._discovery(path):
                return None
            request = self._parse(path)
            if request.subresource == "log" and method != "GET":
                raise errors.method_not_allowed()
            if method in _OPTIONS_KINDS:
                self._dry_run()  # the options are decoded and validated before anything else is looked at
            getattr(self, "_" + method.lower())(request)
        except errors.ApiError as error:
            self._send_error(error)
        except (BrokenPipeError, ConnectionResetError):
            pass
        except Exception as exc:  # pragma: no cover - a bug in the emulator must still answer like a server
            self._send_error(errors.ApiError(500, "InternalError", "lab apiserver: %s: %s" % (type(exc).__name__, exc)))
        return None

    def _send_text(self, code, text):
        data = text.encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):  # noqa: N802
        self._dispatch("GET")

    def do_POST(self):  # noqa: N802
        self._dispatch("POST")

    def do_PUT(self):  # noqa: N802
        self._dispatch("PUT")

    def do_PATCH(self):  # noqa: N802
        self._dispatch("PATCH")

    def do_DELETE(self):  # noqa: N802
        self._dispatch("DELETE")

    # ------------------------------------------------------------------ discovery
    def _discovery(self, path: str) -> bool:
        if path == "/version":
            self._send_json(200, _version_info())
        elif path == "/api":
            host = "%s:%d" % self.server.server_address[:2]
            self._send_json(200, {"kind": "APIVersions", "versions": ["v1"],
                                  "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": host}]})
        elif path == "/apis":
            self._send_json(200, {"kind": "APIGroupList", "apiVersion": "v1",
                                  "groups": [_group_entry(g, v) for g, v in resources.groups().items()]})
        elif path == "/api/v1":
            self._send_json(200, {"kind": "APIResourceList", "groupVersion": "v1", "resources": resources.discovery_resources("", "v1")})
        else:
            parts = path.strip("/").split("/")
            if parts[0] != "apis" or len(parts) not in (2, 3):
                return False
            known = resources.groups()
            if parts[1] not in known:
                raise errors.ApiError(404, "NotFound", "the server could not find the requested resource")
            if len(parts) == 2:
                body = _group_entry(parts[1], known[parts[1]])
                body.update(kind="APIGroup", apiVersion="v1")
                self._send_json(200, body)
            elif parts[2] in known[parts[1]]:
                self._send_json(200, {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "%s/%s" % (parts[1], parts[2]),
                                      "resources": resources.discovery_resources(parts[1], parts[2])})
            else:
                raise errors.ApiError(404, "NotFound", "the server could not find the requested resource")
        return True

    # ------------------------------------------------------------------ routing
    def _parse(self, path: str) -> Request:
        parts = path.strip("/").split("/")
        not_found = errors.ApiError(404, "NotFound", "the server could not find the requested resource")
        if parts[0] == "api" and len(parts) >= 3 and parts[1] == "v1":
            group, version, rest = "", "v1", parts[2:]
        elif parts[0] == "apis" and len(parts) >= 4:
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise not_found
        namespace = None
        if rest[0] == "namespaces" and len(rest) >= 3:
            ns_type = resources.by_plural(group, version, rest[2])
            if ns_type is not None and ns_type.namespaced:
                namespace, rest = rest[1], rest[2:]
        rtype = resources.by_plural(group, version, rest[0])
        if rtype is None or len(rest) > 3:
            raise not_found
        name = rest[1] if len(rest) > 1 else None
        subresource = rest[2] if len(rest) > 2 else None
        if subresource is not None and subresource not in rtype.subresources:
            raise not_found
        return Request(rtype, version, namespace, name, subresource)

    def _field_validation(self) -> str:
        value = self.query.get("fieldValidation") or "Warn"
        if value not in ("Strict", "Warn", "Ignore"):
            raise errors.bad_request("fieldValidation must be one of Strict, Warn or Ignore, got %r" % value)
        return value

    def _dry_run(self, extra=()) -> bool:
        """Whether the write is a dry run; any value but ``All`` is refused, as the real server does.

        ``extra``: the ``dryRun`` list of a DeleteOptions body.
        """
        values = list(self.query_lists.get("dryRun") or []) + list(extra or [])
        if any(value != "All" for value in values):
            raise errors.unsupported_dry_run(_OPTIONS_KINDS[self.command], values)
        return bool(values)

    def _list_kind(self, request: Request) -> dict:
        return {"kind": request.rtype.kind + "List", "apiVersion": request.api_version}

    def _list_items(self, request: Request, items):
        if request.rtype.builtin:
            # A real API server leaves apiVersion/kind out of the items of built-in lists.
            for item in items:
                item.pop("apiVersion", None)
                item.pop("kind", None)
        return items

    # ------------------------------------------------------------------ verbs
    def _get(self, request: Request) -> None:
        store, rtype = self.store, request.rtype
        if request.name is None:
            if self.query.get("watch") in ("1", "true", "True"):
                return self._watch(request)
            items, rv = store.list_with_version(request.api_version, rtype.kind, request.namespace, self.query.get("labelSelector"),
                                                self.query.get("fieldSelector"))
            body = self._list_kind(request)
            body["metadata"] = {"resourceVersion": rv}
            body["items"] = self._list_items(request, items)
            return self._send_json(200, body)
        obj = store.get(request.api_version, rtype.kind, request.namespace, request.name)
        if obj is None:
            raise errors.not_found(rtype, request.name)
        if request.subresource == "scale":
            return self._send_json(200, _scale_of(obj))
        if request.subresource == "log":
            return self._pod_log(obj)
        return self._send_json(200, obj)

    def _pod_log(self, pod: dict) -> None:
        containers = [c["name"] for c in pod["spec"].get("containers") or []]
        container = self.query.get("container") or (containers[0] if len(containers) == 1 else None)
        if container is None:
            raise errors.bad_request("a container name must be specified for pod %s, choose one of: %s"
                                     % (pod["metadata"]["name"], containers))
        if container not in containers:
            raise errors.bad_request("container %s is not valid for pod %s" % (container, pod["metadata"]["name"]))
        reader = self.store.pod_log_reader
        text = (reader(pod["metadata"]["namespace"], pod["metadata"]["name"], container) if reader else None) or ""
        tail = self.query.get("tailLines")
        if tail and tail.isdigit():
            lines = text.splitlines(True)
            text = "".join(lines[-int(tail):]) if int(tail) else ""
        self._send_text(200, text)

    def _complete_body(self, request: Request, body) -> dict:
        if not isinstance(body, dict):
            raise errors.bad_request("the object provided is unrecognized (must be a JSON object)")
        body.setdefault("apiVersion", request.api_version)
        body.setdefault("kind", request.rtype.kind)
        if body["apiVersion"] != request.api_version or body["kind"] != request.rtype.kind:
            raise errors.bad_request("the API version in the data (%s) does not match the expected API version (%s)"
                                     % (body["apiVersion"], request.api_version) if body["apiVersion"] != request.api_version
                                     else "%s in version %r cannot be handled as a %s" % (body["kind"], request.version, request.rtype.kind))
        metadata = body.setdefault("metadata", {})
        if not isinstance(metadata, dict):
            raise errors.bad_request("metadata must be an object")
        if request.rtype.namespaced:
            if metadata.get("namespace") and metadata["namespace"] != request.namespace:
                raise errors.bad_request("the namespace of the provided object does not match the namespace sent on the request")
            if request.namespace:
                metadata["namespace"] = request.namespace
        return body

    def _post(self, request: Request) -> None:
        if request.name is not None:
            raise errors.method_not_allowed()
        if request.rtype.namespaced and request.namespace is None:
            raise errors.ApiError(404, "NotFound", "the server could not find the requested resource")
        body, _ = self._body()
        body = self._complete_body(request, body)
        created = self.store.create(body, self._field_validation(), self._dry_run())
        self._send_json(201, created, self.store.last_warnings())

    def _put(self, request: Request) -> None:
        if request.name is None:
            raise errors.method_not_allowed()
        body, _ = self._body()
        if request.subresource == "scale":
            return self._put_scale(request, body)
        body = self._complete_body(request, body)
        if body["metadata"].get("name") != request.name:
            raise errors.bad_request("the name of the object (%s) does not match the name on the URL (%s)"
                                     % (body["metadata"].get("name"), request.name))
        if request.subresource == "status":
            updated = self.store.update_status(body, self._field_validation(), self._dry_run())
        else:
            updated = self.store.update(body, self._field_validation(), self._dry_run())
        self._send_json(200, updated, self.store.last_warnings())

    def _patch(self, request: Request) -> None:
        if request.name is None:
            raise errors.method_not_allowed()
        patch, content_type = self._body()
        if content_type == APPLY:
            return self._server_side_apply(request, patch)
        if content_type not in PATCH_TYPES:
            raise errors.unsupported_media_type(content_type)
        if request.subresource == "scale":
            return self._patch_scale(request, patch, content_type)
        patched = self.store.patch(request.api_version, request.rtype.kind, request.namespace, request.name, patch, content_type,
                                   subresource=request.subresource, field_validation=self._field_validation(), dry_run=self._dry_run())
        self._send_json(200, patched, self.store.last_warnings())

    def _server_side_apply(self, request: Request, applied) -> None:
        """Server-side apply without field ownership: create, or merge the applied configuration into the object."""
        applied = self._complete_body(request, applied)
        if applied["metadata"].get("name") != request.name:
            raise errors.bad_request("the name of the object (%s) does not match the name on the URL (%s)"
                                     % (applied["metadata"].get("name"), request.name))
        if not self.query.get("fieldManager"):
            raise errors.bad_request("PATCH requests with apply-patch+yaml require a fieldManager")
        existing = self.store.get(request.api_version, request.rtype.kind, request.namespace, request.name)
        if existing is None:
            result = self.store.create(applied, self._field_validation(), self._dry_run())
            return self._send_json(201, result, self.store.last_warnings())
        patch_type = STRATEGIC if request.rtype.builtin else "application/merge-patch+json"
        applied["metadata"].pop("resourceVersion", None)
        result = self.store.patch(request.api_version, request.rtype.kind, request.namespace, request.name, applied, patch_type,
                                  subresource=request.subresource, field_validation=self._field_validation(), dry_run=self._dry_run())
        self._send_json(200, result, self.store.last_warnings())

    def _delete(self, request: Request) -> None:
        options = {}
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            try:
                options = json.loads(self.rfile.read(length) or b"{}") or {}
            except ValueError as exc:
                raise errors.bad_request("invalid DeleteOptions: %s" % exc)
        propagation = self.query.get("propagationPolicy") or options.get("propagationPolicy") or "Background"
        dry_run = self._dry_run(options.get("dryRun") if isinstance(options.get("dryRun"), list) else ())
        store, rtype = self.store, request.rtype
        if request.name is None:
            items = store.list(request.api_version, rtype.kind, request.namespace, self.query.get("labelSelector"),
                               self.query.get("fieldSelector"))
            deleted = [store.delete(request.api_version, rtype.kind, i["metadata"].get("namespace"), i["metadata"]["name"],
                                    propagation, None, dry_run) for i in items]
            body = self._list_kind(request)
            body["metadata"] = {"resourceVersion": str(store.resource_version)}
            body["items"] = self._list_items(request, deleted)
            return self._send_json(200, body)
        if request.subresource is not None:
            raise errors.method_not_allowed()
        deleted = store.delete(request.api_version, rtype.kind, request.namespace, request.name, propagation,
                               options.get("preconditions"), dry_run)
        remaining = store.get(request.api_version, rtype.kind, request.namespace, request.name)
        if remaining is not None and remaining["metadata"]["uid"] == deleted["metadata"]["uid"] and not dry_run:
            return self._send_json(202, remaining)  # held by finalizers: marked for deletion only
        details = {"name": request.name, "kind": rtype.plural, "uid": deleted["metadata"]["uid"]}
        if rtype.group:
            details["group"] = rtype.group
        self._send_json(200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details})

    # ------------------------------------------------------------------ scale
    def _put_scale(self, request: Request, scale) -> None:
        if not isinstance(scale, dict):
            raise errors.bad_request("the object provided is unrecognized (must be a Scale)")
        self._write_scale(request, scale, (scale.get("metadata") or {}).get("resourceVersion"))

    def _patch_scale(self, request: Request, patch, content_type: str) -> None:
        obj = self.store.get(request.api_version, request.rtype.kind, request.namespace, request.name)
        if obj is None:
            raise errors.not_found(request.rtype, request.name)
        current = _scale_of(obj)
        patched = self.store.apply_patch(resources.by_kind("autoscaling/v2", "HorizontalPodAutoscaler"), current, patch,
                                         "application/merge-patch+json" if content_type == STRATEGIC else content_type)
        self._write_scale(request, patched, (patch.get("metadata") or {}).get("resourceVersion") if isinstance(patch, dict) else None)

    def _write_scale(self, request: Request, scale: dict, resource_version: Optional[str]) -> None:
        replicas = (scale.get("spec") or {}).get("replicas", 0)
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            raise errors.ApiError(422, "Invalid", 'Scale.autoscaling "%s" is invalid: spec.replicas: Invalid value: %s: must be greater than '
                                  'or equal to 0' % (request.name, json.dumps(replicas)),
                                  {"name": request.name, "group": "autoscaling", "kind": "Scale",
                                   "causes": [{"reason": "FieldValueInvalid", "field": "spec.replicas",
                                               "message": "Invalid value: %s: must be greater than or equal to 0" % json.dumps(replicas)}]})
        patch = {"spec": {"replicas": replicas}}
        if resource_version:
            patch["metadata"] = {"resourceVersion": resource_version}
        updated = self.store.patch(request.api_version, request.rtype.kind, request.namespace, request.name, patch,
                                   "application/merge-patch+json", dry_run=self._dry_run())
        self._send_json(200, _scale_of(updated))

    # ------------------------------------------------------------------ watch
    def _watch(self, request: Request) -> None:
        rtype = request.rtype
        labels_match = parse_label_selector(self.query.get("labelSelector"))
        fields_match = parse_field_selector(self.query.get("fieldSelector"), rtype.kind)
        timeout = float(self.query.get("timeoutSeconds") or 1800)
        events: "queue.Queue" = queue.Queue()

        def wanted(obj) -> bool:
            meta = obj["metadata"]
            return (obj.get("kind") == rtype.kind and obj.get("apiVersion", "").split("/")[0] == (rtype.group or obj.get("apiVersion"))
                    and (request.namespace is None or meta.get("namespace") == request.namespace)
                    and labels_match(meta.get("labels") or {}) and fields_match(obj))

        def on_event(event_type, obj):
            if wanted(obj):
                events.put((event_type, obj))

        since = self.query.get("resourceVersion")
        if since and since != "0":
            try:
                since_rv = int(since)
            except ValueError:
                raise errors.bad_request("invalid resourceVersion %r" % since)
            try:
                unsubscribe = self.store.watch_from(since_rv, on_event)
            except errors.ApiError as gone:
                self._start_chunked()
                self._write_event({"type": "ERROR", "object": gone.status()})
                self._end_chunked()
                return
        else:
            existing, unsubscribe = self.store.snapshot_and_subscribe(on_event)
            for obj in sorted(existing, key=lambda o: int(o["metadata"]["resourceVersion"])):
                if wanted(obj):
                    events.put(("ADDED", obj))
        try:
            self._start_chunked()
            deadline = time.monotonic() + timeout
            while not self.stopping.is_set() and time.monotonic() < deadline:
                try:
                    event_type, obj = events.get(timeout=0.2)
                except queue.Empty:
                    continue
                obj = clone(obj)
                obj["apiVersion"] = request.api_version
                self._write_event({"type": event_type, "object": obj})
            self._end_chunked()
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            unsubscribe()
        self.close_connection = True

    def _start_chunked(self):
        self.send_response(200)
        self.send_header("Content-Type", JSON_TYPE)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def _write_event(self, event):
        data = json.dumps(event, separators=(",", ":")).encode() + b"\n"
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _end_chunked(self):
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


def _scale_of(obj: dict) -> dict:
    meta = obj["metadata"]
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp") if k in meta},
        "spec": {"replicas": (obj.get("spec") or {}).get("replicas", 0)},
        "status": {"replicas": (obj.get("status") or {}).get("replicas", 0),
                   "selector": selector_to_string((obj.get("spec") or {}).get("selector"))},
    }


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, *args, **kwargs):
        self._connections = set()
        self._connections_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def process_request(self, request, client_address):
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request):
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Drop open keep-alive and watch connections, so a stopped server answers nobody."""
        import socket

        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
