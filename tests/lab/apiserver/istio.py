"""Validation of Istio and Gateway API objects.

Structure: the `cloudcoil.models.istio` pydantic models (generated from Istio's CRD schemas), in
strict JSON mode so a string where Istio wants an integer is rejected as the CRD schema would.
Semantics: the rules of istiod's validating webhook (istio/istio pkg/config/validation) that matter to
canary routing, with its messages. A real cluster answers a webhook denial with
`admission webhook "validation.istio.io" denied the request: ...`; the lab reports it as 422 Invalid
with the same message in the causes.
"""

import importlib
import json
import re
import threading
from typing import Any, Dict, List

from . import errors

Cause = Dict[str, str]

_models: Dict[str, Any] = {}
_models_lock = threading.Lock()

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_WILDCARD_DOMAIN = re.compile(r"^(\*|\*\.)?([A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?\.?)*[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?$|^\*$")
_DURATION = re.compile(r"^([0-9]+(\.[0-9]+)?(h|m|s|ms|us|ns))+$")
_RETRY_ON = {
    "5xx", "gateway-error", "reset", "connect-failure", "envoy-ratelimited", "retriable-4xx", "refused-stream",
    "retriable-status-codes", "retriable-headers", "cancelled", "deadline-exceeded", "internal", "resource-exhausted",
    "unavailable", "http3-post-connect-failure", "reset-before-request",
}


def _model(api_version: str, kind: str):
    version = api_version.split("/", 1)[1]
    with _models_lock:
        if version not in _models:
            # Importing the generated models takes ~2 s: only the first Istio write pays for it.
            _models[version] = importlib.import_module("cloudcoil.models.istio.networking." + version)
        return getattr(_models[version], kind), _models[version]


def preload() -> None:
    """Import the Istio models now (a long-running lab calls this at start, off the request path)."""
    for version in ("v1", "v1beta1", "v1alpha3"):
        _model("networking.istio.io/" + version, "VirtualService")


def _path(loc, module) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += "[%d]" % part
        elif "[" in part or (part[:1].isupper() and isinstance(getattr(module, part, None), type)):
            continue  # pydantic's union/model markers, not fields
        else:
            text += ("." if text else "") + part
    return text


def _cause(field: str, message: str, reason: str = "FieldValueInvalid") -> Cause:
    return {"reason": reason, "message": message, "field": field}


def _structural(obj: dict, field_validation: str, warnings: List[str]) -> List[Cause]:
    import pydantic

    model, module = _model(obj["apiVersion"], obj["kind"])
    try:
        parsed = model.model_validate_json(json.dumps(obj), strict=True)
    except pydantic.ValidationError as exc:
        causes = []
        for error in exc.errors():
            field = _path(error["loc"], module)
            if error["type"] == "missing":
                causes.append(_cause(field, "Required value", "FieldValueRequired"))
            else:
                causes.append(_cause(field, "Invalid value: %s: %s" % (json.dumps(error.get("input"))[:200], error["msg"])))
        return causes
    # Fields the CRD schema does not know: dropped with a warning (fieldValidation=Warn, the default), or a 400.
    unknown = _unknown_fields(obj, parsed.model_dump(by_alias=True, exclude_unset=True, mode="json"), [])
    if unknown:
        names = ['unknown field "%s"' % _path(path, module) for path in unknown]
        if field_validation == "Strict":
            raise errors.bad_request("%s in version \"%s\" cannot be handled as a %s: strict decoding error: %s"
                                     % (obj["kind"], obj["apiVersion"].split("/")[1], obj["kind"], ", ".join(names)))
        for path in sorted(unknown, key=len, reverse=True):
            parent = obj
            for part in path[:-1]:
                parent = parent[part]
            parent.pop(path[-1], None)
        if field_validation != "Ignore":
            warnings.extend(names)
    return []


