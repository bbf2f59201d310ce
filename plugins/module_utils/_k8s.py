# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The module wrapper shared by the cluster modules: kubernetes.core client, arguments, errors.

Reads and writes go through kubernetes.core's client. Writes are a POST for a new object or a JSON
merge patch (with the read resourceVersion as precondition) for an existing one, computed
locally; in check mode nothing is sent and the computed object is the predicted result.

A real run is rehearsed first: the operation runs once as in check mode, but with every write sent
to the API server as a dry run (``dryRun=All``, ``fieldValidation=Strict``), so the server validates
(and admission-checks) every object the task writes before the first one is written for real. Only
when all of them pass does the operation run again for real; an object the server refuses, even the
last one, leaves nothing behind.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import copy
import os
import time
import traceback

from ansible.module_utils.basic import missing_required_lib
from ansible.module_utils.common.text.converters import to_text

from ansible_collections.progressive.delivery.plugins.module_utils import _kubeconfig
from ansible_collections.progressive.delivery.plugins.module_utils._errors import CanaryError
from ansible_collections.progressive.delivery.plugins.module_utils.state import lock as lk
from ansible_collections.progressive.delivery.plugins.module_utils.state._cluster import hold_lock

K8S_CORE_IMPORT_ERROR = None
try:
    from ansible_collections.kubernetes.core.plugins.module_utils.args_common import AUTH_ARG_SPEC
    from ansible_collections.kubernetes.core.plugins.module_utils.k8s.client import get_api_client
    from ansible_collections.kubernetes.core.plugins.module_utils.k8s.core import AnsibleK8SModule
except ImportError:
    K8S_CORE_IMPORT_ERROR = traceback.format_exc()
    AUTH_ARG_SPEC = {}
    AnsibleK8SModule = None

KUBERNETES_IMPORT_ERROR = None
try:
    from kubernetes.client.rest import ApiException
    from kubernetes.dynamic.exceptions import ResourceNotFoundError
    from urllib3.exceptions import HTTPError as Urllib3Error
except ImportError:
    KUBERNETES_IMPORT_ERROR = traceback.format_exc()

    class ApiException(Exception):
        status = None

    class ResourceNotFoundError(Exception):
        pass

    class Urllib3Error(Exception):
        pass


MERGE_PATCH = "application/merge-patch+json"

_VOLATILE_METADATA = ("resourceVersion", "uid", "creationTimestamp", "generation", "managedFields", "selfLink")


def common_argument_spec():
    """kubernetes.core's auth options plus namespace / target / service_name."""
    spec = copy.deepcopy(AUTH_ARG_SPEC)
    spec.update(
        namespace=dict(type="str", required=True),
        target=dict(type="str", required=True),
        service_name=dict(type="str"),
    )
    spec.update(copy.deepcopy(lk.FENCE_ARG_SPEC))
    return spec


def routing_argument_spec():
    """The options that say how the managed routes of the VirtualService are found.

    ``destination_host`` is not called ``host``: that is kubernetes.core's API server option.
    """
    return dict(
        mode=dict(type="str", default="host", choices=["host", "subset"]),
        destination_host=dict(type="str"),
        primary_subset=dict(type="str", default="primary"),
        canary_subset=dict(type="str", default="canary"),
        route_name=dict(type="str"),
    )


# ---------------------------------------------------------------------------------------------
# Pure helpers (unit-tested without a cluster)


def _drop_nulls(value):
    # A null means "absent" to a merge patch (the API server shows e.g. template creationTimestamp: null).
    if isinstance(value, dict):
        return dict((key, _drop_nulls(item)) for key, item in value.items() if item is not None)
    if isinstance(value, list):
        return [_drop_nulls(item) for item in value]
    return value


