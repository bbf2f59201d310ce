"""ReplicaSet controller: keeps `spec.replicas` pods and reports honest status."""

import time
from typing import Optional

from ..apiserver.errors import ApiError
from . import common

API = "apps/v1"
NODE_NAME = "lab-node"


class ReplicaSetController:
    def __init__(self, manager):
        self.manager = manager
        self.store = manager.store
        manager.handle("ReplicaSet", self.reconcile)
        manager.map_events(self._pod_events)

    @staticmethod
    def _pod_events(event_type, obj):
        if obj.get("kind") != "Pod":
            return []
        ref = common.controller_of(obj)
        if ref and ref.get("kind") == "ReplicaSet":
            return [("ReplicaSet", obj["metadata"].get("namespace", ""), ref["name"])]
        return []

    def pods_of(self, rs: dict):
        pods = self.store.list("v1", "Pod", rs["metadata"]["namespace"])
        return [p for p in pods if common.controlled_by(p, rs)]

    def reconcile(self, namespace: str, name: str) -> Optional[float]:
        rs = self.store.get(API, "ReplicaSet", namespace, name)
        if rs is None:
            return None
        pods = [p for p in self.pods_of(rs) if p.get("status", {}).get("phase") not in ("Succeeded", "Failed")]
        wanted = rs["spec"].get("replicas", 1)
        if len(pods) < wanted:
            for _ in range(wanted - len(pods)):
                self._create_pod(rs)
        elif len(pods) > wanted:
            for pod in sorted(pods, key=_deletion_rank)[: len(pods) - wanted]:
                try:
                    self.store.delete("v1", "Pod", namespace, pod["metadata"]["name"])
                except ApiError as error:
                    if error.code != 404:
                        raise
        return self._update_status(rs)

    def _create_pod(self, rs: dict) -> None:
        template = rs["spec"]["template"]
        metadata = {k: v for k, v in (template.get("metadata") or {}).items() if k in ("labels", "annotations")}
        metadata.update(
            name="%s-%s" % (rs["metadata"]["name"], common.random_suffix()),
            namespace=rs["metadata"]["namespace"],
            ownerReferences=[common.owner_reference(rs)],
        )
        spec = dict(template.get("spec") or {})
        spec["nodeName"] = NODE_NAME  # the lab schedules at creation: one node, always fits
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}
        try:
            self.store.create(pod)
        except ApiError as error:
            if error.code != 409:
                raise

    def _update_status(self, rs: dict) -> Optional[float]:
        pods = [p for p in self.pods_of(rs) if p.get("status", {}).get("phase") not in ("Succeeded", "Failed")]
        min_ready = rs["spec"].get("minReadySeconds") or 0
        clock = time.time()
        ready = [p for p in pods if common.pod_ready(p)]
        available_at = [common.pod_available_at(p, min_ready) for p in ready]
        available = [at for at in available_at if at <= clock]
        pending = [at for at in available_at if at > clock]
        labels = (rs["spec"].get("selector") or {}).get("matchLabels") or {}
        status = {
            "replicas": len(pods),
            "fullyLabeledReplicas": len([p for p in pods if all((p["metadata"].get("labels") or {}).get(k) == v for k, v in labels.items())]),
            "readyReplicas": len(ready),
            "availableReplicas": len(available),
            "observedGeneration": rs["metadata"].get("generation", 1),
        }
        common.omit_zero(status, ("fullyLabeledReplicas", "readyReplicas", "availableReplicas"))
        if status != rs.get("status"):
            rs["status"] = status
            self.store.update_status(rs)
        if pending:
            return max(min(pending) - clock, 0.05)  # look again when the next pod becomes available
        return None


def _deletion_rank(pod: dict):
    """Which pods go first when scaling down: not running, not ready, most restarts, newest (like the real controller)."""
    status = pod.get("status") or {}
    restarts = sum(c.get("restartCount", 0) for c in status.get("containerStatuses") or [])
    return (
        status.get("phase") == "Running",
        common.pod_ready(pod),
        -restarts,
        -(common.parse_time(pod["metadata"].get("creationTimestamp")) or 0),
    )
