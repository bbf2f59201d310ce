"""Deployment controller: ReplicaSets per pod template, rolling updates, honest status and conditions.

Follows the real controller's arithmetic (k8s.io/kubernetes pkg/controller/deployment): maxSurge is
rounded up and maxUnavailable down; the new ReplicaSet grows while the total stays within
replicas + maxSurge; old ReplicaSets shrink (unhealthy pods first) while at least
replicas - maxUnavailable pods stay available; `Progressing` turns False with
ProgressDeadlineExceeded when no progress was made for progressDeadlineSeconds.
"""

import copy
import time
from typing import List, Optional

from ..apiserver.errors import ApiError
from . import common

API = "apps/v1"
_PROGRESS_FIELDS = ("updatedReplicas", "readyReplicas", "availableReplicas")


class DeploymentController:
    def __init__(self, manager):
        self.manager = manager
        self.store = manager.store
        manager.handle("Deployment", self.reconcile)
        manager.map_events(self._replicaset_events)

    @staticmethod
    def _replicaset_events(event_type, obj):
        if obj.get("kind") != "ReplicaSet":
            return []
        ref = common.controller_of(obj)
        if ref and ref.get("kind") == "Deployment":
            return [("Deployment", obj["metadata"].get("namespace", ""), ref["name"])]
        return []

    # ------------------------------------------------------------------ helpers
    def _replicasets(self, deployment: dict) -> List[dict]:
        found = self.store.list(API, "ReplicaSet", deployment["metadata"]["namespace"])
        owned = [rs for rs in found if common.controlled_by(rs, deployment)]
        return sorted(owned, key=lambda rs: (common.parse_time(rs["metadata"].get("creationTimestamp")) or 0, rs["metadata"]["name"]))

    @staticmethod
    def _bare_template(template: dict) -> dict:
        template = copy.deepcopy(template)
        labels = (template.get("metadata") or {}).get("labels") or {}
        labels.pop(common.HASH_LABEL, None)
        return template

    def _find_new(self, deployment: dict, replicasets: List[dict]) -> Optional[dict]:
        wanted = self._bare_template(deployment["spec"]["template"])
        for rs in replicasets:
            if self._bare_template(rs["spec"]["template"]) == wanted:
                return rs
        return None

    def _scale(self, rs: dict, replicas: int, deployment: dict) -> dict:
        if rs["spec"].get("replicas") == replicas and self._annotations_current(rs, deployment):
            return rs
        rs["spec"]["replicas"] = replicas
        annotations = rs["metadata"].setdefault("annotations", {})
        annotations["deployment.kubernetes.io/desired-replicas"] = str(deployment["spec"].get("replicas", 1))
        annotations["deployment.kubernetes.io/max-replicas"] = str(deployment["spec"].get("replicas", 1) + self._max_surge(deployment))
        return self.store.update(rs)

    def _annotations_current(self, rs: dict, deployment: dict) -> bool:
        annotations = rs["metadata"].get("annotations") or {}
        return annotations.get("deployment.kubernetes.io/desired-replicas") == str(deployment["spec"].get("replicas", 1))

    @staticmethod
    def _rolling(deployment: dict) -> dict:
        return (deployment["spec"].get("strategy") or {}).get("rollingUpdate") or {}

    def _max_surge(self, deployment: dict) -> int:
        if (deployment["spec"].get("strategy") or {}).get("type") == "Recreate":
            return 0
        return common.int_or_percent(self._rolling(deployment).get("maxSurge", "25%"), deployment["spec"].get("replicas", 1), True)

    def _max_unavailable(self, deployment: dict) -> int:
        replicas = deployment["spec"].get("replicas", 1)
        if (deployment["spec"].get("strategy") or {}).get("type") == "Recreate":
            return replicas
        surge = self._max_surge(deployment)
        unavailable = common.int_or_percent(self._rolling(deployment).get("maxUnavailable", "25%"), replicas, False)
        if surge == 0 and unavailable == 0:
            unavailable = 1
        return min(unavailable, replicas)

    def _create_new(self, deployment: dict, replicasets: List[dict], replicas: int) -> dict:
        template = copy.deepcopy(deployment["spec"]["template"])
        collision = (deployment.get("status") or {}).get("collisionCount") or 0
        pod_hash = common.template_hash(template, collision)
        template.setdefault("metadata", {}).setdefault("labels", {})[common.HASH_LABEL] = pod_hash
        selector = copy.deepcopy(deployment["spec"]["selector"])
        selector.setdefault("matchLabels", {})[common.HASH_LABEL] = pod_hash
        revision = 1 + max([int((rs["metadata"].get("annotations") or {}).get(common.REVISION, "0")) for rs in replicasets] or [0])
        labels = dict(template["metadata"]["labels"])
        spec = {"replicas": replicas, "selector": selector, "template": template}
        if deployment["spec"].get("minReadySeconds"):
            spec["minReadySeconds"] = deployment["spec"]["minReadySeconds"]
        rs = {
            "apiVersion": API,
            "kind": "ReplicaSet",
            "metadata": {
                "name": "%s-%s" % (deployment["metadata"]["name"], pod_hash),
                "namespace": deployment["metadata"]["namespace"],
                "labels": labels,
                "annotations": {
                    common.REVISION: str(revision),
                    "deployment.kubernetes.io/desired-replicas": str(deployment["spec"].get("replicas", 1)),
                    "deployment.kubernetes.io/max-replicas": str(deployment["spec"].get("replicas", 1) + self._max_surge(deployment)),
                },
                "ownerReferences": [common.owner_reference(deployment)],
            },
            "spec": spec,
        }
        return self.store.create(rs)

    # ------------------------------------------------------------------ reconcile
    def reconcile(self, namespace: str, name: str) -> Optional[float]:
        deployment = self.store.get(API, "Deployment", namespace, name)
        if deployment is None:
            return None
        replicasets = self._replicasets(deployment)
        new_rs = self._find_new(deployment, replicasets)
        old = [rs for rs in replicasets if new_rs is None or rs["metadata"]["uid"] != new_rs["metadata"]["uid"]]
        created = False
        spec = deployment["spec"]

        if not spec.get("paused"):
            if new_rs is not None and common.REVISION in (new_rs["metadata"].get("annotations") or {}) and old:
                # A template rolled back to an older ReplicaSet: it becomes the newest revision again.
                top = max(int((rs["metadata"].get("annotations") or {}).get(common.REVISION, "0")) for rs in replicasets)
                if int(new_rs["metadata"]["annotations"][common.REVISION]) < top:
                    new_rs["metadata"]["annotations"][common.REVISION] = str(top + 1)
                    new_rs = self.store.update(new_rs)
            strategy = (spec.get("strategy") or {}).get("type", "RollingUpdate")
            if strategy == "Recreate":
                new_rs, created = self._recreate(deployment, new_rs, old, replicasets)
            else:
                new_rs, created = self._rolling_update(deployment, new_rs, old, replicasets)
            old = [self.store.get(API, "ReplicaSet", namespace, rs["metadata"]["name"]) or rs for rs in old]
            self._cleanup(deployment, old)
            if new_rs is not None:
                self._sync_revision(deployment, new_rs)
                deployment = self.store.get(API, "Deployment", namespace, name) or deployment
        return self._update_status(deployment, new_rs, old, created)

    def _rolling_update(self, deployment, new_rs, old, replicasets):
        replicas = deployment["spec"].get("replicas", 1)
        created = False
        active_old = [rs for rs in old if rs["spec"].get("replicas", 0) > 0]
        if new_rs is None:
            total = sum(rs["spec"].get("replicas", 0) for rs in replicasets)
            if not active_old:
                start = replicas
            else:
                start = max(0, min(replicas + self._max_surge(deployment) - total, replicas))
            new_rs = self._create_new(deployment, replicasets, start)
            created = True
        elif not active_old:
            new_rs = self._scale(new_rs, replicas, deployment)  # a plain scaling event
        else:
            # Like the real controller: a sync that grows the new ReplicaSet stops there, and the old
            # ones shrink on a later sync, once the new pods count.
            current = new_rs["spec"].get("replicas", 0)
            if current > replicas:
                new_rs = self._scale(new_rs, replicas, deployment)
            elif current < replicas:
                total = sum(rs["spec"].get("replicas", 0) for rs in [new_rs] + old)
                room = replicas + self._max_surge(deployment) - total
                if room > 0:
                    return self._scale(new_rs, current + min(room, replicas - current), deployment), created
            self._scale_down_old(deployment, new_rs, active_old)
        return new_rs, created

    def _scale_down_old(self, deployment, new_rs, active_old):
        replicas = deployment["spec"].get("replicas", 1)
        min_available = replicas - self._max_unavailable(deployment)
        all_rs = [new_rs] + active_old
        all_pods = sum(rs["spec"].get("replicas", 0) for rs in all_rs)
        new_unavailable = new_rs["spec"].get("replicas", 0) - (new_rs.get("status") or {}).get("availableReplicas", 0)
        max_scaled_down = all_pods - min_available - new_unavailable
        if max_scaled_down <= 0:
            return
        # First the old pods that are not available anyway: removing them costs no availability.
        remaining_cleanup = max_scaled_down
        refreshed = []
        for rs in active_old:
            spec_replicas = rs["spec"].get("replicas", 0)
            available = (rs.get("status") or {}).get("availableReplicas", 0)
            unhealthy = spec_replicas - available
            if remaining_cleanup > 0 and unhealthy > 0:
                cut = min(remaining_cleanup, unhealthy)
                rs = self._scale(rs, spec_replicas - cut, deployment)
                remaining_cleanup -= cut
            refreshed.append(rs)
        # Then available old pods, oldest ReplicaSet first, keeping minAvailable.
        available_pods = sum((rs.get("status") or {}).get("availableReplicas", 0) for rs in [new_rs] + refreshed)
        budget = min(available_pods - min_available, max_scaled_down - (max_scaled_down - remaining_cleanup))
        for rs in refreshed:
            if budget <= 0:
                break
            spec_replicas = rs["spec"].get("replicas", 0)
            if spec_replicas == 0:
                continue
            cut = min(spec_replicas, budget)
            self._scale(rs, spec_replicas - cut, deployment)
            budget -= cut

    def _recreate(self, deployment, new_rs, old, replicasets):
        created = False
        for rs in old:
            if rs["spec"].get("replicas", 0):
                self._scale(rs, 0, deployment)
        old_pods = [p for rs in old for p in self.store.list("v1", "Pod", deployment["metadata"]["namespace"]) if common.controlled_by(p, rs)]
        if old_pods:
            return new_rs, created
        if new_rs is None:
            new_rs = self._create_new(deployment, replicasets, deployment["spec"].get("replicas", 1))
            created = True
        else:
            new_rs = self._scale(new_rs, deployment["spec"].get("replicas", 1), deployment)
        return new_rs, created

    def _cleanup(self, deployment, old):
        limit = deployment["spec"].get("revisionHistoryLimit", 10)
        idle = [rs for rs in old if rs["spec"].get("replicas", 0) == 0 and not (rs.get("status") or {}).get("replicas")]
        for rs in idle[: max(0, len(idle) - limit)]:
            try:
                self.store.delete(API, "ReplicaSet", rs["metadata"]["namespace"], rs["metadata"]["name"])
            except ApiError as error:
                if error.code != 404:
                    raise

    def _sync_revision(self, deployment, new_rs):
        revision = (new_rs["metadata"].get("annotations") or {}).get(common.REVISION)
        annotations = deployment["metadata"].get("annotations") or {}
        if revision and annotations.get(common.REVISION) != revision:
            annotations[common.REVISION] = revision
            deployment["metadata"]["annotations"] = annotations
            self.store.update(deployment)

    # ------------------------------------------------------------------ status
    def _update_status(self, deployment, new_rs, old, created) -> Optional[float]:
        namespace = deployment["metadata"]["namespace"]
        current = [self.store.get(API, "ReplicaSet", namespace, rs["metadata"]["name"]) for rs in ([new_rs] if new_rs else []) + old]
        current = [rs for rs in current if rs is not None]
        new_now = next((rs for rs in current if new_rs and rs["metadata"]["uid"] == new_rs["metadata"]["uid"]), None)
        spec = deployment["spec"]
        replicas = spec.get("replicas", 1)
        old_status = deployment.get("status") or {}

        def total(field):
            return sum((rs.get("status") or {}).get(field, 0) for rs in current)

        status = {
            "observedGeneration": deployment["metadata"].get("generation", 1),
            "replicas": total("replicas"),
            "updatedReplicas": (new_now.get("status") or {}).get("replicas", 0) if new_now else 0,
            "readyReplicas": total("readyReplicas"),
            "availableReplicas": total("availableReplicas"),
        }
        status["unavailableReplicas"] = max(replicas - status["availableReplicas"], 0)
        if old_status.get("collisionCount"):
            status["collisionCount"] = old_status["collisionCount"]
        conditions = list(old_status.get("conditions") or [])

        if status["availableReplicas"] >= replicas - self._max_unavailable(deployment):
            conditions = common.set_condition(conditions, "Available", "True", "MinimumReplicasAvailable",
                                              "Deployment has minimum availability.", with_update_time=True)
        else:
            conditions = common.set_condition(conditions, "Available", "False", "MinimumReplicasUnavailable",
                                              "Deployment does not have minimum availability.", with_update_time=True)

        again = None
        deadline = spec.get("progressDeadlineSeconds")
        rs_name = new_now["metadata"]["name"] if new_now else ""
        progressing = common.condition(conditions, "Progressing")
        complete = (new_now is not None and status["updatedReplicas"] == replicas and status["replicas"] == replicas
                    and status["availableReplicas"] == replicas)
        if spec.get("paused"):
            conditions = common.set_condition(conditions, "Progressing", "Unknown", "DeploymentPaused", "Deployment is paused",
                                              with_update_time=True)
        elif deadline is not None:
            if complete:
                conditions = common.set_condition(conditions, "Progressing", "True", "NewReplicaSetAvailable",
                                                  'ReplicaSet "%s" has successfully progressed.' % rs_name, with_update_time=True)
            elif created:
                conditions = common.set_condition(conditions, "Progressing", "True", "NewReplicaSetCreated",
                                                  'Created new replica set "%s"' % rs_name, with_update_time=True, touch=True)
            else:
                progressed = (
                    any(status.get(f, 0) > old_status.get(f, 0) for f in _PROGRESS_FIELDS)
                    or status["replicas"] < old_status.get("replicas", 0) and status["updatedReplicas"] > 0
                    or (progressing is not None and progressing.get("reason") == "NewReplicaSetAvailable")
                    or progressing is None
                )
                timed_out = progressing is not None and progressing.get("reason") == "ProgressDeadlineExceeded"
                if progressed:
                    conditions = common.set_condition(conditions, "Progressing", "True", "ReplicaSetUpdated",
                                                      'ReplicaSet "%s" is progressing.' % rs_name, with_update_time=True, touch=True)
                elif not timed_out:
                    last = common.parse_time(progressing.get("lastUpdateTime")) or time.time()
                    left = last + deadline - time.time()
                    if left <= 0:
                        conditions = common.set_condition(conditions, "Progressing", "False", "ProgressDeadlineExceeded",
                                                          'ReplicaSet "%s" has timed out progressing.' % rs_name, with_update_time=True)
                    else:
                        again = left + 0.05
        common.omit_zero(status, ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas", "unavailableReplicas"))
        status["conditions"] = conditions
        if status != old_status:
            deployment["status"] = status
            self.store.update_status(deployment)
        return again