def strip_object(obj):
    """``obj`` without status, nulls and server-maintained metadata: what a diff and a patch compare."""
    if obj is None:
        return None
    result = _drop_nulls(obj)
    result.pop("status", None)
    metadata = result.get("metadata") or {}
    for key in _VOLATILE_METADATA:
        metadata.pop(key, None)
    annotations = metadata.get("annotations")
    if annotations is not None:
        annotations.pop("kubectl.kubernetes.io/last-applied-configuration", None)
        if not annotations:
            metadata.pop("annotations")
    return result


def merge_patch(old, new):
    """The RFC 7386 JSON merge patch that turns ``old`` into ``new`` (lists are replaced whole)."""
    patch = {}
    for key in old:
        if key not in new:
            patch[key] = None
    for key, value in new.items():
        if key not in old:
            patch[key] = copy.deepcopy(value)
        elif isinstance(value, dict) and isinstance(old[key], dict):
            nested = merge_patch(old[key], value)
            if nested:
                patch[key] = nested
        elif value != old[key]:
            patch[key] = copy.deepcopy(value)
    return patch


def patches_overlap(first, second):
    """Whether two merge patches set any common field (a list or scalar counts as one field)."""
    for key in set(first) & set(second):
        if not (isinstance(first[key], dict) and isinstance(second[key], dict)) or patches_overlap(first[key], second[key]):
            return True
    return False


def overlay(existing, desired, replace=()):
    """``existing`` with ``desired`` written over it.

    Mappings merge key by key (so server defaults and other people's labels stay); lists and the
    dotted paths in ``replace`` are taken from ``desired`` whole.
    """
    def merge(current, wanted, path):
        if path in replace or not isinstance(current, dict) or not isinstance(wanted, dict):
            return copy.deepcopy(wanted)
        result = copy.deepcopy(current)
        for key, value in wanted.items():
            child = "%s.%s" % (path, key) if path else key
            result[key] = merge(current.get(key), value, child) if key in current else copy.deepcopy(value)
        return result
    return merge(existing, desired, "")


def describe(obj):
    return "%s %s/%s" % (obj.get("kind"), (obj.get("metadata") or {}).get("namespace"), (obj.get("metadata") or {}).get("name"))


def object_key(obj):
    return "%s/%s" % (obj.get("kind"), (obj.get("metadata") or {}).get("name"))


class Changes(object):
    """What a module run did (or, in check mode, would do) to each object, and the diff."""

    def __init__(self):
        self.objects = []
        self.before = {}
        self.after = {}

    def record(self, obj, action, before=None, after=None):
        self.objects.append({"kind": obj["kind"], "name": obj["metadata"]["name"], "action": action})
        if action != "unchanged":
            key = object_key(obj)
            self.before[key] = strip_object(before) if before is not None else {}
            self.after[key] = strip_object(after) if after is not None else {}

    @property
    def changed(self):
        return any(item["action"] != "unchanged" for item in self.objects)

    def diff(self):
        return {"before": self.before, "after": self.after}


# ---------------------------------------------------------------------------------------------
# The module and cluster wrappers


class ClusterError(Exception):
    """An API call failed; the message says what was attempted and what to check."""


class RolloutInterrupted(Exception):
    """An operator's request (abort, promote) is pending: a fenced run must not raise the weight."""

    def __init__(self, message, request, run=None):
        super(RolloutInterrupted, self).__init__(message)
        self.request = request
        self.run = run or {}


def _api_name(host):
    return "the Kubernetes API at %s" % host if host else "the Kubernetes API"


def _api_error_message(exc, action, what, host):
    status = getattr(exc, "status", None)
    reason = _api_reason(exc)
    if status == 401:
        return ("%s rejected the credentials (401 Unauthorized) when trying to %s %s: "
                "check api_key, the kubeconfig/context or the K8S_AUTH_* variables" % (_api_name(host), action, what))
    if status == 403:
        return ("%s refused to %s %s (403 Forbidden: %s): grant the account RBAC permission for it"
                % (_api_name(host), action, what, reason))
    if status == 409:
        return ("%s was changed by someone else while this task ran, in a field this task also sets (409 Conflict: %s); "
                "nothing else was written after it: run the task again" % (what, reason))
    if status == 422 or status == 400:
        return "the Kubernetes API rejected %s %s (%s): %s" % (action, what, status, reason)
    return "failed to %s %s (HTTP %s): %s" % (action, what, status, reason)


