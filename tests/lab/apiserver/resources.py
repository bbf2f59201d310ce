"""The resource types the emulated API server serves, and what discovery says about them."""

import dataclasses
from typing import Dict, List, Optional, Tuple


@dataclasses.dataclass(frozen=True)
class ResourceType:
    group: str
    versions: Tuple[str, ...]  # served versions; objects are stored once and shown in the version asked for
    kind: str
    plural: str
    namespaced: bool = True
    short_names: Tuple[str, ...] = ()
    subresources: Tuple[str, ...] = ()
    builtin: bool = True  # False: a CustomResourceDefinition on a real cluster (no strategic merge patch)
    categories: Tuple[str, ...] = ()

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def group_resource(self) -> str:
        """`deployments.apps`, `pods`: how the API server names the type in messages."""
        return "%s.%s" % (self.plural, self.group) if self.group else self.plural

    @property
    def kind_in_group(self) -> str:
        """`Deployment.apps`, `Pod`: how the API server names the kind in Invalid messages."""
        return "%s.%s" % (self.kind, self.group) if self.group else self.kind

    def api_version(self, version: Optional[str] = None) -> str:
        version = version or self.versions[0]
        return "%s/%s" % (self.group, version) if self.group else version


_ALL = "all"
VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]

RESOURCE_TYPES: List[ResourceType] = [
    ResourceType("", ("v1",), "Namespace", "namespaces", namespaced=False, short_names=("ns",), subresources=("status",)),
    ResourceType("", ("v1",), "Pod", "pods", short_names=("po",), subresources=("status", "log"), categories=(_ALL,)),
    ResourceType("", ("v1",), "Service", "services", short_names=("svc",), subresources=("status",), categories=(_ALL,)),
    ResourceType("", ("v1",), "Endpoints", "endpoints", short_names=("ep",)),
    ResourceType("", ("v1",), "ConfigMap", "configmaps", short_names=("cm",)),
    ResourceType("", ("v1",), "Secret", "secrets"),
    ResourceType("", ("v1",), "Event", "events", short_names=("ev",)),
    ResourceType("apps", ("v1",), "Deployment", "deployments", short_names=("deploy",), subresources=("status", "scale"), categories=(_ALL,)),
    ResourceType("apps", ("v1",), "ReplicaSet", "replicasets", short_names=("rs",), subresources=("status", "scale"), categories=(_ALL,)),
    ResourceType("autoscaling", ("v2",), "HorizontalPodAutoscaler", "horizontalpodautoscalers", short_names=("hpa",), subresources=("status",),
                 categories=(_ALL,)),
    ResourceType("coordination.k8s.io", ("v1",), "Lease", "leases"),
    ResourceType("networking.istio.io", ("v1", "v1beta1", "v1alpha3"), "VirtualService", "virtualservices", short_names=("vs",), subresources=("status",),
                 builtin=False, categories=("istio-io", "networking-istio-io")),
    ResourceType("networking.istio.io", ("v1", "v1beta1", "v1alpha3"), "DestinationRule", "destinationrules", short_names=("dr",), subresources=("status",),
                 builtin=False, categories=("istio-io", "networking-istio-io")),
    ResourceType("networking.istio.io", ("v1", "v1beta1", "v1alpha3"), "Gateway", "gateways", short_names=("gw",), subresources=("status",),
                 builtin=False, categories=("istio-io", "networking-istio-io")),
    ResourceType("gateway.networking.k8s.io", ("v1", "v1beta1"), "HTTPRoute", "httproutes", subresources=("status",), builtin=False,
                 categories=("gateway-api",)),
]

_BY_KIND: Dict[Tuple[str, str], ResourceType] = {(t.group, t.kind): t for t in RESOURCE_TYPES}
_BY_PLURAL: Dict[Tuple[str, str], ResourceType] = {(t.group, t.plural): t for t in RESOURCE_TYPES}


def split_api_version(api_version: str) -> Tuple[str, str]:
    if "/" in api_version:
        group, version = api_version.split("/", 1)
        return group, version
    return "", api_version


def by_kind(api_version: str, kind: str) -> Optional[ResourceType]:
    group, version = split_api_version(api_version or "")
    rtype = _BY_KIND.get((group, kind))
    if rtype is None or version not in rtype.versions:
        return None
    return rtype


def by_plural(group: str, version: str, plural: str) -> Optional[ResourceType]:
    rtype = _BY_PLURAL.get((group, plural))
    if rtype is None or version not in rtype.versions:
        return None
    return rtype


def groups() -> Dict[str, List[str]]:
    """Non-core groups and their versions, preferred version first."""
    result: Dict[str, List[str]] = {}
    for rtype in RESOURCE_TYPES:
        if rtype.group:
            known = result.setdefault(rtype.group, [])
            for version in rtype.versions:
                if version not in known:
                    known.append(version)
    return result


def types_in(group: str, version: str) -> List[ResourceType]:
    return [t for t in RESOURCE_TYPES if t.group == group and version in t.versions]


def discovery_resources(group: str, version: str) -> List[dict]:
    """The `resources` list of an APIResourceList, as a real API server shows it."""
    result = []
    for rtype in types_in(group, version):
        entry = {
            "name": rtype.plural,
            "singularName": rtype.singular,
            "namespaced": rtype.namespaced,
            "kind": rtype.kind,
            "verbs": list(VERBS),
        }
        if rtype.short_names:
            entry["shortNames"] = list(rtype.short_names)
        if rtype.categories:
            entry["categories"] = list(rtype.categories)
        result.append(entry)
        for sub in rtype.subresources:
            sub_entry = {"name": "%s/%s" % (rtype.plural, sub), "singularName": "", "namespaced": rtype.namespaced,
                         "kind": rtype.kind, "verbs": ["get", "patch", "update"]}
            if sub == "scale":
                sub_entry.update(group="autoscaling", version="v1", kind="Scale")
            elif sub == "log":
                sub_entry.update(kind="Pod", verbs=["get"])
            result.append(sub_entry)
    return result