def _unknown_fields(given: Any, known: Any, path: List[Any]) -> List[List[Any]]:
    """Paths present in what the client sent but absent from what the model understood."""
    found: List[List[Any]] = []
    if isinstance(given, dict) and isinstance(known, dict):
        for key, value in given.items():
            if key not in known:
                found.append(path + [key])
            else:
                found.extend(_unknown_fields(value, known[key], path + [key]))
    elif isinstance(given, list) and isinstance(known, list):
        for index, (value, understood) in enumerate(zip(given, known)):
            found.extend(_unknown_fields(value, understood, path + [index]))
    return found


def _duration(value: Any, field: str) -> List[Cause]:
    if value is None or (isinstance(value, str) and _DURATION.match(value)):
        return []
    return [_cause(field, "Invalid value: %s: invalid duration" % json.dumps(value))]


def _destination(dest: Any, field: str) -> List[Cause]:
    if not isinstance(dest, dict):
        return [_cause(field, "destination is required", "FieldValueRequired")]
    causes = []
    host = dest.get("host")
    if not host:
        causes.append(_cause(field + ".host", "Required value", "FieldValueRequired"))
    elif host == "*" or not _WILDCARD_DOMAIN.match(host):
        causes.append(_cause(field + ".host", "invalid destination host %s" % host))
    subset = dest.get("subset")
    if subset is not None and (not subset or not _DNS1123_LABEL.match(subset)):
        causes.append(_cause(field + ".subset", "subset name is invalid: %s" % subset))
    number = (dest.get("port") or {}).get("number")
    if number is not None and not (isinstance(number, int) and 1 <= number <= 65535):
        causes.append(_cause(field + ".port.number", "port number %s must be in the range 1..65535" % number))
    return causes


def _weighted(routes: List[Any], field: str) -> List[Cause]:
    causes = []
    total = 0
    for index, route in enumerate(routes or []):
        where = "%s[%d]" % (field, index)
        if not isinstance(route, dict):
            causes.append(_cause(where, "weight may not be nil"))
            continue
        causes.extend(_destination(route.get("destination"), where + ".destination"))
        weight = route.get("weight", 0)
        if isinstance(weight, int):
            if weight < 0:
                causes.append(_cause(where + ".weight", "weight %d < 0" % weight))
            total += weight
    if len(routes or []) > 1 and total == 0:
        causes.append(_cause(field, "total destination weight = 0"))
    return causes


def _percentage(value: Any, field: str, what: str) -> List[Cause]:
    if not isinstance(value, dict) or not isinstance(value.get("value"), (int, float)):
        return []
    number = value["value"]
    if number > 100:
        return [_cause(field, "%s must have a max value of 100 (it has %f)" % (what, number))]
    if number < 0:
        return [_cause(field, "%s must have a min value of 0 (it has %f)" % (what, number))]
    return []


