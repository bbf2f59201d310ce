"""HorizontalPodAutoscaler: status only, plus the min/max bounds a real HPA enforces without metrics.

The lab has no metrics API, so no metric-driven scaling happens: like a real HPA whose metrics are
unavailable, it reports ScalingActive=False, keeps the target within [minReplicas, maxReplicas], and
leaves a target scaled to 0 alone (autoscaling disabled).
"""

from typing import Optional

from . import common

_SCALABLE = {"Deployment": "apps/v1", "ReplicaSet": "apps/v1"}


class HpaController:
    def __init__(self, manager):
        self.manager = manager
        self.store = manager.store
        manager.handle("HorizontalPodAutoscaler", self.reconcile)
        manager.map_events(self._target_events)

    def _target_events(self, event_type, obj):
        if obj.get("kind") not in _SCALABLE:
            return []
        namespace = obj["metadata"].get("namespace", "")
        return [("HorizontalPodAutoscaler", namespace, hpa["metadata"]["name"])
                for hpa in self.store.list("autoscaling/v2", "HorizontalPodAutoscaler", namespace)
                if (hpa["spec"].get("scaleTargetRef") or {}).get("kind") == obj["kind"]
                and hpa["spec"]["scaleTargetRef"].get("name") == obj["metadata"]["name"]]

    def reconcile(self, namespace: str, name: str) -> Optional[float]:
        hpa = self.store.get("autoscaling/v2", "HorizontalPodAutoscaler", namespace, name)
        if hpa is None:
            return None
        ref = hpa["spec"].get("scaleTargetRef") or {}
        api_version = _SCALABLE.get(ref.get("kind"))
        target = self.store.get(api_version, ref["kind"], namespace, ref.get("name", "")) if api_version else None
        conditions = list((hpa.get("status") or {}).get("conditions") or [])
        status = dict(hpa.get("status") or {})
        if target is None:
            conditions = common.set_condition(conditions, "AbleToScale", "False", "FailedGetScale",
                                              'the HPA controller was unable to get the target\'s current scale: %s "%s" not found'
                                              % ((ref.get("kind") or "").lower() + "s.apps", ref.get("name")))
            status.update(currentReplicas=0, desiredReplicas=0)
        else:
            current = (target.get("status") or {}).get("replicas", 0)
            wanted = target["spec"].get("replicas", 1)
            low, high = hpa["spec"].get("minReplicas", 1), hpa["spec"]["maxReplicas"]
            desired = wanted
            if wanted == 0 and low != 0:
                conditions = common.set_condition(conditions, "ScalingActive", "False", "ScalingDisabled",
                                                  "scaling is disabled since the replica count of the target is zero")
            else:
                if wanted > high:
                    desired = high
                elif wanted < low:
                    desired = low
                conditions = common.set_condition(conditions, "ScalingActive", "False", "FailedGetResourceMetric",
                                                  "the lab has no metrics API: the HPA only keeps replicas within its bounds")
            if desired != wanted:
                target["spec"]["replicas"] = desired
                self.store.update(target)
                status["lastScaleTime"] = common.timestamp()
            conditions = common.set_condition(conditions, "AbleToScale", "True", "ReadyForNewScale",
                                              "recommended size matches current size")
            status.update(currentReplicas=current, desiredReplicas=desired)
        status["conditions"] = conditions
        status["observedGeneration"] = hpa["metadata"].get("generation", 1)
        if status != hpa.get("status"):
            hpa["status"] = status
            self.store.update_status(hpa)
        return None