def _unreachable_message(exc, action, what, host=None):
    pool = getattr(exc, "pool", None)
    if pool is not None and getattr(pool, "host", None):
        host = "%s://%s:%s" % (getattr(pool, "scheme", "http"), pool.host, pool.port)
    reason = getattr(exc, "reason", None) or exc
    return ("cannot reach %s while trying to %s %s (%s); check host/kubeconfig and that the API server is running"
            % (_api_name(host), action, what, to_text(reason)))


def _api_reason(exc):
    body = getattr(exc, "body", None)
    if body:
        try:
            import json
            return json.loads(body).get("message") or to_text(body)
        except (ValueError, AttributeError):
            return to_text(body)
    return to_text(getattr(exc, "reason", None) or exc)


_NOTHING_WRITTEN = "nothing was written (every object of the task is sent to the API server as a dry run first)"


def _default_kubeconfig():
    try:
        from kubernetes.config import kube_config
    except ImportError:
        return None
    return kube_config.KUBE_CONFIG_DEFAULT_LOCATION


def connect(module):
    """kubernetes.core's client for ``module`` (an AnsibleK8SModule); ClusterError saying what to fix when none can be made.

    A missing kubeconfig names the path and whether the kubeconfig option, K8S_AUTH_KUBECONFIG or the
    default set it; a missing context names the context and the kubeconfig (see ``_kubeconfig``).
    """
    host = module.params.get("host")
    try:
        # kubernetes.core's client runs discovery here: credentials and reachability fail first here.
        return get_api_client(module=module)
    except ApiException as exc:
        raise ClusterError(_api_error_message(exc, "connect to", "the cluster", host))
    except Urllib3Error as exc:
        raise ClusterError(_unreachable_message(exc, "connect to", "the cluster", host))
    except Exception as exc:  # pylint: disable=broad-exception-caught
        # kubernetes.core's CoreException, and the plain exceptions of kubernetes' config loader.
        raise ClusterError(_kubeconfig.explain(module.params, os.environ, to_text(exc), _default_kubeconfig(), os.getcwd()))