def _http_route(http: dict, field: str) -> List[Cause]:
    causes = []
    if http.get("redirect") is not None:
        if http.get("route"):
            causes.append(_cause(field, "HTTP route cannot contain both route and redirect"))
    elif not http.get("route") and http.get("directResponse") is None and http.get("delegate") is None:
        causes.append(_cause(field + ".route", "HTTP route or redirect is required", "FieldValueRequired"))
    causes.extend(_weighted(http.get("route"), field + ".route"))
    if http.get("mirror") is not None:
        causes.extend(_destination(http["mirror"], field + ".mirror"))
    causes.extend(_percentage(http.get("mirrorPercentage"), field + ".mirrorPercentage", "mirror_percentage"))
    for index, mirror in enumerate(http.get("mirrors") or []):
        where = "%s.mirrors[%d]" % (field, index)
        if not isinstance(mirror, dict) or mirror.get("destination") is None:
            causes.append(_cause(where + ".destination", "destination is required for mirrors", "FieldValueRequired"))
            continue
        causes.extend(_destination(mirror["destination"], where + ".destination"))
        causes.extend(_percentage(mirror.get("percentage"), where + ".percentage", "mirror percentage"))
    retries = http.get("retries")
    if isinstance(retries, dict):
        attempts = retries.get("attempts", 0)
        if isinstance(attempts, int) and attempts < 0:
            causes.append(_cause(field + ".retries.attempts", "attempts cannot be negative"))
        if attempts == 0 and (retries.get("perTryTimeout") or retries.get("retryOn") or retries.get("retryRemoteLocalities") is not None):
            causes.append(_cause(field + ".retries", "http retry policy configured when attempts are set to 0 (disabled)"))
        causes.extend(_duration(retries.get("perTryTimeout"), field + ".retries.perTryTimeout"))
        for policy in (retries.get("retryOn") or "").split(","):
            if policy and not policy.isdigit() and policy not in _RETRY_ON:
                causes.append(_cause(field + ".retries.retryOn", '"%s" is not a valid retryOn policy' % policy))
    causes.extend(_duration(http.get("timeout"), field + ".timeout"))
    fault = http.get("fault")
    if isinstance(fault, dict):
        if fault.get("abort") is None and fault.get("delay") is None:
            causes.append(_cause(field + ".fault", "HTTP fault injection must have an abort and/or a delay"))
        for kind in ("abort", "delay"):
            part = fault.get(kind)
            if isinstance(part, dict):
                causes.extend(_percentage(part.get("percentage"), "%s.fault.%s.percentage" % (field, kind), "percentage"))
        status = (fault.get("abort") or {}).get("httpStatus")
        if isinstance(status, int) and not 200 <= status <= 600:
            causes.append(_cause(field + ".fault.abort.httpStatus", "HTTP status %d is not in range 200-599" % status))
    for index, match in enumerate(http.get("match") or []):
        for name, header in ((match or {}).get("headers") or {}).items():
            if header is None:
                causes.append(_cause("%s.match[%d].headers" % (field, index), "header match %s cannot be null" % name))
            elif name != name.lower():
                causes.append(_cause("%s.match[%d].headers" % (field, index), "header name %s must be lowercase" % name))
    return causes


def _virtual_service(spec: dict) -> List[Cause]:
    causes = []
    if not spec.get("hosts"):
        causes.append(_cause("spec.hosts", "virtual service must have at least one host", "FieldValueRequired"))
    for index, host in enumerate(spec.get("hosts") or []):
        if not isinstance(host, str) or not _WILDCARD_DOMAIN.match(host):
            causes.append(_cause("spec.hosts[%d]" % index, "invalid host %s" % host))
    if not (spec.get("http") or spec.get("tcp") or spec.get("tls")):
        causes.append(_cause("spec", "http, tcp or tls must be provided in virtual service"))
    for index, http in enumerate(spec.get("http") or []):
        causes.extend(_http_route(http or {}, "spec.http[%d]" % index))
    for proto in ("tcp", "tls"):
        for index, rule in enumerate(spec.get(proto) or []):
            causes.extend(_weighted((rule or {}).get("route"), "spec.%s[%d].route" % (proto, index)))
    return causes


def _destination_rule(spec: dict) -> List[Cause]:
    causes = []
    host = spec.get("host")
    if not host or not _WILDCARD_DOMAIN.match(host):
        causes.append(_cause("spec.host", "invalid host %s" % (host or ""), "FieldValueRequired" if not host else "FieldValueInvalid"))
    names = set()
    for index, subset in enumerate(spec.get("subsets") or []):
        name = (subset or {}).get("name", "")
        if not name:
            causes.append(_cause("spec.subsets[%d].name" % index, "subset name cannot be empty", "FieldValueRequired"))
        elif not _DNS1123_LABEL.match(name):
            causes.append(_cause("spec.subsets[%d].name" % index, "subset name is invalid: %s" % name))
        if name in names:
            causes.append(_cause("spec.subsets[%d].name" % index, "duplicate subset names: %s" % name, "FieldValueDuplicate"))
        names.add(name)
    return causes


