"""Validation of every write, as the real API server (and istiod's validating webhook) would reject it.

Built-in kinds are checked against the Kubernetes JSON schemas shipped by `kubernetes-validate`
(the newest version it ships, strict flavour so unknown fields are found), plus the semantic checks of
the API server's validation code that matter to our clients (names, selectors, ranges, immutable fields).
Istio kinds are checked with the `cloudcoil.models.istio` pydantic models plus the istiod webhook rules.
HTTPRoute has no schema in either library: it gets structural checks (see `_httproute`).
"""

import json
import os
import re
import threading
from typing import Any, Callable, Dict, List, Optional, Tuple

from . import errors

Cause = Dict[str, str]

_schema_lock = threading.Lock()
_schema_cache: Dict[Tuple[str, str], Any] = {}
_definitions: Dict[str, Any] = {}

MICRO_TIME_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}(Z|[+-][0-9]{2}:[0-9]{2})$"
TIME_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})$"
_GO_LAYOUTS = {MICRO_TIME_PATTERN: "2006-01-02T15:04:05.000000Z07:00", TIME_PATTERN: "2006-01-02T15:04:05Z07:00"}

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
# apimachinery's TotalAnnotationSizeLimitB: keys and values of all annotations of an object together.
ANNOTATIONS_SIZE_LIMIT = 256 * 1024
# Kinds whose names must be DNS-1123 labels (the rest: DNS-1123 subdomains).
_LABEL_NAMED = {"Namespace", "Service"}


def _schema_dir() -> str:
    import kubernetes_validate

    base = os.path.join(os.path.dirname(kubernetes_validate.__file__), "kubernetes-json-schema")
    versions = [d for d in os.listdir(base) if d.endswith("-local-strict")]

    def key(name):
        return tuple(int(p) for p in name[1:].split("-")[0].split("."))

    return os.path.join(base, max(versions, key=key))


def schema_version() -> str:
    return os.path.basename(_schema_dir()).split("-")[0]


def _validator(api_version: str, kind: str):
    import jsonschema
    from referencing import Registry, Resource

    with _schema_lock:
        cache_key = (api_version, kind)
        if cache_key in _schema_cache:
            return _schema_cache[cache_key]
        directory = _schema_dir()
        if "defs" not in _definitions:
            with open(os.path.join(directory, "_definitions.json")) as handle:
                contents = json.load(handle)
            # The API server decodes times strictly (Go's time.Parse): metav1.MicroTime needs exactly six
            # fractional digits, metav1.Time RFC 3339. JSON Schema's "format" is not checked, so say it as patterns.
            contents["$defs"]["io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime"]["pattern"] = MICRO_TIME_PATTERN
            contents["$defs"]["io.k8s.apimachinery.pkg.apis.meta.v1.Time"]["pattern"] = TIME_PATTERN
            _definitions["defs"] = Resource.from_contents(contents)
        group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
        with open(os.path.join(directory, "%s-%s.json" % (kind.lower(), group_version))) as handle:
            schema = json.load(handle)
        registry = _definitions["defs"] @ (Resource.from_contents(schema) @ Registry())
        validator = jsonschema.Draft202012Validator(schema, registry=registry)
        _schema_cache[cache_key] = validator
        return validator


def field_path(parts) -> str:
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += "[%d]" % part
        else:
            text += ("." if text else "") + str(part)
    return text


def _show(value: Any) -> str:
    return json.dumps(value, sort_keys=True) if not isinstance(value, str) else '"%s"' % value


def _cause(field: str, message: str, reason: str = "FieldValueInvalid") -> Cause:
    return {"reason": reason, "message": message, "field": field}


def _delete_path(obj: Any, parts: List[Any], key: str) -> None:
    for part in parts:
        obj = obj[part]
    obj.pop(key, None)


