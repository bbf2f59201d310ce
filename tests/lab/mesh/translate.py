"""Istio networking objects -> Envoy xDS resources, as pure functions.

``translate(snapshot, ...)`` takes the cluster state (Services, Endpoints, Pods, DestinationRules,
VirtualServices, Gateways as plain dicts) and returns the LDS, CDS and RDS documents one Envoy
reads from files. The shapes follow what istiod programs into sidecars and gateways, closely
enough that routing behaves the same for HTTP:

* clusters are named like Istio's, ``outbound|PORT|SUBSET|NAME.NAMESPACE.svc.cluster.local``; a
  DestinationRule subset gets a cluster holding only the endpoints whose pods carry its labels;
* the mesh listener stands in for every sidecar: a request whose Host is ``svc.ns``,
  ``svc.ns.svc`` or ``svc.ns.svc.cluster.local`` (optionally ``:port``) is routed by the
  VirtualService bound to ``mesh`` whose hosts name that Service, else straight to the Service;
* the ingress listener stands in for the ingress gateway: VirtualServices bound to an existing
  Gateway, for hosts the Gateway's servers accept;
* http routes keep their order; each match block becomes one Envoy route with the same action.

Match conditions follow istiod's TranslateRouteMatch and sourceMatchHTTP: headers and
withoutHeaders sorted together by name, an inverted string matcher treats a missing header as empty,
no matcher or the regex ``*`` is a present-match, and a condition that names gateways is checked
against them only (its sourceLabels and sourceNamespace are ignored).

Differences from istiod are listed in docs/lab.md (sourceLabels never match, one mesh listener
for all ports, no TCP/TLS routes, no corsPolicy).
"""

import copy
import json
import re
from typing import Dict, Iterable, List, Optional, Tuple

CLUSTER_DOMAIN = "svc.cluster.local"
HOST_PORTS_ANNOTATION = "lab.progressive.delivery/host-ports"
TYPE_LISTENER = "type.googleapis.com/envoy.config.listener.v3.Listener"
TYPE_CLUSTER = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
TYPE_ROUTE = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
TYPE_HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
TYPE_ROUTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
TYPE_FAULT = "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault"
MESH_ROUTE_NAME = "mesh"
INGRESS_ROUTE_NAME = "ingress"
# istiod's default retry policy for HTTP routes without `retries`.
DEFAULT_RETRY = {
    "retry_on": "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes",
    "num_retries": 2,
    "retriable_status_codes": [503],
    "retry_host_predicate": [{"name": "envoy.retry_host_predicates.previous_hosts",
                              "typed_config": {"@type": "type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate"}}],
    "host_selection_retry_max_attempts": "5",
}
LB_POLICIES = {"ROUND_ROBIN": "ROUND_ROBIN", "LEAST_CONN": "LEAST_REQUEST", "LEAST_REQUEST": "LEAST_REQUEST", "RANDOM": "RANDOM"}
_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(h|ms|us|ns|m|s)")
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}


# ---------------------------------------------------------------------------------- helpers
def _meta(obj: dict) -> dict:
    return obj.get("metadata") or {}


def _ns(obj: dict) -> str:
    return _meta(obj).get("namespace") or "default"


def _age_key(obj: dict) -> Tuple[str, str, str]:
    """Istio resolves conflicts in favour of the oldest object, then by namespace/name."""
    meta = _meta(obj)
    return (meta.get("creationTimestamp") or "", meta.get("namespace") or "", meta.get("name") or "")


def duration(text) -> str:
    """Istio duration string (``1.5s``, ``100ms``, ``1m30s``) -> protobuf JSON duration (``1.500s``)."""
    if isinstance(text, (int, float)):
        return "%.9gs" % text
    total, pos = 0.0, 0
    for match in _DURATION_PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if pos != len(text) or not text:
        raise ValueError("invalid duration %r" % (text,))
    return ("%.9f" % total).rstrip("0").rstrip(".") + "s"