def _gateway(spec: dict) -> List[Cause]:
    causes = []
    servers = spec.get("servers") or []
    if not servers:
        causes.append(_cause("spec.servers", "gateway must have at least one server", "FieldValueRequired"))
    for index, server in enumerate(servers):
        where = "spec.servers[%d]" % index
        if not (server or {}).get("hosts"):
            causes.append(_cause(where + ".hosts", "server config must contain at least one host", "FieldValueRequired"))
        port = (server or {}).get("port") or {}
        if not port:
            causes.append(_cause(where + ".port", "port is required", "FieldValueRequired"))
        elif not (isinstance(port.get("number"), int) and 1 <= port["number"] <= 65535):
            causes.append(_cause(where + ".port.number", "port number %s must be in the range 1..65535" % port.get("number")))
    return causes


_GATEWAY_API_PATH_TYPES = {"Exact", "PathPrefix", "RegularExpression"}


def _httproute(obj: dict) -> List[Cause]:
    """Structural checks of gateway.networking.k8s.io/v1 HTTPRoute (no schema ships with our libraries)."""
    causes = []
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return [_cause("spec", "Required value", "FieldValueRequired")]
    for index, ref in enumerate(spec.get("parentRefs") or []):
        if not isinstance(ref, dict) or not ref.get("name"):
            causes.append(_cause("spec.parentRefs[%d].name" % index, "Required value", "FieldValueRequired"))
    for index, host in enumerate(spec.get("hostnames") or []):
        if not isinstance(host, str) or not _WILDCARD_DOMAIN.match(host):
            causes.append(_cause("spec.hostnames[%d]" % index, "Invalid value: %s: should match a hostname" % json.dumps(host)))
    rules = spec.get("rules") or []
    if not isinstance(rules, list) or len(rules) > 16:
        causes.append(_cause("spec.rules", "Too many: must have at most 16 items", "FieldValueTooMany"))
        return causes
    for rindex, rule in enumerate(rules):
        where = "spec.rules[%d]" % rindex
        if not isinstance(rule, dict):
            causes.append(_cause(where, "Invalid value: must be an object"))
            continue
        for bindex, backend in enumerate(rule.get("backendRefs") or []):
            bwhere = "%s.backendRefs[%d]" % (where, bindex)
            if not isinstance(backend, dict) or not backend.get("name"):
                causes.append(_cause(bwhere + ".name", "Required value", "FieldValueRequired"))
                continue
            weight = backend.get("weight", 1)
            if not isinstance(weight, int) or isinstance(weight, bool) or not 0 <= weight <= 1000000:
                causes.append(_cause(bwhere + ".weight", "Invalid value: %s: should be between 0 and 1000000" % json.dumps(weight)))
            port = backend.get("port")
            if port is not None and not (isinstance(port, int) and 1 <= port <= 65535):
                causes.append(_cause(bwhere + ".port", "Invalid value: %s: should be between 1 and 65535" % json.dumps(port)))
            if (backend.get("kind") in (None, "Service")) and (backend.get("group") in (None, "")) and port is None:
                causes.append(_cause(bwhere, "Invalid value: must specify port for a Service backend"))
        for mindex, match in enumerate(rule.get("matches") or []):
            path = (match or {}).get("path") or {}
            if path and path.get("type", "PathPrefix") not in _GATEWAY_API_PATH_TYPES:
                causes.append(_cause("%s.matches[%d].path.type" % (where, mindex), "Unsupported value: %s" % json.dumps(path.get("type")),
                                     "FieldValueNotSupported"))
            if path and path.get("type", "PathPrefix") != "RegularExpression" and not str(path.get("value", "/")).startswith("/"):
                causes.append(_cause("%s.matches[%d].path.value" % (where, mindex), "Invalid value: must be an absolute path"))
    return causes


_SEMANTIC = {"VirtualService": _virtual_service, "DestinationRule": _destination_rule, "Gateway": _gateway}


def validate(obj: dict, field_validation: str, warnings: List[str]) -> List[Cause]:
    if obj.get("kind") == "HTTPRoute":
        return _httproute(obj)
    causes = _structural(obj, field_validation, warnings)
    if causes:
        return causes
    return _SEMANTIC[obj["kind"]](obj.get("spec") or {})
