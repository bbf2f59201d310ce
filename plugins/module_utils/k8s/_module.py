# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The module wrapper of every cluster module (as amazon.aws's AnsibleAWSModule).

``CanaryModule`` wraps kubernetes.core's AnsibleK8SModule: it adds kubernetes.core's auth
options to the module's own, connects one ``Cluster`` (with the fence from the ``fence`` option),
and maps every error the core raises to one failed result whose message says what to fix.

A real run is rehearsed first: the operation runs once as in check mode, but with every write sent
to the API server as a dry run (``dryRun=All``, ``fieldValidation=Strict``), so the server validates
(and admission-checks) every object the task writes before the first one is written for real. Only
when all of them pass does the operation run again for real; an object the server refuses, even the
last one, leaves nothing behind. ``rehearse=False`` for a task that must write what it can even if a
later write is refused (a rollback), or that writes one object with its own conflict policy.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import traceback

from ansible.module_utils.basic import missing_required_lib
from ansible.module_utils.common.text.converters import to_text

from ansible_collections.progressive.delivery.plugins.module_utils._errors import CanaryError
from ansible_collections.progressive.delivery.plugins.module_utils.k8s._cluster import Cluster, connect
from ansible_collections.progressive.delivery.plugins.module_utils.k8s._errors import ClusterError, RolloutInterrupted, api_reason
from ansible_collections.progressive.delivery.plugins.module_utils.k8s._fence import hold_lock
from ansible_collections.progressive.delivery.plugins.module_utils.state import lock as lk
from ansible_collections.progressive.delivery.plugins.module_utils.state import status as st

K8S_CORE_IMPORT_ERROR = None
try:
    from ansible_collections.kubernetes.core.plugins.module_utils.args_common import AUTH_ARG_SPEC
    from ansible_collections.kubernetes.core.plugins.module_utils.k8s.core import AnsibleK8SModule
    from ansible_collections.kubernetes.core.plugins.module_utils.k8s.exceptions import CoreException
except ImportError:
    K8S_CORE_IMPORT_ERROR = traceback.format_exc()
    AUTH_ARG_SPEC = {}
    AnsibleK8SModule = None

    class CoreException(Exception):
        pass


def target_argument_spec(service_name=True, fence=True):
    """namespace / target (/ service_name) (/ fence): the options that say which canary a module works on."""
    spec = dict(
        namespace=dict(type="str", required=True),
        target=dict(type="str", required=True),
    )
    if service_name:
        spec["service_name"] = dict(type="str")
    if fence:
        spec.update(copy.deepcopy(lk.FENCE_ARG_SPEC))
    return spec


class CanaryModule(object):
    """AnsibleModule (through kubernetes.core's AnsibleK8SModule) plus a connected Cluster.

    ``options`` are the module's own; kubernetes.core's auth options and the canary's
    (``namespace``, ``target``, and unless turned off ``service_name`` and ``fence``: doc fragments
    progressive.delivery.target and progressive.delivery.fence) are added here.
    """

    def __init__(self, options, service_name=True, fence=True, rehearse=True, name=None, **kwargs):
        spec = copy.deepcopy(AUTH_ARG_SPEC)
        spec.update(target_argument_spec(service_name=service_name, fence=fence))
        spec.update(options)
        if AnsibleK8SModule is None:
            from ansible.module_utils.basic import AnsibleModule
            module = AnsibleModule(argument_spec=spec, supports_check_mode=True, **kwargs)
            module.fail_json(msg=missing_required_lib("the kubernetes.core collection"), exception=K8S_CORE_IMPORT_ERROR)
        self.module = AnsibleK8SModule(argument_spec=spec, supports_check_mode=True, **kwargs)
        self.name = name or "progressive.delivery"
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
                self._cluster.fence = self.hold_lock
        return self._cluster

    def hold_lock(self):
        """Prove and renew the lock the ``fence`` option names (see ``_fence.hold_lock``); the Lease."""
        params = self.params
        return hold_lock(self.cluster, params["target"], params["namespace"], params["fence"], check_mode=self.check_mode)

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
        """Run ``func(self)`` -> result dict; map every error to one failed result.

        For real (not in check mode) the run is rehearsed first (see ``rehearse``), so nothing is
        written unless the API server accepts every object the task writes.
        """
        try:
            if self._rehearse and not self.module.check_mode:
                self.rehearse(func)
            result = func(self)
        except CanaryError as exc:
            self.fail(exc.message, field=exc.field)
        except (lk.LockLost, lk.LockHeld) as exc:
            extra = {"lock_lost": True} if isinstance(exc, lk.LockLost) else {}
            self.fail(to_text(exc), holder=exc.holder, **extra)
        except RolloutInterrupted as exc:
            self.fail(to_text(exc), interrupted=exc.request, requested_by=exc.run.get("requested_by"),
                      request_reason=exc.run.get("requested_reason"))
        except (ClusterError, lk.LockError, st.StatusError) as exc:
            self.fail(to_text(exc))
        except CoreException as exc:
            self.module.fail_from_exception(exc)
        except Exception as exc:  # pylint: disable=broad-exception-caught
            self.fail("%s %s.%s: %s" % (self.name, self.params.get("target"), self.params.get("namespace"), api_reason(exc)),
                      exception=traceback.format_exc())
        self.module.exit_json(**result)