def _schema_causes(obj: dict, field_validation: str, warnings: List[str]) -> List[Cause]:
    validator = _validator(obj["apiVersion"], obj["kind"])
    causes: List[Cause] = []
    unknown: List[Tuple[List[Any], str]] = []
    for error in validator.iter_errors(obj):
        path = list(error.absolute_path)
        if error.validator == "pattern" and error.validator_value in _GO_LAYOUTS:
            raise errors.bad_request('%s in version "%s" cannot be handled as a %s: parsing time "%s" as "%s" (field %s)'
                                     % (obj["kind"], obj["apiVersion"].split("/")[-1], obj["kind"], error.instance,
                                        _GO_LAYOUTS[error.validator_value], field_path(path)))
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            known = set((error.schema or {}).get("properties", {}))
            unknown.extend((path, key) for key in error.instance if key not in known)
        elif error.validator == "required":
            missing = re.findall(r"'([^']*)' is a required property", error.message)
            for name in missing or [""]:
                causes.append(_cause(field_path(path + [name]), "Required value", "FieldValueRequired"))
        elif error.validator == "enum":
            causes.append(_cause(field_path(path), "Unsupported value: %s: supported values: %s"
                                 % (_show(error.instance), ", ".join(_show(v) for v in error.validator_value or [] if v is not None)),
                                 "FieldValueNotSupported"))
        else:
            causes.append(_cause(field_path(path), "Invalid value: %s: %s" % (_show(error.instance), error.message)))
    if unknown:
        names = ['unknown field "%s"' % field_path(path + [key]) for path, key in unknown]
        if field_validation == "Strict":
            raise errors.bad_request("%s in version \"%s\" cannot be handled as a %s: strict decoding error: %s"
                                     % (obj["kind"], obj["apiVersion"], obj["kind"], ", ".join(names)))
        # The real API server's default (fieldValidation=Warn) drops unknown fields and warns.
        for path, key in sorted(unknown, key=lambda item: -len(item[0])):
            _delete_path(obj, path, key)
        if field_validation != "Ignore":
            warnings.extend(names)
    return causes


def _metadata_causes(obj: dict, namespaced: bool) -> List[Cause]:
    causes: List[Cause] = []
    metadata = obj.get("metadata") or {}
    name = metadata.get("name")
    if not name:
        causes.append(_cause("metadata.name", "Required value: name or generateName is required", "FieldValueRequired"))
    else:
        pattern = _DNS1123_LABEL if obj.get("kind") in _LABEL_NAMED else _DNS1123_SUBDOMAIN
        limit = 63 if obj.get("kind") in _LABEL_NAMED else 253
        if not pattern.match(name) or len(name) > limit:
            what = "RFC 1123 label" if limit == 63 else "RFC 1123 subdomain"
            causes.append(_cause("metadata.name", "Invalid value: %s: a lowercase %s must consist of lower case alphanumeric "
                                 "characters, '-' or '.', and must start and end with an alphanumeric character" % (_show(name), what)))
    if namespaced and not metadata.get("namespace"):
        causes.append(_cause("metadata.namespace", "Required value", "FieldValueRequired"))
    for key, value in (metadata.get("labels") or {}).items():
        prefix, _, label = key.rpartition("/")
        if not _LABEL_NAME.match(label) or len(label) > 63 or (prefix and not _DNS1123_SUBDOMAIN.match(prefix)):
            causes.append(_cause("metadata.labels", "Invalid value: %s: name part must consist of alphanumeric characters, "
                                 "'-', '_' or '.', and must start and end with an alphanumeric character" % _show(key)))
        if not isinstance(value, str) or not _LABEL_VALUE.match(value) or len(value) > 63:
            causes.append(_cause("metadata.labels", "Invalid value: %s: a valid label must be an empty string or consist of "
                                 "alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
                                 % _show(value)))
    annotations = metadata.get("annotations") or {}
    if isinstance(annotations, dict):
        size = sum(len(str(key).encode()) + len(str(value).encode()) for key, value in annotations.items())
        if size > ANNOTATIONS_SIZE_LIMIT:
            causes.append(_cause("metadata.annotations", "Too long: may not be more than %d bytes" % ANNOTATIONS_SIZE_LIMIT,
                                 "FieldValueTooLong"))
    return causes


def _percent_or_int(value: Any, field: str) -> List[Cause]:
    if isinstance(value, int):
        return [] if value >= 0 else [_cause(field, "Invalid value: %d: must be greater than or equal to 0" % value)]
    if isinstance(value, str) and re.match(r"^[0-9]+%$", value):
        return []
    return [_cause(field, "Invalid value: %s: a valid percent string must be a numeric string followed by an ending '%%'" % _show(value))]


def _int_or_percent_value(value: Any) -> int:
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.endswith("%"):
        return int(value[:-1] or 0)
    return 0


def _pod_spec_causes(spec: dict, prefix: str) -> List[Cause]:
    causes: List[Cause] = []
    containers = spec.get("containers") or []
    if not containers:
        causes.append(_cause(prefix + ".containers", "Required value", "FieldValueRequired"))
    names = set()
    for index, container in enumerate(containers):
        where = "%s.containers[%d]" % (prefix, index)
        name = container.get("name")
        if name and not _DNS1123_LABEL.match(name):
            causes.append(_cause(where + ".name", "Invalid value: %s: a lowercase RFC 1123 label must consist of lower case "
                                 "alphanumeric characters or '-'" % _show(name)))
        if name in names:
            causes.append(_cause(where + ".name", "Duplicate value: %s" % _show(name), "FieldValueDuplicate"))
        names.add(name)
        if not container.get("image"):
            causes.append(_cause(where + ".image", "Required value", "FieldValueRequired"))
        for pindex, port in enumerate(container.get("ports") or []):
            number = port.get("containerPort")
            if isinstance(number, int) and not 1 <= number <= 65535:
                causes.append(_cause("%s.ports[%d].containerPort" % (where, pindex),
                                     "Invalid value: %d: must be between 1 and 65535, inclusive" % number))
        for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
            for field in ("initialDelaySeconds", "periodSeconds", "timeoutSeconds"):
                value = (container.get(probe) or {}).get(field)
                if isinstance(value, int) and value < 0:
                    causes.append(_cause("%s.%s.%s" % (where, probe, field), "Invalid value: %d: must be greater than or equal to 0" % value))
    return causes