def fqdn(host: str, namespace: str) -> str:
    """Resolve a VirtualService/DestinationRule host the way istiod does: short names in the object's namespace."""
    host = host.strip().rstrip(".")
    if "*" in host:
        return host
    parts = host.split(".")
    if len(parts) == 1:
        return "%s.%s.%s" % (host, namespace, CLUSTER_DOMAIN)
    if len(parts) == 2:  # name.namespace: Kubernetes DNS search path, which sidecars also resolve
        return "%s.%s" % (host, CLUSTER_DOMAIN)
    if len(parts) == 3 and parts[2] == "svc":
        return "%s.cluster.local" % host
    return host


def service_host(service: dict) -> str:
    return "%s.%s.%s" % (_meta(service)["name"], _ns(service), CLUSTER_DOMAIN)


def host_aliases(host: str) -> List[str]:
    """The Host header forms a client may use for a Service FQDN."""
    if host.endswith("." + CLUSTER_DOMAIN):
        short = host[: -len("." + CLUSTER_DOMAIN)]
        return [short, short + ".svc", host]
    return [host]


def cluster_name(port: int, host: str, subset: str = "") -> str:
    return "outbound|%d|%s|%s" % (port, subset or "", host)


# ---------------------------------------------------------------------------------- model
class Model:
    """The cluster state indexed for translation."""

    def __init__(self, snapshot: Dict[str, List[dict]]):
        self.services: Dict[str, dict] = {}
        for service in sorted(snapshot.get("services") or [], key=_age_key):
            if (service.get("spec") or {}).get("type") == "ExternalName":
                continue
            self.services[service_host(service)] = service
        self.endpoints = {(_ns(e), _meta(e)["name"]): e for e in snapshot.get("endpoints") or []}
        self.pods = {(_ns(p), _meta(p)["name"]): p for p in snapshot.get("pods") or []}
        self.destination_rules: Dict[str, dict] = {}
        for rule in sorted(snapshot.get("destinationrules") or [], key=_age_key):
            host = fqdn((rule.get("spec") or {}).get("host") or "", _ns(rule))
            self.destination_rules.setdefault(host, rule)
        self.gateways = {(_ns(g), _meta(g)["name"]): g for g in snapshot.get("gateways") or []}
        self.virtual_services = sorted(snapshot.get("virtualservices") or [], key=_age_key)

    def service_ports(self, host: str) -> List[dict]:
        service = self.services.get(host)
        return [p for p in ((service or {}).get("spec") or {}).get("ports") or [] if p.get("protocol", "TCP") == "TCP"]

    def default_port(self, host: str) -> Optional[int]:
        ports = self.service_ports(host)
        return ports[0]["port"] if ports else None

    def backends(self, host: str, port: int) -> List[Tuple[int, dict]]:
        """(host port, pod) for each ready endpoint of a Service port."""
        service = self.services.get(host)
        if service is None:
            return []
        port_spec = next((p for p in self.service_ports(host) if p["port"] == port), None)
        if port_spec is None:
            return []
        endpoints = self.endpoints.get((_ns(service), _meta(service)["name"])) or {}
        result = []
        for subset in endpoints.get("subsets") or []:
            ports = subset.get("ports") or []
            if len(ports) == 1 and len(self.service_ports(host)) == 1:
                chosen = ports[0]
            else:
                chosen = next((p for p in ports if (p.get("name") or "") == (port_spec.get("name") or "")), None)
            if chosen is None:
                continue
            for address in subset.get("addresses") or []:
                ref = address.get("targetRef") or {}
                pod = self.pods.get((ref.get("namespace") or _ns(service), ref.get("name"))) if ref.get("kind", "Pod") == "Pod" else None
                result.append((int(chosen["port"]), pod or {}))
        return sorted(result, key=lambda item: item[0])


def workload_of(pod: dict) -> Tuple[str, str]:
    """(workload name, namespace) as Istio derives it: Deployment from the ReplicaSet owner and its hash label."""
    meta = _meta(pod)
    name = meta.get("name") or ""
    for ref in meta.get("ownerReferences") or []:
        if ref.get("controller") or len(meta.get("ownerReferences")) == 1:
            name = ref.get("name") or name
            if ref.get("kind") == "ReplicaSet":
                template_hash = (meta.get("labels") or {}).get("pod-template-hash")
                if template_hash and name.endswith("-" + template_hash):
                    name = name[: -len(template_hash) - 1]
            break
    return name, meta.get("namespace") or "default"