class Cluster(object):
    """Read and write whole objects as dicts; in check mode writes are computed, not sent.

    Within ``dry_run_writes()`` writes are sent as server-side dry runs: the API server validates
    and admission-checks them as real writes and stores nothing.
    """

    # Query parameters of a dry-run write: nothing stored, and a field the server's schema does not
    # know is an error (a real write would drop it with a warning and the object would never match).
    DRY_RUN = {"dry_run": "All"}
    DRY_RUN_QUERY = [("fieldValidation", "Strict")]

    def __init__(self, client, check_mode=False, poll_interval=0.5):
        self.client = client
        self.check_mode = check_mode
        self.poll_interval = poll_interval
        self.host = getattr(getattr(client, "configuration", None), "host", None)
        self.dry_run = False
        self._dry_run_created = set()
        self._resources = {}
        # Proves the run still owns the rollout's lock (CanaryModule.cluster sets it from the fence option): called
        # before the first real write of the task, not for the dry runs that rehearse it.
        self.fence = None
        self._fenced = False

    @contextlib.contextmanager
    def dry_run_writes(self):
        """Send every write of the block as a dry run (``dryRun=All``): validated by the server, not stored."""
        self.dry_run = True
        self._dry_run_created = set()
        try:
            yield self
        finally:
            self.dry_run = False

    def _write_params(self):
        if not self.dry_run:
            return {}
        params = dict(self.DRY_RUN)
        params["query_params"] = list(self.DRY_RUN_QUERY)
        return params

    def _api_error(self, exc, action, what):
        message = _api_error_message(exc, action, what, self.host)
        return ClusterError("%s; %s" % (message, _NOTHING_WRITTEN) if self.dry_run else message)

    def _call(self, action, what, func, *args, **kwargs):
        try:
            return func(*args, **kwargs)
        except ApiException as exc:
            raise self._api_error(exc, action, what)
        except Urllib3Error as exc:
            raise ClusterError(_unreachable_message(exc, action, what, self.host))

    def resource(self, api_version, kind):
        key = (api_version, kind)
        if key not in self._resources:
            try:
                self._resources[key] = self._call("discover", "%s %s" % (api_version, kind), self.client.resource, kind, api_version)
            except ResourceNotFoundError:
                raise ClusterError("the cluster does not serve %s %s; install the CRDs that define it (Istio for networking.istio.io)"
                                   % (api_version, kind))
        return self._resources[key]

    def get(self, api_version, kind, namespace, name):
        resource = self.resource(api_version, kind)
        what = "%s %s/%s" % (kind, namespace, name) if namespace else "%s %s" % (kind, name)
        try:
            result = self.client.get(resource, name=name, namespace=namespace)
        except ApiException as exc:
            if getattr(exc, "status", None) == 404:
                return None
            raise ClusterError(_api_error_message(exc, "read", what, self.host))
        except Urllib3Error as exc:
            raise ClusterError(_unreachable_message(exc, "read", what, self.host))
        return result.to_dict()

    def list(self, api_version, kind, namespace):
        resource = self.resource(api_version, kind)
        result = self._call("list", "%s in namespace %s" % (kind, namespace), self.client.get, resource, namespace=namespace)
        return result.to_dict().get("items") or []

    def require_namespace(self, namespace):
        if self.get("v1", "Namespace", None, namespace) is None:
            raise CanaryError("namespace %s does not exist; create it or fix the namespace option" % namespace, field="namespace")

    def write(self, existing, new, changes):
        """Create ``new`` or patch ``existing`` into it; record the change and return ``new``.

        The object returned and shown in the diff is the one computed here, in check mode and for
        real alike, so a check run predicts exactly what a real run reports. Server defaults are
        not part of it; whoever needs them reads the object again.
        """
        if self.fence is not None and not self.dry_run and not self._fenced:
            self._fenced = True
            self.fence()
        if existing is None:
            if not self.check_mode:
                self._create(new)
            changes.record(new, "created", None, new)
            return new
        patch = merge_patch(strip_object(existing), strip_object(new))
        if not patch:
            changes.record(existing, "unchanged")
            return existing
        if not self.check_mode:
            if self.dry_run and self._key(existing) in self._dry_run_created:
                self._create(new)  # created by this dry run, so not stored: the server can only judge it whole
            else:
                self._patch(existing, patch)
        changes.record(existing, "updated", existing, new)
        return new

    @staticmethod
    def _key(obj):
        metadata = obj.get("metadata") or {}
        return (obj.get("apiVersion"), obj.get("kind"), metadata.get("namespace"), metadata.get("name"))

    def _create(self, new):
        resource = self.resource(new["apiVersion"], new["kind"])
        self._call("create", describe(new), self.client.create, resource, new, namespace=new["metadata"].get("namespace"),
                   **self._write_params())
        if self.dry_run:
            self._dry_run_created.add(self._key(new))

    def _patch(self, existing, patch, attempts=5):
        """Send ``patch`` guarded by the resourceVersion it was computed from.

        When the object changed meanwhile (controllers write status and annotations all the time),
        the patch is sent again on the new version only if the other change touched none of the
        fields the patch sets: a three-way merge that never overwrites someone else's edit.
        """
        metadata = existing["metadata"]
        what = describe(existing)
        resource = self.resource(existing["apiVersion"], existing["kind"])
        base = strip_object(existing)
        version = metadata.get("resourceVersion")
        for attempt in range(attempts):
            guarded = copy.deepcopy(patch)
            guarded.setdefault("metadata", {})["resourceVersion"] = version
            try:
                return self.client.client.patch(resource, guarded, name=metadata["name"], namespace=metadata.get("namespace"),
                                                content_type=MERGE_PATCH, **self._write_params())
            except ApiException as exc:
                if getattr(exc, "status", None) != 409 or attempt == attempts - 1:
                    raise self._api_error(exc, "update", what)
                current = self.get(existing["apiVersion"], existing["kind"], metadata.get("namespace"), metadata["name"])
                if current is None:
                    raise ClusterError("%s was deleted while this task ran; run the task again" % what)
                if patches_overlap(merge_patch(base, strip_object(current)), patch):
                    raise self._api_error(exc, "update", what)
                version = current["metadata"].get("resourceVersion")
            except Urllib3Error as exc:
                raise ClusterError(_unreachable_message(exc, "update", what, self.host))
        return None

    def wait_for(self, api_version, kind, namespace, name, predicate, timeout):
        """Poll until ``predicate(obj)`` returns ``(True, msg)``; return ``(done, msg, obj)``."""
        deadline = time.time() + timeout
        while True:
            obj = self.get(api_version, kind, namespace, name)
            done, message = predicate(obj) if obj is not None else (False, "%s %s/%s does not exist" % (kind, namespace, name))
            if done or time.time() >= deadline:
                return done, message, obj
            time.sleep(self.poll_interval)


