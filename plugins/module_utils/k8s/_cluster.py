# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one Cluster: reads and writes of objects as dicts through kubernetes.core's K8SClient.

get / list / create / replace / merge-patch / JSON-patch / delete / wait, every error mapped to
one message (``_errors``). Two write policies, chosen by the caller:

- ``write`` (and ``patch``): a JSON merge patch guarded by the resourceVersion read; on a 409 the
  patch is sent again on the new version when the other change touched none of its fields
  ("retry on a non-overlapping 409").
- ``create`` / ``replace`` / ``ObjectAccess``: the object as read, replaced whole; any 409 raises
  ``Conflict`` ("fail on any 409"), and the caller decides again on what the other writer wrote.

In check mode ``write`` computes, not sends; within ``dry_run_writes()`` writes are sent as
server-side dry runs (``dryRun=All``, ``fieldValidation=Strict``): validated and admission-checked
as real writes, stored nowhere.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import copy
import os
import traceback

from ansible.module_utils.common.text.converters import to_text

from ansible_collections.progressive.delivery.plugins.module_utils import _kubeconfig
from ansible_collections.progressive.delivery.plugins.module_utils._errors import CanaryError
from ansible_collections.progressive.delivery.plugins.module_utils.k8s._errors import (
    NOTHING_WRITTEN,
    ClusterError,
    Conflict,
    api_error_message,
    api_reason,
    unreachable_message,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s._objects import (
    describe,
    merge_patch,
    patches_overlap,
    strip_object,
    without_paths,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s._waiter import get_waiter

K8S_CORE_IMPORT_ERROR = None
try:
    from ansible_collections.kubernetes.core.plugins.module_utils.k8s.client import get_api_client
except ImportError:
    K8S_CORE_IMPORT_ERROR = traceback.format_exc()

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
JSON_PATCH = "application/json-patch+json"


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
        raise ClusterError(api_error_message(exc, "connect to", "the cluster", host))
    except Urllib3Error as exc:
        raise ClusterError(unreachable_message(exc, "connect to", "the cluster", host))
    except Exception as exc:  # pylint: disable=broad-exception-caught
        # kubernetes.core's CoreException, and the plain exceptions of kubernetes' config loader.
        raise ClusterError(_kubeconfig.explain(module.params, os.environ, to_text(exc), _default_kubeconfig(), os.getcwd()))


def _to_dict(instance):
    if instance is None:
        return None
    return instance.to_dict() if hasattr(instance, "to_dict") else dict(instance)


def _what(kind, namespace, name):
    return "%s %s/%s" % (kind, namespace, name) if namespace else "%s %s" % (kind, name)


class Cluster(object):
    """Read and write whole objects as dicts; in check mode ``write`` computes, not sends."""

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
        message = api_error_message(exc, action, what, self.host)
        return ClusterError("%s; %s" % (message, NOTHING_WRITTEN) if self.dry_run else message)

    def _call(self, action, what, func, *args, **kwargs):
        try:
            return func(*args, **kwargs)
        except ApiException as exc:
            raise self._api_error(exc, action, what)
        except Urllib3Error as exc:
            raise ClusterError(unreachable_message(exc, action, what, self.host))

    def resource(self, api_version, kind):
        key = (api_version, kind)
        if key not in self._resources:
            try:
                self._resources[key] = self._call("discover", "%s %s" % (api_version, kind), self.client.resource, kind, api_version)
            except ResourceNotFoundError:
                raise ClusterError("the cluster does not serve %s %s; install the CRDs that define it (Istio for networking.istio.io)"
                                   % (api_version, kind))
        return self._resources[key]

    # -- reads

    def get(self, api_version, kind, namespace, name):
        """The object as a dict, None when there is none (404)."""
        resource = self.resource(api_version, kind)
        try:
            result = self.client.get(resource, name=name, namespace=namespace)
        except ApiException as exc:
            if getattr(exc, "status", None) == 404:
                return None
            raise ClusterError(api_error_message(exc, "read", _what(kind, namespace, name), self.host))
        except Urllib3Error as exc:
            raise ClusterError(unreachable_message(exc, "read", _what(kind, namespace, name), self.host))
        return _to_dict(result)

    def list(self, api_version, kind, namespace, label_selector=None):
        resource = self.resource(api_version, kind)
        params = {"label_selector": label_selector} if label_selector else {}
        result = self._call("list", "%s in namespace %s" % (kind, namespace), self.client.get, resource, namespace=namespace, **params)
        return result.to_dict().get("items") or []

    def pod_log(self, namespace, name, container, tail_lines, limit_bytes, previous=False):
        """The last lines of a container's log (``pods/log``, served by the kubelet through the API server); ClusterError when unreadable."""
        query = {"container": container, "tailLines": tail_lines, "limitBytes": limit_bytes}
        if previous:
            query["previous"] = "true"
        try:
            response = self.resource("v1", "Pod").log.get(name=name, namespace=namespace, serialize=False, query_params=query)
        except ApiException as exc:
            # Short on purpose: the caller quotes it inside a longer reason ("logs unavailable (...)").
            reason = to_text(api_reason(exc))
            if reason.startswith('Get "') and '": ' in reason:
                reason = reason.split('": ', 1)[1]  # the kubelet URL the API server tried: long, and says nothing new
            raise ClusterError("HTTP %s: %s" % (getattr(exc, "status", None), reason[:160]))
        except Urllib3Error as exc:
            raise ClusterError(to_text(getattr(exc, "reason", None) or exc))
        data = getattr(response, "data", response)
        return data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data)

    def require_namespace(self, namespace):
        if self.get("v1", "Namespace", None, namespace) is None:
            raise CanaryError("namespace %s does not exist; create it or fix the namespace option" % namespace, field="namespace")

    # -- writes, "fail on any 409"

    def _guarded(self, action, obj, func, *args, **kwargs):
        try:
            return _to_dict(func(*args, **kwargs))
        except ApiException as exc:
            if getattr(exc, "status", None) == 409:
                raise Conflict(api_reason(exc))
            raise self._api_error(exc, action, describe(obj))
        except Urllib3Error as exc:
            raise ClusterError(unreachable_message(exc, action, describe(obj), self.host))

    def create(self, obj):
        """POST ``obj``; Conflict when it exists (409 AlreadyExists: somebody created it after our read)."""
        resource = self.resource(obj["apiVersion"], obj["kind"])
        result = self._guarded("create", obj, self.client.create, resource, obj, namespace=obj["metadata"].get("namespace"),
                               **self._write_params())
        if self.dry_run:
            self._dry_run_created.add(self._key(obj))
        return result

    def replace(self, obj):
        """PUT ``obj`` with the resourceVersion it carries; Conflict when the object changed since it was read."""
        resource = self.resource(obj["apiVersion"], obj["kind"])
        metadata = obj["metadata"]
        return self._guarded("replace", obj, self.client.replace, resource, obj, name=metadata["name"],
                             namespace=metadata.get("namespace"), **self._write_params())

    def json_patch(self, obj, operations):
        """An RFC 6902 JSON patch of ``obj`` (a ``test`` operation makes it conditional); Conflict on a 409."""
        resource = self.resource(obj["apiVersion"], obj["kind"])
        metadata = obj["metadata"]
        return self._guarded("patch", obj, self.client.patch, resource, operations, name=metadata["name"],
                             namespace=metadata.get("namespace"), content_type=JSON_PATCH, **self._write_params())

    def delete(self, api_version, kind, namespace, name):
        """Delete the object; False when there was none."""
        resource = self.resource(api_version, kind)
        what = _what(kind, namespace, name)
        try:
            self.client.delete(resource, name=name, namespace=namespace, **self._write_params())
        except ApiException as exc:
            if getattr(exc, "status", None) == 404:
                return False
            raise self._api_error(exc, "delete", what)
        except Urllib3Error as exc:
            raise ClusterError(unreachable_message(exc, "delete", what, self.host))
        return True

    # -- writes, "retry on a non-overlapping 409"

    def write(self, existing, new, changes, claimed=()):
        """Create ``new`` or patch ``existing`` into it; record the change and return ``new``.

        ``claimed``: dotted paths this write takes over whatever another writer put there meanwhile
        (``spec.replicas``, which the HPA and the user also write, when the canary is scaled).

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
                self._patch(existing, patch, claimed=claimed)
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

    def _patch(self, existing, patch, attempts=5, claimed=()):
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
                return self.client.patch(resource, guarded, name=metadata["name"], namespace=metadata.get("namespace"),
                                         content_type=MERGE_PATCH, **self._write_params())
            except ApiException as exc:
                if getattr(exc, "status", None) != 409 or attempt == attempts - 1:
                    raise self._api_error(exc, "update", what)
                current = self.get(existing["apiVersion"], existing["kind"], metadata.get("namespace"), metadata["name"])
                if current is None:
                    raise ClusterError("%s was deleted while this task ran; run the task again" % what)
                if patches_overlap(without_paths(merge_patch(base, strip_object(current)), claimed), patch):
                    raise self._api_error(exc, "update", what)
                version = current["metadata"].get("resourceVersion")
            except Urllib3Error as exc:
                raise ClusterError(unreachable_message(exc, "update", what, self.host))
        return None

    # -- waits

    def wait_for(self, api_version, kind, namespace, name, predicate, timeout):
        """Poll until ``predicate(obj)`` returns ``(True, msg)``; return ``(done, msg, obj)``."""
        return get_waiter(self, api_version, kind, predicate=predicate).wait(namespace, name, timeout)

    def wait_ready(self, api_version, kind, namespace, name, timeout):
        """Wait with the kind's readiness predicate (``_waiter.READY``); a no-op in check mode."""
        return get_waiter(self, api_version, kind, check_mode=self.check_mode).wait(namespace, name, timeout)

    def objects(self, api_version, kind):
        return ObjectAccess(self, api_version, kind)


class ObjectAccess(object):
    """get / create / replace / delete of the objects of one kind, with the "fail on any 409" policy."""

    def __init__(self, cluster, api_version, kind):
        self.cluster = cluster
        self.api_version = api_version
        self.kind = kind

    def get(self, namespace, name):
        return self.cluster.get(self.api_version, self.kind, namespace, name)

    def create(self, obj):
        return self.cluster.create(obj)

    def replace(self, obj):
        return self.cluster.replace(obj)

    def delete(self, namespace, name):
        return self.cluster.delete(self.api_version, self.kind, namespace, name)