# ---------------------------------------------------------------------------------- CDS
def _traffic_policy(rule: Optional[dict], subset: Optional[dict], port: int) -> dict:
    policy: dict = {}
    for source in ((rule or {}).get("spec", {}).get("trafficPolicy"), (subset or {}).get("trafficPolicy")):
        if not source:
            continue
        merged = {k: v for k, v in source.items() if k != "portLevelSettings"}
        policy.update(merged)
        for level in source.get("portLevelSettings") or []:
            if (level.get("port") or {}).get("number") == port:
                policy.update({k: v for k, v in level.items() if k != "port"})
    return policy


def _cluster(name: str, backends: List[Tuple[int, dict]], policy: dict) -> dict:
    cluster = {
        "@type": TYPE_CLUSTER,
        "name": name,
        "type": "STATIC",
        "connect_timeout": "10s",
        "lb_policy": "ROUND_ROBIN",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{"lb_endpoints": [
                {"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": port}}}}
                for port, _pod in backends
            ]}],
        },
    }
    simple = ((policy.get("loadBalancer") or {}).get("simple") or "").upper()
    if simple in LB_POLICIES:
        cluster["lb_policy"] = LB_POLICIES[simple]
    outlier = policy.get("outlierDetection")
    if outlier:
        detection = {}
        errors = outlier.get("consecutive5xxErrors", outlier.get("consecutiveErrors"))
        if errors is not None:
            detection["consecutive_5xx"] = int(errors)
        if outlier.get("consecutiveGatewayErrors") is not None:
            detection["consecutive_gateway_failure"] = int(outlier["consecutiveGatewayErrors"])
            detection["enforcing_consecutive_gateway_failure"] = 100
        if outlier.get("interval"):
            detection["interval"] = duration(outlier["interval"])
        if outlier.get("baseEjectionTime"):
            detection["base_ejection_time"] = duration(outlier["baseEjectionTime"])
        if outlier.get("maxEjectionPercent") is not None:
            detection["max_ejection_percent"] = int(outlier["maxEjectionPercent"])
        cluster["outlier_detection"] = detection
    return cluster


class Clusters:
    """Builds clusters on demand so that every route names a cluster that exists (validate_clusters)."""

    def __init__(self, model: Model):
        self.model = model
        self.clusters: Dict[str, dict] = {}
        self.workloads: Dict[str, dict] = {}

    def ensure(self, host: str, port: Optional[int], subset: str = "") -> str:
        if port is None:
            port = self.model.default_port(host) or 80
        name = cluster_name(port, host, subset)
        if name in self.clusters:
            return name
        backends = self.model.backends(host, port)
        rule = self.model.destination_rules.get(host)
        subset_spec = None
        if subset:
            subset_spec = next((s for s in ((rule or {}).get("spec") or {}).get("subsets") or [] if s.get("name") == subset), None)
            labels = (subset_spec or {}).get("labels") or {}
            # A subset the DestinationRule does not define has no endpoints: 503, as in Istio.
            backends = [(p, pod) for p, pod in backends
                        if subset_spec is not None and all(((_meta(pod).get("labels") or {}).get(k) == v) for k, v in labels.items())]
        self.clusters[name] = _cluster(name, backends, _traffic_policy(rule, subset_spec, port))
        self._record_workload(name, host, backends)
        return name

    def _record_workload(self, name: str, host: str, backends: List[Tuple[int, dict]]) -> None:
        counts: Dict[Tuple[str, str], int] = {}
        for _port, pod in backends:
            if pod:
                key = workload_of(pod)
                counts[key] = counts.get(key, 0) + 1
        service_name, _, rest = host.partition(".")
        service_namespace = rest.split(".", 1)[0] if rest.endswith(CLUSTER_DOMAIN) else ""
        entry = {"service": service_name if service_namespace else host, "service_namespace": service_namespace, "host": host}
        if counts:
            # Endpoints of several workloads behind one cluster: the majority names it (docs/lab.md).
            (workload, namespace), _count = max(counts.items(), key=lambda item: (item[1], item[0]))
            entry.update(workload=workload, workload_namespace=namespace)
        self.workloads[name] = entry