class CanaryModule(object):
    """AnsibleModule (through kubernetes.core's AnsibleK8SModule) plus a connected Cluster."""

    def __init__(self, argument_spec, rehearse=True, **kwargs):
        """``rehearse=False`` for a task that must write what it can even if a later write is refused (a rollback)."""
        if AnsibleK8SModule is None:
            from ansible.module_utils.basic import AnsibleModule
            module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True, **kwargs)
            module.fail_json(msg=missing_required_lib("the kubernetes.core collection"), exception=K8S_CORE_IMPORT_ERROR)
        self.module = AnsibleK8SModule(argument_spec=argument_spec, supports_check_mode=True, **kwargs)
        self._cluster = None
        self._rehearsing = False
        self._rehearse = rehearse

    @property
    def params(self):
        return self.module.params

    @property
    def check_mode(self):
        """True in check mode, and while a real run is rehearsed with dry-run writes (nothing is waited for)."""
        return self.module.check_mode or self._rehearsing

    @property
    def diff_mode(self):
        return self.module._diff

    @property
    def cluster(self):
        if self._cluster is None:
            try:
                client = connect(self.module)
            except ClusterError as exc:
                self.fail(to_text(exc))
            self._cluster = Cluster(client, check_mode=self.module.check_mode)
            fence = self.params.get("fence")
            if fence:
                params = self.params
                self._cluster.fence = lambda: hold_lock(client, params["target"], params["namespace"], fence, check_mode=self.check_mode)
        return self._cluster

    def fail(self, msg, **kwargs):
        self.module.fail_json(msg=msg, **kwargs)

    def rehearse(self, func):
        """Run ``func(self)`` as in check mode, every write sent to the API server as a dry run; discard its result."""
        self._rehearsing = True
        try:
            with self.cluster.dry_run_writes():
                func(self)
        finally:
            self._rehearsing = False

    def run(self, func):
        """Run ``func(self)`` -> result dict; map our errors to a failed result.

        For real (not in check mode) the run is rehearsed first (see ``rehearse``), so nothing is
        written unless the API server accepts every object the task writes.
        """
        try:
            if self._rehearse and not self.module.check_mode:
                self.rehearse(func)
            result = func(self)
        except CanaryError as exc:
            self.fail(exc.message, field=exc.field)
        except lk.LockLost as exc:
            self.fail(to_text(exc), holder=exc.holder, lock_lost=True)
        except RolloutInterrupted as exc:
            self.fail(to_text(exc), interrupted=exc.request, requested_by=exc.run.get("requested_by"),
                      request_reason=exc.run.get("requested_reason"))
        except ClusterError as exc:
            self.fail(to_text(exc))
        self.module.exit_json(**result)
