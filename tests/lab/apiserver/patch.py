"""The three patch types of the Kubernetes API: JSON merge (RFC 7386), JSON patch (RFC 6902), strategic merge."""

import copy
from typing import Any, Optional, Tuple

import jsonpatch

from .errors import ApiError, bad_request

MERGE = "application/merge-patch+json"
JSON = "application/json-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
APPLY = "application/apply-patch+yaml"
PATCH_TYPES = (MERGE, JSON, STRATEGIC)


def merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def json_patch(target: dict, operations: Any) -> dict:
    if not isinstance(operations, list):
        raise bad_request("json: cannot unmarshal object into Go value of type []handlers.jsonPatchOp")
    try:
        return jsonpatch.apply_patch(target, operations)
    except jsonpatch.JsonPatchTestFailed as exc:
        raise ApiError(422, "Invalid", "the server rejected our request due to an error in our request: %s" % exc)
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
        raise ApiError(422, "Invalid", "the server rejected our request due to an error in our request: %s" % exc)


# patchMergeKey of the list fields of the built-in types we serve (k8s.io/api generated.proto).
# Keyed by the field name, or by (parent field, field name) where one name has several meanings.
_MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "imagePullSecrets": "name",
    "hostAliases": "ip",
    "topologySpreadConstraints": "topologyKey",
    "resourceClaims": "name",
    "conditions": "type",
    "ownerReferences": "uid",
    "containerStatuses": None,
}
_PRIMITIVE_MERGE_LISTS = {"finalizers"}


def _merge_key(path: Tuple[str, ...], kind: str) -> Optional[str]:
    name = path[-1]
    if name == "ports":
        if kind == "Service" and path[-2:] == ("spec", "ports"):
            return "port"
        return "containerPort"
    return _MERGE_KEYS.get(name)


def strategic_merge_patch(target: dict, patch: dict, kind: str) -> dict:
    if not isinstance(patch, dict):
        raise bad_request("strategic merge patch must be a JSON object")
    return _smp_map(target, patch, (), kind)


def _smp_map(target: Any, patch: dict, path: Tuple[str, ...], kind: str) -> Any:
    directive = patch.get("$patch")
    if directive == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if directive == "delete":
        return None
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    retain = patch.get("$retainKeys")
    for key, value in patch.items():
        if key.startswith("$setElementOrder/") or key in ("$patch", "$retainKeys"):
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            result[field] = [item for item in result.get(field) or [] if item not in (value or [])]
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            merged = _smp_map(result.get(key), value, path + (key,), kind)
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
        elif isinstance(value, list):
            result[key] = _smp_list(result.get(key), value, path + (key,), kind)
        else:
            result[key] = copy.deepcopy(value)
    if isinstance(retain, list):
        result = {k: v for k, v in result.items() if k in retain}
    return result


def _smp_list(target: Any, patch: list, path: Tuple[str, ...], kind: str) -> list:
    target = target if isinstance(target, list) else []
    if path[-1] in _PRIMITIVE_MERGE_LISTS:
        merged = list(target)
        for item in patch:
            if item not in merged:
                merged.append(copy.deepcopy(item))
        return merged
    key = _merge_key(path, kind)
    if key is None or not all(isinstance(item, dict) for item in patch):
        if any(isinstance(item, dict) and item.get("$patch") == "replace" for item in patch):
            return [copy.deepcopy(i) for i in patch if not (isinstance(i, dict) and i.get("$patch") == "replace")]
        return copy.deepcopy(patch)
    result = copy.deepcopy(target)
    for item in patch:
        if item.get("$patch") == "replace":
            return [copy.deepcopy(i) for i in patch if i.get("$patch") != "replace"]
        if key not in item:
            raise bad_request("map: %s does not contain declared merge key: %s" % (item, key))
        index = next((i for i, existing in enumerate(result) if isinstance(existing, dict) and existing.get(key) == item[key]), None)
        if item.get("$patch") == "delete":
            if index is not None:
                del result[index]
            continue
        if index is None:
            result.append(_smp_map({}, item, path, kind))
        else:
            result[index] = _smp_map(result[index], item, path, kind)
    return result