# ---------------------------------------------------------------------------------- RDS
def _string_match(spec: dict) -> Optional[dict]:
    if "exact" in spec:
        return {"exact": spec["exact"]}
    if "prefix" in spec:
        return {"prefix": spec["prefix"]}
    if "suffix" in spec:
        return {"suffix": spec["suffix"]}
    if "regex" in spec:
        return {"safe_regex": {"regex": spec["regex"]}}
    return None


def _is_present_match(spec: Optional[dict]) -> bool:
    """istiod's canBeConvertedToPresentMatch: no matcher at all, or the regex ``*`` (not RE2: a wildcard)."""
    return not spec or spec.get("regex") == "*" or _string_match(spec) is None


def _header_matcher(name: str, spec: Optional[dict], invert: bool = False) -> dict:
    """One Envoy HeaderMatcher as istiod's translateHeaderMatch writes it (``invert`` for withoutHeaders)."""
    matcher: dict = {"name": name}
    if invert:
        matcher["invert_match"] = True
    if _is_present_match(spec):
        matcher["present_match"] = True
        return matcher
    matcher["string_match"] = _string_match(spec)
    if invert:
        # istiod: a request without the header does not match the string, so withoutHeaders lets it through.
        matcher["treat_missing_header_as_empty"] = True
    return matcher


def _route_matches(http: dict, context: str, gateway_names: Iterable[str], port: Optional[int]) -> List[dict]:
    """Envoy RouteMatch list for one Istio http route (one per match block; empty = never matches)."""
    blocks = http.get("match") or [{}]
    result = []
    for block in blocks:
        if block.get("gateways"):
            # istiod's sourceMatchHTTP: a condition that names gateways is checked against them only;
            # its sourceLabels and sourceNamespace are ignored.
            allowed = set(block["gateways"])
            if not ((context == "mesh" and "mesh" in allowed) or (context != "mesh" and allowed & set(gateway_names))):
                continue
        elif block.get("sourceLabels") or block.get("sourceNamespace"):
            continue  # requests into the lab come from no workload: Istio would never match them
        if block.get("port") and port is not None and int(block["port"]) != port:
            continue
        match: dict = {}
        uri = block.get("uri") or {}
        if "exact" in uri:
            match["path"] = uri["exact"]
        elif "prefix" in uri:
            match["prefix"] = uri["prefix"]
        elif "regex" in uri:
            match["safe_regex"] = {"regex": uri["regex"]}
        else:
            match["prefix"] = "/"
        if block.get("ignoreUriCase"):
            match["case_sensitive"] = False
        headers = [_header_matcher(name.lower(), spec) for name, spec in (block.get("headers") or {}).items()]
        headers += [_header_matcher(name.lower(), spec, invert=True) for name, spec in (block.get("withoutHeaders") or {}).items()]
        headers.sort(key=lambda matcher: matcher["name"])  # istiod sorts headers and withoutHeaders together by name
        for key, istio_name in (("method", ":method"), ("authority", ":authority"), ("scheme", ":scheme")):
            if block.get(key) is not None:
                headers.append(_header_matcher(istio_name, block[key]))
        if headers:
            match["headers"] = headers
        params = []
        for name, spec in sorted((block.get("queryParams") or {}).items()):
            if _is_present_match(spec):
                params.append({"name": name, "present_match": True})
            else:
                params.append({"name": name, "string_match": _string_match(spec)})
        if params:
            match["query_parameters"] = params
        result.append(match)
    return result


