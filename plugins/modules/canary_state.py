#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: canary_state
short_description: Read and update the persisted status of a canary rollout
version_added: 1.0.0
author:
  - Progressive Delivery maintainers (@progressive-delivery)
description:
  - Reads and writes the status of the canary rollout of a target Deployment, kept in the ConfigMap
    C(<target>-canary-status) (key C(status.json)) in the target's namespace.
  - The status holds what Flagger keeps in a Canary's status, with snake_case names - the C(phase), C(canary_weight),
    C(failed_checks), C(iterations), C(step), C(last_applied_hash), C(last_promoted_hash), C(last_transition_time),
    C(last_analysis) (the last metric results), C(message), C(reason), C(requested) (a promote or abort request to the
    running rollout), C(strategy), C(started_at), C(schedule) (the weights of the analysis, to detect a changed schedule
    on resume), C(run) and C(extra).
  - O(status) is applied as a JSON merge patch (RFC 7386) - fields it names are replaced, V(null) deletes a field,
    fields it leaves out are kept. C(last_transition_time) is set automatically when C(phase) changes.
  - Writes replace the ConfigMap with the resourceVersion that was read; when another writer got there first the patch
    is merged again into the fresh status (up to three times).
  - With O(detect_revision=true) it also reads the target Deployment, computes its pod-template hash (plus the
    tracked ConfigMaps and Secrets, as M(progressive.delivery.canary_init) does) and says what a rollout should do
    with it (RV(revision.decision)).
  - The ConfigMap is used rather than annotations on the target so that a status write never modifies the user's
    Deployment (GitOps tools re-applying it do not erase the status, and status writes never race the user's edits).
options:
  target:
    description: Name of the target Deployment (the canary).
    type: str
    required: true
  namespace:
    description: Namespace of the target.
    type: str
    required: true
  status:
    description:
      - A JSON merge patch applied to the stored status. Leave it out to only read.
      - Unknown fields and values of the wrong type are refused, naming the field.
    type: dict
  state:
    description:
      - V(present) reads or updates the status; V(absent) deletes the ConfigMap (forgets every rollout of the target).
    type: str
    choices: [present, absent]
    default: present
  detect_revision:
    description:
      - Read the target Deployment and return RV(revision).
    type: bool
    default: false
  events:
    description:
      - Kubernetes Events to record on the target Deployment with this call (one line of progress each, in Flagger's words).
      - Written after the status, also when the status does not change; nothing is written in check mode.
    type: list
    elements: dict
    default: []
    suboptions:
      text:
        description:
          - The event's message, for example C(Advance podinfo.test canary weight 20).
          - Called C(text) because Ansible reserves the option name C(message).
        type: str
        required: true
      type:
        description: The event's type.
        type: str
        choices: [Normal, Warning]
        default: Normal
      reason:
        description: The event's reason.
        type: str
        default: Synced
  config_tracking:
    description:
      - Include the ConfigMaps and Secrets the pod template references in the hash, as
        M(progressive.delivery.canary_init) O(progressive.delivery.canary_init#module:config_tracking) does. Keep both equal.
    type: bool
    default: true
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - progressive.delivery.attributes
  - progressive.delivery.fence
attributes:
  check_mode:
    support: full
    details: Computes the status that would be written and reports it with the diff; writes nothing.
  diff_mode:
    support: full
  idempotent:
    support: full
    details: Writing a patch that does not change the stored status reports C(changed=false).
requirements:
  - kubernetes >= 24.2.0
  - PyYAML >= 3.11
"""

EXAMPLES = r"""
- name: Read the status of podinfo's rollout
  progressive.delivery.canary_state:
    target: podinfo
    namespace: test
  register: rollout_status

- name: Record a step of the analysis
  progressive.delivery.canary_state:
    target: podinfo
    namespace: test
    status:
      phase: Progressing
      canary_weight: 20
      iterations: 2
      message: Advance podinfo.test canary weight 20

- name: Ask the running rollout to promote at its next step
  progressive.delivery.canary_state:
    target: podinfo
    namespace: test
    status:
      requested: promote

- name: Decide whether there is a new revision to analyse
  progressive.delivery.canary_state:
    target: podinfo
    namespace: test
    detect_revision: true
  register: rollout_state

- name: Record a step and its event on the target Deployment
  progressive.delivery.canary_state:
    target: podinfo
    namespace: test
    status:
      canary_weight: 30
    events:
      - text: Advance podinfo.test canary weight 30

- name: Forget every rollout of podinfo
  progressive.delivery.canary_state:
    target: podinfo
    namespace: test
    state: absent
"""

RETURN = r"""
status:
  description: The status after the update (the stored one in check mode is left untouched). Empty when there is none.
  returned: always
  type: dict
  sample:
    phase: Progressing
    canary_weight: 20
    failed_checks: 1
    iterations: 3
    last_applied_hash: 5d0c8f3b8a2e4f10
    last_promoted_hash: 9a1b2c3d4e5f6071
    last_transition_time: "2026-01-02T03:04:05Z"
previous_status:
  description: The status before the update.
  returned: always
  type: dict
configmap:
  description: Name of the ConfigMap holding the status.
  returned: always
  type: str
  sample: podinfo-canary-status
exists:
  description: Whether the ConfigMap exists after the call (would exist, in check mode).
  returned: always
  type: bool
revision:
  description: The target's revision compared with the status.
  returned: when O(detect_revision=true)
  type: dict
  contains:
    hash:
      description: The pod-template hash of the target now (with tracked configs).
      type: str
    promoted_hash:
      description: The hash the primary Deployment carries (what was promoted last), or null without a primary.
      type: str
    decision:
      description:
        - V(initialize) (no status yet), V(unchanged), V(new), V(rolled_back) (this revision failed before and is not retried),
          V(resume) (an interrupted analysis of this revision), V(restart) (a newer revision arrived during an analysis),
          V(reverted) (the target went back to the promoted revision during an analysis).
      type: str
    target_exists:
      description: Whether the target Deployment exists.
      type: bool
events:
  description: Names of the Events recorded on the target.
  returned: always
  type: list
  elements: str
  sample: [podinfo.187a3c5e2f1d0a00]
lock_lost:
  description: V(true) when O(fence) was given and the run no longer owns the lock; nothing was written.
  returned: on that failure
  type: bool
diff:
  description: The status before and after.
  returned: when diff mode is on and something changed
  type: dict
"""

import copy
import datetime
import time
import traceback

from ansible_collections.progressive.delivery.plugins.module_utils.state import lock as lk
from ansible_collections.progressive.delivery.plugins.module_utils.state import status as st

try:
    from ansible_collections.kubernetes.core.plugins.module_utils.args_common import AUTH_ARG_SPEC
    from ansible_collections.kubernetes.core.plugins.module_utils.k8s.core import AnsibleK8SModule
    from ansible_collections.kubernetes.core.plugins.module_utils.k8s.exceptions import CoreException
    from ansible_collections.progressive.delivery.plugins.module_utils._k8s import ClusterError, connect
    from ansible_collections.progressive.delivery.plugins.module_utils.state._cluster import Conflict, ObjectAccess, api_message, hold_lock
    from ansible_collections.progressive.delivery.plugins.module_utils.workload import revision

    HAS_DEPS = True
    IMPORT_ERROR = None
except ImportError:
    HAS_DEPS = False
    IMPORT_ERROR = traceback.format_exc()
    AUTH_ARG_SPEC = {}

WRITE_ATTEMPTS = 3


def argspec():
    spec = copy.deepcopy(AUTH_ARG_SPEC)
    spec.update(
        target=dict(type="str", required=True),
        namespace=dict(type="str", required=True),
        status=dict(type="dict"),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        detect_revision=dict(type="bool", default=False),
        config_tracking=dict(type="bool", default=True),
        events=dict(type="list", elements="dict", default=[], options=dict(
            text=dict(type="str", required=True),
            type=dict(type="str", choices=["Normal", "Warning"], default="Normal"),
            reason=dict(type="str", default="Synced"),
        )),
    )
    spec.update(copy.deepcopy(lk.FENCE_ARG_SPEC))
    return spec


def _reader(client):
    def read(api_version, kind, namespace, name):
        return ObjectAccess(client, api_version, kind).get(namespace, name)
    return read


def record_events(module, client, events):
    """Create one Event per entry on the target Deployment; returns their names."""
    params = module.params
    if not events or module.check_mode:
        return []
    target = ObjectAccess(client, "apps/v1", "Deployment").get(params["namespace"], params["target"])
    involved = {"apiVersion": "apps/v1", "kind": "Deployment", "name": params["target"], "namespace": params["namespace"]}
    if target is not None:
        involved["uid"] = target["metadata"].get("uid")
        involved["resourceVersion"] = target["metadata"].get("resourceVersion")
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    access = ObjectAccess(client, "v1", "Event")
    names = []
    for index, event in enumerate(events):
        name = "%s.%x" % (params["target"], time.time_ns() + index)
        access.create({
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": params["namespace"], "labels": {st.MANAGED_BY_LABEL: st.MANAGED_BY}},
            "involvedObject": {k: v for k, v in involved.items() if v is not None},
            "reason": event["reason"],
            "message": event["text"],
            "type": event["type"],
            "count": 1,
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "source": {"component": "progressive.delivery"},
            "reportingComponent": "progressive.delivery/rollout",
        })
        names.append(name)
    return names


def run(module, client):
    params = module.params
    target, namespace = params["target"], params["namespace"]
    name = st.status_name(target)
    configmaps = ObjectAccess(client, "v1", "ConfigMap")
    result = {"changed": False, "configmap": name, "events": []}

    existing = configmaps.get(namespace, name)
    previous = st.decode(existing)
    result["previous_status"] = previous

    if params["detect_revision"]:
        hash_now, promoted, _deployment = revision.current(_reader(client), target, namespace, params["config_tracking"])
        result["revision"] = {
            "hash": hash_now,
            "promoted_hash": promoted,
            "target_exists": hash_now is not None,
            "decision": st.revision_decision(previous, hash_now) if hash_now is not None else None,
        }

    if params["fence"] and (params["status"] is not None or params["events"] or params["state"] == "absent"):
        hold_lock(client, target, namespace, params["fence"], check_mode=module.check_mode)

    if params["state"] == "absent":
        result["status"] = {}
        result["exists"] = False
        if existing is not None:
            result["changed"] = True
            if not module.check_mode:
                configmaps.delete(namespace, name)
            if module._diff:
                result["diff"] = {"before": previous, "after": {}}
        return result

    result.update(write_status(module, configmaps, existing, previous))
    result["events"] = record_events(module, client, params["events"])
    if params["events"] and not module.check_mode:
        result["changed"] = True
    return result


def write_status(module, configmaps, existing, previous):
    params = module.params
    target, namespace = params["target"], params["namespace"]
    name = st.status_name(target)
    result = {"changed": False}
    patch = params["status"]
    updated = st.apply_update(previous, patch)
    result["status"] = updated
    result["exists"] = existing is not None
    if patch is None or (updated == previous and existing is not None):
        return result

    result["changed"] = True
    result["exists"] = True
    if module._diff:
        result["diff"] = {"before": previous, "after": updated}
    if module.check_mode:
        return result

    for attempt in range(WRITE_ATTEMPTS):
        try:
            if existing is None:
                configmaps.create(st.build_configmap(target, namespace, updated))
            else:
                configmaps.replace(st.build_configmap(target, namespace, updated, existing))
            break
        except Conflict as exc:
            if attempt == WRITE_ATTEMPTS - 1:
                raise Conflict("ConfigMap %s/%s kept changing under us (%s); run the task again" % (namespace, name, exc))
            existing = configmaps.get(namespace, name)
            current = st.decode(existing)
            updated = st.apply_update(current, patch)
            result["status"] = updated
            if existing is not None and updated == current:
                result["changed"] = False
                break
    return result


def main():
    module = AnsibleK8SModule(argument_spec=argspec(), supports_check_mode=True)
    if not HAS_DEPS:
        module.fail_json(msg="progressive.delivery.canary_state needs kubernetes.core and its module_utils", exception=IMPORT_ERROR)
    try:
        client = connect(module)
        module.exit_json(**run(module, client))
    except st.StatusError as exc:
        module.fail_json(msg=str(exc))
    except lk.LockLost as exc:
        module.fail_json(msg=str(exc), holder=exc.holder, lock_lost=True)
    except Conflict as exc:
        module.fail_json(msg=str(exc))
    except ClusterError as exc:
        module.fail_json(msg=str(exc))
    except CoreException as exc:
        module.fail_from_exception(exc)
    except Exception as exc:  # pylint: disable=broad-except
        module.fail_json(msg="canary_state %s.%s: %s" % (module.params["target"], module.params["namespace"], api_message(exc)),
                         exception=traceback.format_exc())


if __name__ == "__main__":
    main()