def _deployment(obj: dict, old: Optional[dict]) -> List[Cause]:
    from .selectors import match_label_selector_object

    causes: List[Cause] = []
    spec = obj.get("spec") or {}
    replicas = spec.get("replicas")
    if isinstance(replicas, int) and replicas < 0:
        causes.append(_cause("spec.replicas", "Invalid value: %d: must be greater than or equal to 0" % replicas))
    selector = spec.get("selector")
    template = spec.get("template") or {}
    labels = (template.get("metadata") or {}).get("labels") or {}
    if not selector or not (selector.get("matchLabels") or selector.get("matchExpressions")):
        causes.append(_cause("spec.selector", "Required value", "FieldValueRequired"))
    elif not match_label_selector_object(selector, labels):
        causes.append(_cause("spec.template.metadata.labels", "Invalid value: %s: `selector` does not match template `labels`"
                             % _show(labels)))
    if old is not None and (old.get("spec") or {}).get("selector") != selector and obj.get("apiVersion") == "apps/v1":
        causes.append(_cause("spec.selector", "Invalid value: %s: field is immutable" % _show(selector)))
    if isinstance(template.get("spec"), dict):
        causes.extend(_pod_spec_causes(template["spec"], "spec.template.spec"))
        policy = template["spec"].get("restartPolicy")
        if policy and policy != "Always":
            causes.append(_cause("spec.template.spec.restartPolicy", 'Unsupported value: "%s": supported values: "Always"' % policy,
                                 "FieldValueNotSupported"))
    strategy = spec.get("strategy") or {}
    rolling = strategy.get("rollingUpdate")
    if strategy.get("type") == "Recreate" and rolling:
        causes.append(_cause("spec.strategy.rollingUpdate", "Forbidden: may not be specified when strategy `type` is 'Recreate'",
                             "FieldValueForbidden"))
    if isinstance(rolling, dict):
        for field in ("maxSurge", "maxUnavailable"):
            if field in rolling:
                causes.extend(_percent_or_int(rolling[field], "spec.strategy.rollingUpdate." + field))
        if _int_or_percent_value(rolling.get("maxSurge", "25%")) == 0 and _int_or_percent_value(rolling.get("maxUnavailable", "25%")) == 0:
            causes.append(_cause("spec.strategy.rollingUpdate.maxUnavailable",
                                 "Invalid value: 0: may not be 0 when `maxSurge` is 0"))
        if isinstance(rolling.get("maxUnavailable"), str) and _int_or_percent_value(rolling["maxUnavailable"]) > 100:
            causes.append(_cause("spec.strategy.rollingUpdate.maxUnavailable",
                                 "Invalid value: %s: must not be greater than 100%%" % _show(rolling["maxUnavailable"])))
    deadline, ready = spec.get("progressDeadlineSeconds"), spec.get("minReadySeconds") or 0
    if isinstance(deadline, int) and deadline <= ready:
        causes.append(_cause("spec.progressDeadlineSeconds", "Invalid value: %d: must be greater than minReadySeconds" % deadline))
    return causes


def _replicaset(obj: dict, old: Optional[dict]) -> List[Cause]:
    spec = obj.get("spec") or {}
    causes = []
    if isinstance(spec.get("replicas"), int) and spec["replicas"] < 0:
        causes.append(_cause("spec.replicas", "Invalid value: %d: must be greater than or equal to 0" % spec["replicas"]))
    if isinstance((spec.get("template") or {}).get("spec"), dict):
        causes.extend(_pod_spec_causes(spec["template"]["spec"], "spec.template.spec"))
    return causes