def _header_ops(spec: Optional[dict]) -> Tuple[List[dict], List[str]]:
    spec = spec or {}
    add = [{"header": {"key": k, "value": str(v)}, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"} for k, v in sorted((spec.get("set") or {}).items())]
    add += [{"header": {"key": k, "value": str(v)}, "append_action": "APPEND_IF_EXISTS_OR_ADD"} for k, v in sorted((spec.get("add") or {}).items())]
    return add, list(spec.get("remove") or [])


def _apply_headers(target: dict, headers: Optional[dict]) -> None:
    for direction in ("request", "response"):
        add, remove = _header_ops((headers or {}).get(direction))
        if add:
            target.setdefault("%s_headers_to_add" % direction, []).extend(add)
        if remove:
            target.setdefault("%s_headers_to_remove" % direction, []).extend(remove)


def _percent(value, default: float = 100.0) -> dict:
    if isinstance(value, dict):
        value = value.get("value", default)
    if value is None:
        value = default
    return {"numerator": int(round(float(value) * 10000)), "denominator": "MILLION"}


def _destination_cluster(clusters: Clusters, destination: dict, namespace: str) -> str:
    host = fqdn(destination.get("host") or "", namespace)
    port = (destination.get("port") or {}).get("number")
    return clusters.ensure(host, int(port) if port else None, destination.get("subset") or "")


def _route_action(http: dict, namespace: str, clusters: Clusters) -> dict:
    destinations = http.get("route") or []
    action: dict = {}
    if len(destinations) == 1:
        # Destination-level header operations of a single destination are applied by the caller on the route.
        action["cluster"] = _destination_cluster(clusters, destinations[0]["destination"], namespace)
    else:
        weights = [int(d.get("weight") or 0) for d in destinations]
        if sum(weights) == 0:
            weights = [1] * len(destinations)  # istiod rejects this; never generate a zero-total route
        entries = []
        for destination, weight in zip(destinations, weights):
            if weight <= 0:
                continue  # istiod leaves zero-weight destinations out
            entry = {"name": _destination_cluster(clusters, destination["destination"], namespace), "weight": weight}
            _apply_headers(entry, destination.get("headers"))
            entries.append(entry)
        action["weighted_clusters"] = {"clusters": entries}
    action["timeout"] = duration(http["timeout"]) if http.get("timeout") else "0s"
    retries = http.get("retries")
    if retries is None:
        action["retry_policy"] = copy.deepcopy(DEFAULT_RETRY)
    elif int(retries.get("attempts") or 0) > 0:
        policy = {"num_retries": int(retries["attempts"])}
        retry_on, codes = [], []
        for item in (retries.get("retryOn") or "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes").split(","):
            item = item.strip()
            if item.isdigit():
                codes.append(int(item))
            elif item:
                retry_on.append(item)
        if codes and "retriable-status-codes" not in retry_on:
            retry_on.append("retriable-status-codes")
        policy["retry_on"] = ",".join(retry_on)
        if codes:
            policy["retriable_status_codes"] = codes
        elif "retriable-status-codes" in retry_on:
            policy["retriable_status_codes"] = [503]
        if retries.get("perTryTimeout"):
            policy["per_try_timeout"] = duration(retries["perTryTimeout"])
        action["retry_policy"] = policy
    mirrors = list(http.get("mirrors") or [])
    if http.get("mirror"):
        percent = http.get("mirrorPercentage", http.get("mirrorPercent"))
        mirrors.insert(0, {"destination": http["mirror"], "percentage": percent})
    if mirrors:
        action["request_mirror_policies"] = [
            {"cluster": _destination_cluster(clusters, m["destination"], namespace),
             "runtime_fraction": {"default_value": _percent(m.get("percentage"))}}
            for m in mirrors
        ]
    rewrite = http.get("rewrite") or {}
    if rewrite.get("uri") is not None:
        action["prefix_rewrite"] = rewrite["uri"]
    if rewrite.get("authority"):
        action["host_rewrite_literal"] = rewrite["authority"]
    return action


def _fault(http: dict) -> Optional[dict]:
    fault = http.get("fault")
    if not fault:
        return None
    config: dict = {"@type": TYPE_FAULT}
    abort = fault.get("abort")
    if abort and abort.get("httpStatus"):
        config["abort"] = {"http_status": int(abort["httpStatus"]), "percentage": _percent(abort.get("percentage"))}
    delay = fault.get("delay")
    if delay and delay.get("fixedDelay"):
        config["delay"] = {"fixed_delay": duration(delay["fixedDelay"]), "percentage": _percent(delay.get("percentage"))}
    return config if len(config) > 1 else None


def http_routes(vs: dict, context: str, clusters: Clusters, gateway_names: Iterable[str] = (), port: Optional[int] = None) -> List[dict]:
    """The Envoy routes of one VirtualService for one listener context ("mesh" or a gateway)."""
    namespace = _ns(vs)
    routes = []
    for index, http in enumerate((vs.get("spec") or {}).get("http") or []):
        for match in _route_matches(http, context, gateway_names, port):
            route: dict = {"match": match, "name": http.get("name") or "%s.%s.%d" % (_meta(vs).get("name"), namespace, index)}
            if http.get("directResponse"):
                response = http["directResponse"]
                body = (response.get("body") or {}).get("string")
                route["direct_response"] = {"status": int(response.get("status") or 200)}
                if body is not None:
                    route["direct_response"]["body"] = {"inline_string": body}
            elif http.get("redirect"):
                redirect = http["redirect"]
                route["redirect"] = {}
                if redirect.get("uri"):
                    route["redirect"]["path_redirect"] = redirect["uri"]
                if redirect.get("authority"):
                    route["redirect"]["host_redirect"] = redirect["authority"]
                codes = {301: "MOVED_PERMANENTLY", 302: "FOUND", 303: "SEE_OTHER", 307: "TEMPORARY_REDIRECT", 308: "PERMANENT_REDIRECT"}
                route["redirect"]["response_code"] = codes.get(int(redirect.get("redirectCode") or 301), "MOVED_PERMANENTLY")
            elif http.get("route"):
                route["route"] = _route_action(http, namespace, clusters)
                if len(http["route"]) == 1:
                    _apply_headers(route, http["route"][0].get("headers"))
            else:
                continue
            _apply_headers(route, http.get("headers"))
            fault = _fault(http)
            if fault:
                route["typed_per_filter_config"] = {"envoy.filters.http.fault": fault}
            routes.append(route)
    return routes


def _default_route(clusters: Clusters, host: str, port: int) -> dict:
    return {"match": {"prefix": "/"}, "name": "default",
            "route": {"cluster": clusters.ensure(host, port), "timeout": "0s", "retry_policy": copy.deepcopy(DEFAULT_RETRY)}}


def _vs_hosts(vs: dict) -> List[str]:
    return [fqdn(h, _ns(vs)) for h in (vs.get("spec") or {}).get("hosts") or []]


def _bound_gateways(vs: dict, model: Model) -> List[Tuple[str, str]]:
    result = []
    for ref in (vs.get("spec") or {}).get("gateways") or []:
        if ref == "mesh":
            continue
        namespace, _, name = ref.rpartition("/")
        key = (namespace or _ns(vs), name)
        if key in model.gateways:
            result.append(key)
    return result


def _binds_mesh(vs: dict) -> bool:
    gateways = (vs.get("spec") or {}).get("gateways") or []
    return not gateways or "mesh" in gateways


class _Domains:
    def __init__(self):
        self.taken = set()

    def claim(self, candidates: Iterable[str]) -> List[str]:
        result = []
        for domain in candidates:
            if domain not in self.taken:
                self.taken.add(domain)
                result.append(domain)
        return result


def mesh_routes(model: Model, clusters: Clusters) -> dict:
    virtual_hosts = []
    domains = _Domains()
    claimed_by_vs: Dict[str, dict] = {}
    for vs in model.virtual_services:
        if _binds_mesh(vs):
            for host in _vs_hosts(vs):
                claimed_by_vs.setdefault(host, vs)  # the oldest VirtualService wins a host, as in istiod
    hosts = sorted(set(model.services) | set(claimed_by_vs))
    for host in hosts:
        ports = [p["port"] for p in model.service_ports(host)] or [None]
        vs = claimed_by_vs.get(host)
        for index, port in enumerate(ports):
            candidates = [("%s:%d" % (alias, port)) if port else "%s:*" % alias for alias in host_aliases(host)]
            if index == 0:
                candidates = host_aliases(host) + candidates
            if vs is not None:
                routes = http_routes(vs, "mesh", clusters, port=port)
            else:
                routes = [_default_route(clusters, host, port)]
            claimed = domains.claim(candidates)
            if claimed and "*" not in host:
                virtual_hosts.append({"name": "%s:%s" % (host, port or "*"), "domains": claimed, "routes": routes})
    return {"@type": TYPE_ROUTE, "name": MESH_ROUTE_NAME, "validate_clusters": True, "virtual_hosts": virtual_hosts}


def _gateway_accepts(gateway: dict, host: str, vs_namespace: str) -> bool:
    for server in (gateway.get("spec") or {}).get("servers") or []:
        for entry in server.get("hosts") or []:
            namespace, _, pattern = entry.rpartition("/")
            if namespace not in ("", "*", ".") and namespace != vs_namespace:
                continue
            if namespace == "." and vs_namespace != _ns(gateway):
                continue
            if pattern == "*" or pattern == host:
                return True
            if pattern.startswith("*.") and host.endswith(pattern[1:]):
                return True
    return False


def ingress_routes(model: Model, clusters: Clusters) -> dict:
    virtual_hosts = []
    domains = _Domains()
    for vs in model.virtual_services:
        gateways = _bound_gateways(vs, model)
        if not gateways:
            continue
        names = [g[1] for g in gateways] + ["%s/%s" % g for g in gateways]
        raw_hosts = (vs.get("spec") or {}).get("hosts") or []
        for raw, host in zip(raw_hosts, _vs_hosts(vs)):
            if not any(_gateway_accepts(model.gateways[g], raw, _ns(vs)) or _gateway_accepts(model.gateways[g], host, _ns(vs)) for g in gateways):
                continue
            if raw == "*":
                candidates = ["*"]
            else:
                candidates = []
                for alias in dict.fromkeys([raw] + host_aliases(host)):
                    candidates += [alias, alias + ":*"]
            claimed = domains.claim(candidates)
            if claimed:
                routes = http_routes(vs, "gateway", clusters, gateway_names=names)
                virtual_hosts.append({"name": "%s/%s:%s" % (_ns(vs), _meta(vs).get("name"), raw), "domains": claimed, "routes": routes})
    return {"@type": TYPE_ROUTE, "name": INGRESS_ROUTE_NAME, "validate_clusters": True, "virtual_hosts": virtual_hosts}


# ---------------------------------------------------------------------------------- LDS
def listener(name: str, port: int, route_name: str, rds_path: str) -> dict:
    return {
        "@type": TYPE_LISTENER,
        "name": name,
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
        "filter_chains": [{"filters": [{
            "name": "envoy.filters.network.http_connection_manager",
            "typed_config": {
                "@type": TYPE_HCM,
                "stat_prefix": name,
                # Routes come from RDS, never inline: inline routes leave keep-alive connections on
                # the old weights (lab notes, pitfall 3).
                "rds": {"route_config_name": route_name,
                        "config_source": {"resource_api_version": "V3", "path_config_source": {"path": rds_path}}},
                "http_filters": [
                    {"name": "envoy.filters.http.fault", "typed_config": {"@type": TYPE_FAULT}},
                    {"name": "envoy.filters.http.router", "typed_config": {"@type": TYPE_ROUTER}},
                ],
            },
        }]}],
    }


def translate(snapshot: Dict[str, List[dict]], mesh_port: int, ingress_port: int, rds_paths: Dict[str, str], version: str = "1") -> dict:
    """Returns ``{"lds", "cds", "rds_mesh", "rds_ingress", "workloads"}``; the first four are xDS documents.

    ``rds_paths`` maps ``"mesh"`` and ``"ingress"`` to the files the listeners read their routes from.
    ``workloads`` maps each cluster name to the service and workload behind it (for telemetry).
    """
    model = Model(snapshot)
    clusters = Clusters(model)
    for host in sorted(model.services):  # every Service port has its cluster even when no route uses it
        for port in model.service_ports(host):
            clusters.ensure(host, port["port"])
    mesh = mesh_routes(model, clusters)
    ingress = ingress_routes(model, clusters)

    def document(resources):
        return {"version_info": version, "resources": resources}

    return {
        "lds": document([listener("mesh", mesh_port, MESH_ROUTE_NAME, rds_paths["mesh"]),
                         listener("ingress", ingress_port, INGRESS_ROUTE_NAME, rds_paths["ingress"])]),
        "cds": document([clusters.clusters[name] for name in sorted(clusters.clusters)]),
        "rds_mesh": document([mesh]),
        "rds_ingress": document([ingress]),
        "workloads": clusters.workloads,
    }


def dumps(document: dict) -> str:
    """JSON is valid YAML, and Envoy reads ``.json`` files directly; sorted keys keep diffs stable."""
    return json.dumps(document, indent=1, sort_keys=True) + "\n"
