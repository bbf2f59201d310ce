"""Label selectors (equality- and set-based) and field selectors, parsed like the API server does."""

import re
from typing import Callable, List, Optional

from .errors import bad_request

Matcher = Callable[[dict], bool]

_LABEL_KEY = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_SET_TERM = re.compile(r"^\s*(\S+)\s+(in|notin)\s*\(([^)]*)\)\s*$")


def _split_terms(text: str) -> List[str]:
    """Split on commas outside parentheses: `a in (x,y),b=c` -> [`a in (x,y)`, `b=c`]."""
    terms, depth, current = [], 0, []
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            terms.append("".join(current))
            current = []
        else:
            current.append(char)
    terms.append("".join(current))
    return [t.strip() for t in terms if t.strip()]


def _check_key(key: str, selector: str) -> str:
    if not _LABEL_KEY.match(key):
        raise bad_request("unable to parse requirement: invalid label key %r in selector %r" % (key, selector))
    return key


def parse_label_selector(selector: Optional[str]) -> Matcher:
    """Return a predicate on a labels dict."""
    if not selector:
        return lambda labels: True
    requirements: List[Matcher] = []
    for term in _split_terms(selector):
        set_term = _SET_TERM.match(term)
        if set_term:
            key, op, values = set_term.groups()
            _check_key(key, selector)
            allowed = {v.strip() for v in values.split(",") if v.strip()}
            if op == "in":
                requirements.append(lambda labels, k=key, a=allowed: labels.get(k) in a)
            else:
                requirements.append(lambda labels, k=key, a=allowed: labels.get(k) not in a)
            continue
        for op in ("!=", "==", "="):
            if op in term:
                key, value = (part.strip() for part in term.split(op, 1))
                _check_key(key, selector)
                if op == "!=":
                    requirements.append(lambda labels, k=key, v=value: labels.get(k) != v)
                else:
                    requirements.append(lambda labels, k=key, v=value: k in labels and labels[k] == v)
                break
        else:
            if term.startswith("!"):
                key = _check_key(term[1:].strip(), selector)
                requirements.append(lambda labels, k=key: k not in labels)
            else:
                key = _check_key(term, selector)
                requirements.append(lambda labels, k=key: k in labels)
    return lambda labels: all(req(labels or {}) for req in requirements)


def match_label_selector_object(selector: Optional[dict], labels: dict) -> bool:
    """A metav1.LabelSelector (matchLabels + matchExpressions); an empty selector matches everything."""
    if not selector:
        return True
    labels = labels or {}
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def selector_to_string(selector: Optional[dict]) -> str:
    """Scale.status.selector: the string form of a LabelSelector."""
    parts = ["%s=%s" % kv for kv in sorted((selector or {}).get("matchLabels", {}).items())]
    for expr in (selector or {}).get("matchExpressions") or []:
        op = expr.get("operator")
        if op in ("In", "NotIn"):
            parts.append("%s %s (%s)" % (expr["key"], op.lower(), ",".join(sorted(expr.get("values") or []))))
        elif op == "Exists":
            parts.append(expr["key"])
        elif op == "DoesNotExist":
            parts.append("!" + expr["key"])
    return ",".join(parts)


_COMMON_FIELDS = {"metadata.name", "metadata.namespace"}
_FIELDS_BY_KIND = {
    "Pod": {"spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName", "spec.hostNetwork",
            "status.phase", "status.podIP", "status.nominatedNodeName"},
    "Event": {"involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
              "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath", "reason",
              "reportingComponent", "source", "type"},
    "Secret": {"type"},
    "ReplicaSet": {"status.replicas"},
    "Namespace": {"status.phase"},
}


def _field_value(obj: dict, path: str) -> str:
    value = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def parse_field_selector(selector: Optional[str], kind: str) -> Matcher:
    """Return a predicate on a whole object; unsupported fields are a 400 like on a real server."""
    if not selector:
        return lambda obj: True
    supported = _COMMON_FIELDS | _FIELDS_BY_KIND.get(kind, set())
    requirements: List[Matcher] = []
    for term in _split_terms(selector):
        for op in ("!=", "==", "="):
            if op in term:
                field, value = (part.strip() for part in term.split(op, 1))
                break
        else:
            raise bad_request("invalid selector: '%s'; can't understand '%s'" % (selector, term))
        if field not in supported:
            raise bad_request('field label not supported: %s' % field)
        if op == "!=":
            requirements.append(lambda obj, f=field, v=value: _field_value(obj, f) != v)
        else:
            requirements.append(lambda obj, f=field, v=value: _field_value(obj, f) == v)
    return lambda obj: all(req(obj) for req in requirements)