def _pod(obj: dict, old: Optional[dict]) -> List[Cause]:
    causes = _pod_spec_causes(obj.get("spec") or {}, "spec")
    if old is not None:
        old_images = [c.get("image") for c in (old.get("spec") or {}).get("containers") or []]
        new_spec = dict(obj.get("spec") or {})
        old_spec = dict(old.get("spec") or {})
        for spec in (new_spec, old_spec):
            spec["containers"] = [dict(c, image=None) for c in spec.get("containers") or []]
            spec.pop("activeDeadlineSeconds", None)
            spec.pop("tolerations", None)
        if new_spec != old_spec or len(old_images) != len((obj.get("spec") or {}).get("containers") or []):
            causes.append(_cause("spec", "Forbidden: pod updates may not change fields other than `spec.containers[*].image`, "
                                 "`spec.initContainers[*].image`, `spec.activeDeadlineSeconds`, `spec.tolerations` (only additions "
                                 "to existing tolerations) or `spec.terminationGracePeriodSeconds`", "FieldValueForbidden"))
    return causes


def _service(obj: dict, old: Optional[dict]) -> List[Cause]:
    causes: List[Cause] = []
    spec = obj.get("spec") or {}
    ports = spec.get("ports") or []
    if not ports and spec.get("type") != "ExternalName" and spec.get("clusterIP") != "None":
        causes.append(_cause("spec.ports", "Required value", "FieldValueRequired"))
    seen = set()
    for index, port in enumerate(ports):
        number = port.get("port")
        if isinstance(number, int) and not 1 <= number <= 65535:
            causes.append(_cause("spec.ports[%d].port" % index, "Invalid value: %d: must be between 1 and 65535, inclusive" % number))
        if len(ports) > 1 and not port.get("name"):
            causes.append(_cause("spec.ports[%d].name" % index, "Required value", "FieldValueRequired"))
        if (number, port.get("protocol", "TCP")) in seen:
            causes.append(_cause("spec.ports[%d]" % index, "Duplicate value: %s" % _show({"port": number, "protocol": port.get("protocol", "TCP")}),
                                 "FieldValueDuplicate"))
        seen.add((number, port.get("protocol", "TCP")))
    if old is not None:
        old_ip = (old.get("spec") or {}).get("clusterIP")
        if old_ip and spec.get("clusterIP") not in (old_ip, None, ""):
            causes.append(_cause("spec.clusterIPs[0]", "Invalid value: %s: may not change once set" % _show(spec.get("clusterIP"))))
    return causes


def _hpa(obj: dict, old: Optional[dict]) -> List[Cause]:
    causes: List[Cause] = []
    spec = obj.get("spec") or {}
    low, high = spec.get("minReplicas", 1), spec.get("maxReplicas")
    if isinstance(low, int) and low < 1:
        causes.append(_cause("spec.minReplicas", "Invalid value: %d: must be greater than or equal to 1" % low))
    if isinstance(high, int) and isinstance(low, int) and high < low:
        causes.append(_cause("spec.maxReplicas", "Invalid value: %d: must be greater than or equal to `minReplicas`" % high))
    target = spec.get("scaleTargetRef") or {}
    for field in ("kind", "name"):
        if not target.get(field):
            causes.append(_cause("spec.scaleTargetRef." + field, "Required value", "FieldValueRequired"))
    return causes


def _lease(obj: dict, old: Optional[dict]) -> List[Cause]:
    duration = (obj.get("spec") or {}).get("leaseDurationSeconds")
    if isinstance(duration, int) and duration <= 0:
        return [_cause("spec.leaseDurationSeconds", "Invalid value: %d: must be greater than 0" % duration)]
    return []


_SEMANTIC: Dict[str, Callable[[dict, Optional[dict]], List[Cause]]] = {
    "Deployment": _deployment,
    "ReplicaSet": _replicaset,
    "Pod": _pod,
    "Service": _service,
    "HorizontalPodAutoscaler": _hpa,
    "Lease": _lease,
}


def validate(rtype, obj: dict, old: Optional[dict] = None, field_validation: str = "Warn") -> List[str]:
    """Raise ApiError (422 Invalid, or 400 for unknown fields under Strict); return warnings.

    With field validation Warn/Ignore, unknown fields are removed from `obj` in place.
    """
    warnings: List[str] = []
    name = (obj.get("metadata") or {}).get("name") or ""
    if rtype.builtin:
        causes = _schema_causes(obj, field_validation, warnings)
        causes.extend(_metadata_causes(obj, rtype.namespaced))
        try:
            semantic = _SEMANTIC.get(rtype.kind, lambda o, p: [])(obj, old)
        except (AttributeError, TypeError, ValueError, KeyError):
            semantic = []  # ill-typed input: the schema causes above already say why
        known = {c["field"] for c in causes}
        causes.extend(c for c in semantic if c["field"] not in known)
    else:
        from . import istio

        causes = _metadata_causes(obj, rtype.namespaced)
        causes.extend(istio.validate(obj, field_validation, warnings))
    if causes:
        raise errors.invalid(rtype, name, causes)
    return warnings
