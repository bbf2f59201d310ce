"""Endpoints controller: one Endpoints object per Service with a selector, listing its ready pods.

Every lab pod shares the IP 127.0.0.1, so each pod gets a subset of its own carrying the host port
the kubelet mapped its containerPort to (annotation lab.progressive.delivery/host-ports). Pods that
are not ready are left out (a real cluster lists them under notReadyAddresses).
"""

import json
from typing import Optional

from ..apiserver.errors import ApiError
from ..apiserver.selectors import match_label_selector_object
from .kubelet import HOST_PORTS_ANNOTATION, POD_IP
from . import common


class EndpointsController:
    def __init__(self, manager):
        self.manager = manager
        self.store = manager.store
        manager.handle("Service", self.reconcile)
        manager.map_events(self._pod_events)

    def _pod_events(self, event_type, obj):
        if obj.get("kind") not in ("Pod", "Endpoints"):
            return []
        namespace = obj["metadata"].get("namespace", "")
        if obj["kind"] == "Endpoints":
            return [("Service", namespace, obj["metadata"]["name"])]
        labels = obj["metadata"].get("labels") or {}
        keys = []
        for service in self.store.list("v1", "Service", namespace):
            selector = (service.get("spec") or {}).get("selector")
            if selector and match_label_selector_object({"matchLabels": selector}, labels):
                keys.append(("Service", namespace, service["metadata"]["name"]))
        return keys

    @staticmethod
    def _target_port(pod: dict, port: dict) -> Optional[int]:
        target = port.get("targetPort", port.get("port"))
        container_port = None
        if isinstance(target, int):
            container_port = target
        elif isinstance(target, str) and target.isdigit():
            container_port = int(target)
        else:
            for container in pod["spec"].get("containers") or []:
                for item in container.get("ports") or []:
                    if item.get("name") == target and item.get("protocol", "TCP") == port.get("protocol", "TCP"):
                        container_port = item.get("containerPort")
        if container_port is None:
            return None
        mapped = json.loads((pod["metadata"].get("annotations") or {}).get(HOST_PORTS_ANNOTATION) or "{}")
        return mapped.get(str(container_port), container_port)

    def reconcile(self, namespace: str, name: str) -> Optional[float]:
        service = self.store.get("v1", "Service", namespace, name)
        existing = self.store.get("v1", "Endpoints", namespace, name)
        selector = (service or {}).get("spec", {}).get("selector")
        if service is None or not selector:
            if service is None and existing is not None and existing["metadata"].get("labels", {}).get("lab.progressive.delivery/managed"):
                try:
                    self.store.delete("v1", "Endpoints", namespace, name)
                except ApiError as error:
                    if error.code != 404:
                        raise
            return None
        subsets = []
        pods = self.store.list("v1", "Pod", namespace)
        for pod in sorted(pods, key=lambda p: p["metadata"]["name"]):
            if not match_label_selector_object({"matchLabels": selector}, pod["metadata"].get("labels") or {}):
                continue
            if not common.pod_ready(pod):
                continue
            ports = []
            for port in service["spec"].get("ports") or []:
                number = self._target_port(pod, port)
                if number is None:
                    continue
                entry = {"port": number, "protocol": port.get("protocol", "TCP")}
                if port.get("name"):
                    entry["name"] = port["name"]
                if port.get("appProtocol"):
                    entry["appProtocol"] = port["appProtocol"]
                ports.append(entry)
            if not ports:
                continue
            address = {"ip": (pod.get("status") or {}).get("podIP") or POD_IP, "nodeName": pod["spec"].get("nodeName"),
                       "targetRef": {"kind": "Pod", "namespace": namespace, "name": pod["metadata"]["name"], "uid": pod["metadata"]["uid"]}}
            subsets.append({"addresses": [address], "ports": ports})
        labels = dict(service["metadata"].get("labels") or {})
        labels["lab.progressive.delivery/managed"] = "true"
        desired = {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": name, "namespace": namespace, "labels": labels}}
        if subsets:
            desired["subsets"] = subsets
        if existing is None:
            self.store.create(desired)
        elif existing.get("subsets") != desired.get("subsets") or existing["metadata"].get("labels") != labels:
            existing["metadata"]["labels"] = labels
            if subsets:
                existing["subsets"] = subsets
            else:
                existing.pop("subsets", None)
            self.store.update(existing)
        return None
