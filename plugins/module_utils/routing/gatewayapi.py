# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Gateway API routing: the weights of one rule of a ``gateway.networking.k8s.io/v1`` HTTPRoute.

Two ways to own the HTTPRoute, as in the two projects this follows:

* the user's route (Argo Rollouts' Gateway API plugin): ``http_route`` names it and, optionally,
  the rule; only the ``backendRefs`` of the primary and canary Services in that rule are edited,
  every other rule, hostname, parentRef and filter stays as it is;
* the collection's route (Flagger's ``provider: gatewayapi``): canary_init creates the HTTPRoute
  ``<apex>`` from ``parent_refs`` and ``hostnames``, labelled as the Istio objects are.

The A/B rule (``match``) is a rule named ``<rule>-canary-match`` placed ahead of the weighted rule;
mirroring is a ``RequestMirror`` filter on the weighted rule. Plain Python on dicts;
``GatewayAPIRouter`` at the end reads and writes through the Cluster it is given.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

from ansible_collections.progressive.delivery.plugins.module_utils._errors import CanaryError
from ansible_collections.progressive.delivery.plugins.module_utils._names import (
    canary_name,
    check_name,
    is_managed,
    managed_labels,
    match_route_name,
    primary_name,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s._objects import overlay
from ansible_collections.progressive.delivery.plugins.module_utils.routing._router import Router

GATEWAY_GROUP = "gateway.networking.k8s.io"
API_VERSION = GATEWAY_GROUP + "/v1"
HTTP_ROUTE = "HTTPRoute"

# Gateway API's HTTPRouteMatch: what an Istio-style match option can be translated into.
_PATH_TYPES = {"exact": "Exact", "prefix": "PathPrefix", "regex": "RegularExpression"}
_VALUE_TYPES = {"exact": "Exact", "regex": "RegularExpression"}
_MATCH_FIELDS = ("uri", "headers", "queryParams", "method")
# Istio match fields Gateway API has no equivalent for, with the reason given in the error.
_INEXPRESSIBLE = {
    "withoutHeaders": "an HTTPRouteMatch cannot negate a header",
    "sourceLabels": "an HTTPRoute cannot select clients by their labels",
    "sourceNamespace": "an HTTPRoute cannot select clients by their namespace",
    "gateways": "the parentRefs of the HTTPRoute say which gateways it serves",
    "port": "an HTTPRouteMatch has no port; use a parentRef sectionName",
    "authority": "the hostnames of the HTTPRoute say which hosts it serves",
    "scheme": "an HTTPRouteMatch has no scheme",
    "ignoreUriCase": "an HTTPRouteMatch cannot ignore the case of the path",
    "statPrefix": "an HTTPRouteMatch has no statistics prefix",
    "name": "an HTTPRouteMatch has no name",
}


# ---------------------------------------------------------------------------------------------
# Options


def http_route_ref(params):
    """``(namespace, name, rule)`` of the HTTPRoute: the ``http_route`` option, else ``<apex>`` in the namespace."""
    ref = params.get("http_route") or {}
    if not isinstance(ref, dict):
        raise CanaryError("http_route must be a mapping with name and optionally namespace and rule, got %r" % (ref,), field="http_route")
    unknown = sorted(set(ref) - set(("name", "namespace", "rule")))
    if unknown:
        raise CanaryError("http_route has unknown keys %s; it takes name, namespace and rule" % ", ".join(unknown), field="http_route")
    name = ref.get("name") or params.get("service_name") or params.get("target")
    namespace = ref.get("namespace") or params.get("namespace")
    if name is not None:
        check_name(name, "http_route.name", "subdomain")
    if namespace is not None:
        check_name(namespace, "http_route.namespace", "label")
    rule = ref.get("rule")
    if rule is not None and (isinstance(rule, bool) or not isinstance(rule, (int, str)) or (isinstance(rule, int) and rule < 0)):
        raise CanaryError("http_route.rule must be the index of a rule (0 or more) or the name of a rule, got %r" % (rule,),
                          field="http_route")
    if isinstance(rule, str) and rule.isdigit():
        rule = int(rule)
    return namespace, name, rule


def validate_weight(weight, field="weight"):
    """An int in 0..100 (bools and strings are refused: ``"50"`` is not a weight)."""
    if isinstance(weight, bool) or not isinstance(weight, int):
        raise CanaryError("%s must be an integer from 0 to 100, got %r" % (field, weight), field=field)
    if weight < 0 or weight > 100:
        raise CanaryError("%s must be between 0 and 100 (the canary's percent of traffic), got %d" % (field, weight), field=field)
    return weight


def _string_match(value, where, kinds, field):
    if not isinstance(value, dict) or len(value) != 1:
        raise CanaryError("%s must be a mapping with exactly one of %s, got %r" % (where, ", ".join(kinds), value), field=field)
    kind, text = list(value.items())[0]
    if kind not in kinds:
        hint = " (Gateway API has no prefix match there: use regex '^<prefix>.*')" if kind == "prefix" else ""
        raise CanaryError("%s uses %r, which Gateway API cannot express%s; use one of %s" % (where, kind, hint, ", ".join(kinds)),
                          field=field)
    if not isinstance(text, str):
        raise CanaryError("%s.%s must be a string, got %r" % (where, kind, text), field=field)
    return {kind: text}


def normalise_match(match, field="match"):
    """Validate the Istio-style ``match`` option for Gateway API; a normalised copy, or None.

    Each condition may use ``uri`` (exact, prefix, regex), ``headers`` and ``queryParams`` (exact,
    regex) and ``method`` (exact); anything else is refused, naming what Gateway API cannot say.
    """
    if match is None:
        return None
    if field == "mirror_match":
        raise CanaryError("mirror_match is not supported by router=gatewayapi: a RequestMirror filter mirrors every request of the "
                          "weighted rule; remove mirror_match and use mirror (with mirror_weight for a share)", field=field)
    if not isinstance(match, list) or not match:
        raise CanaryError("%s must be a non-empty list of conditions, got %r" % (field, match), field=field)
    result = []
    for index, condition in enumerate(match):
        where = "%s[%d]" % (field, index)
        if not isinstance(condition, dict) or not condition:
            raise CanaryError("%s must be a non-empty mapping, got %r" % (where, condition), field=field)
        normalised = {}
        for key, value in sorted(condition.items()):
            if key in _INEXPRESSIBLE:
                raise CanaryError("%s.%s cannot be expressed by router=gatewayapi: %s; remove it" % (where, key, _INEXPRESSIBLE[key]),
                                  field=field)
            if key not in _MATCH_FIELDS:
                raise CanaryError("%s has unknown key %r; use %s" % (where, key, ", ".join(_MATCH_FIELDS)), field=field)
            if key == "uri":
                normalised[key] = _string_match(value, "%s.uri" % where, tuple(_PATH_TYPES), field)
            elif key == "method":
                normalised[key] = _string_match(value, "%s.method" % where, ("exact",), field)
            else:
                if not isinstance(value, dict) or not value:
                    raise CanaryError("%s.%s must be a mapping of names to matchers, got %r" % (where, key, value), field=field)
                normalised[key] = dict((name, _string_match(matcher, "%s.%s.%s" % (where, key, name), tuple(_VALUE_TYPES), field))
                                       for name, matcher in value.items())
        result.append(normalised)
    return result


def validate_mirror(weight, mirror, mirror_weight, mirror_match=None):
    """The RequestMirror filter copies the weighted rule's requests to the canary (Flagger's mirror rule: weight 0)."""
    if mirror_match:
        normalise_match(mirror_match, field="mirror_match")
    if mirror_weight is not None:
        if not mirror:
            raise CanaryError("mirror_weight is set but nothing is mirrored: set mirror=true or remove mirror_weight", field="mirror_weight")
        validate_weight(mirror_weight, field="mirror_weight")
        if mirror_weight == 0:
            raise CanaryError("mirror_weight must be between 1 and 100; to stop mirroring set mirror=false", field="mirror_weight")
    if mirror and weight != 0:
        raise CanaryError("mirror=true needs weight 0 (got %d): mirrored requests are counted in the canary's metrics, so mirroring while "
                          "the canary also gets live traffic would count it twice; set weight to 0 or mirror to false" % weight,
                          field="mirror")


def validate_session_affinity(session_affinity, field="session_affinity"):
    if session_affinity:
        raise CanaryError("session_affinity is not supported by router=gatewayapi (Gateway API's sessionPersistence is experimental); "
                          "remove it", field=field)
    return None


def validate_parent_refs(parent_refs, field="parent_refs"):
    if parent_refs is None:
        return
    if not isinstance(parent_refs, list) or not parent_refs:
        raise CanaryError("%s must be a non-empty list of Gateway references, got %r" % (field, parent_refs), field=field)
    for index, ref in enumerate(parent_refs):
        if not isinstance(ref, dict) or not ref.get("name"):
            raise CanaryError("%s[%d] must be a mapping with at least name (the Gateway), got %r" % (field, index, ref), field=field)


def validate_hostnames(hostnames, field="hostnames"):
    for index, hostname in enumerate(hostnames or []):
        if not isinstance(hostname, str) or not hostname or ":" in hostname:
            raise CanaryError("%s[%d] must be a host name without a port (for example app.example.com), got %r" % (field, index, hostname),
                              field=field)


# ---------------------------------------------------------------------------------------------
# The HTTPRoute


def build_http_route(namespace, name, apex, parent_refs, hostnames=None, port=None):
    """The collection's HTTPRoute ``name``: one rule (named ``apex``) sending 100 % to ``<apex>-primary``.

    The CRD's defaults (parentRef group and kind, backendRef group and kind, the rule's ``/`` path
    match) are written out, so the HTTPRoute read back equals the one built and a second run changes nothing.
    """
    parents = [dict(dict(group=GATEWAY_GROUP, kind="Gateway"), **ref) for ref in copy.deepcopy(parent_refs)]
    spec = {
        "parentRefs": parents,
        "rules": [{"name": apex, "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                   "backendRefs": [_backend_ref(primary_name(apex), port, 100), _backend_ref(canary_name(apex), port, 0)]}],
    }
    if hostnames:
        spec["hostnames"] = list(hostnames)
    return {"apiVersion": API_VERSION, "kind": HTTP_ROUTE, "metadata": {"name": name, "namespace": namespace, "labels": managed_labels()},
            "spec": spec}


def _backend_ref(name, port, weight):
    ref = {"group": "", "kind": "Service", "name": name, "weight": weight}
    if port is not None:
        ref["port"] = port
    return ref


def _is_service(ref, name, namespace):
    return (ref.get("name") == name and (ref.get("kind") or "Service") == "Service" and (ref.get("group") or "") == ""
            and (ref.get("namespace") or namespace) == namespace)


def _role_of(ref, apex, namespace):
    for role, name in (("primary", primary_name(apex)), ("canary", canary_name(apex))):
        if _is_service(ref, name, namespace):
            return role
    return None


def find_rule(spec, rule, apex, namespace, route_label):
    """The index of the weighted rule; CanaryError naming the field and the fix when it cannot be found."""
    rules = spec.get("rules") or []
    wanted = "the Services %s and %s" % (primary_name(apex), canary_name(apex))
    if isinstance(rule, int):
        if rule >= len(rules):
            raise CanaryError("HTTPRoute %s has %d rule(s); http_route.rule=%d does not exist: fix http_route.rule" % (route_label, len(rules), rule),
                              field="http_route")
        index = rule
    elif rule is not None:
        named = [i for i, r in enumerate(rules) if r.get("name") == rule]
        if not named:
            raise CanaryError("HTTPRoute %s has no rule named %r (spec.rules[].name): name the rule in the HTTPRoute or fix http_route.rule"
                              % (route_label, rule), field="http_route")
        index = named[0]
    else:
        candidates = [i for i, r in enumerate(rules) if not (r.get("name") or "").endswith("-canary-match")
                      and any(_role_of(ref, apex, namespace) for ref in r.get("backendRefs") or [])]
        if len(candidates) != 1:
            raise CanaryError("HTTPRoute %s has %s rule sending traffic to %s: set http_route.rule to the index or name of the rule to "
                              "split" % (route_label, "no" if not candidates else "more than one", wanted), field="http_route")
        index = candidates[0]
    if not any(_role_of(ref, apex, namespace) == "primary" for ref in rules[index].get("backendRefs") or []):
        raise CanaryError("spec.rules[%d].backendRefs of HTTPRoute %s does not name the Service %s (the primary): point a backendRef of "
                          "that rule at %s (kind Service) or set service_name / http_route.rule to the rule that does"
                          % (index, route_label, primary_name(apex), primary_name(apex)), field="http_route")
    return index


def _weights(rule, apex, namespace):
    found = {"primary": 0, "canary": 0}
    for ref in rule.get("backendRefs") or []:
        role = _role_of(ref, apex, namespace)
        if role:
            # Gateway API's default weight is 1.
            found[role] += ref.get("weight", 1)
    total = found["primary"] + found["canary"]
    canary = int(round(100.0 * found["canary"] / total)) if total else 0
    return {"primary": 100 - canary, "canary": canary}


def _mirror_filter(rule, apex, namespace):
    for entry in rule.get("filters") or []:
        mirrored = (entry.get("requestMirror") or {}).get("backendRef") or {}
        if entry.get("type") == "RequestMirror" and _is_service(mirrored, canary_name(apex), namespace):
            return entry
    return None


def to_gateway_matches(match):
    """Istio-style conditions (normalised) as HTTPRouteMatches."""
    result = []
    for condition in match:
        out = {}
        if "uri" in condition:
            kind, value = list(condition["uri"].items())[0]
            out["path"] = {"type": _PATH_TYPES[kind], "value": value}
        for key in ("headers", "queryParams"):
            if key in condition:
                out[key] = [{"name": name, "type": _VALUE_TYPES[list(m)[0]], "value": list(m.values())[0]}
                            for name, m in sorted(condition[key].items())]
        if "method" in condition:
            out["method"] = condition["method"]["exact"]
        result.append(out)
    return result


def from_gateway_matches(matches):
    """HTTPRouteMatches read back into the Istio-style conditions of the ``match`` option."""
    paths = dict((v, k) for k, v in _PATH_TYPES.items())
    values = dict((v, k) for k, v in _VALUE_TYPES.items())
    result = []
    for m in matches or []:
        condition = {}
        if "path" in m:
            condition["uri"] = {paths.get(m["path"].get("type", "PathPrefix"), "prefix"): m["path"].get("value", "/")}
        for key in ("headers", "queryParams"):
            if m.get(key):
                condition[key] = dict((h["name"], {values.get(h.get("type", "Exact"), "exact"): h["value"]}) for h in m[key])
        if "method" in m:
            condition["method"] = {"exact": m["method"]}
        result.append(condition)
    return result


def _combine(own, ab, route_label):
    """One HTTPRouteMatch that holds when both hold; CanaryError when Gateway API cannot say it in one."""
    combined = copy.deepcopy(own)
    for key in ("path", "method"):
        if key in ab:
            if key in combined and combined[key] != ab[key]:
                raise CanaryError("the A/B match sets %s %r but the weighted rule of HTTPRoute %s matches %s %r: an HTTPRouteMatch holds only "
                                  "one; drop %s from match" % (key, ab[key], route_label, key, combined[key], key), field="match")
            combined[key] = copy.deepcopy(ab[key])
    for key in ("headers", "queryParams"):
        names = dict((h["name"].lower() if key == "headers" else h["name"], h) for h in combined.get(key) or [])
        for h in ab.get(key) or []:
            name = h["name"].lower() if key == "headers" else h["name"]
            if name in names and names[name] != h:
                raise CanaryError("the A/B match and the weighted rule of HTTPRoute %s both match %s %r differently; drop it from match"
                                  % (route_label, key, h["name"]), field="match")
            names[name] = h
        if names:
            combined[key] = [names[n] for n in sorted(names)]
    return combined


def _ab_rule_name(rule, apex):
    return match_route_name(rule.get("name") or apex)


def read_state(spec, rule_index, apex, namespace):
    rules = spec.get("rules") or []
    rule = rules[rule_index]
    ab_name = _ab_rule_name(rule, apex)
    ab = [r for r in rules if r.get("name") == ab_name]
    mirror = _mirror_filter(rule, apex, namespace)
    mirror_percent = ((mirror or {}).get("requestMirror") or {}).get("percent")
    return {
        "weights": _weights(rule, apex, namespace),
        "match": from_gateway_matches(ab[0].get("matches")) if ab else None,
        "mirror": mirror is not None,
        "mirror_weight": mirror_percent if mirror is not None else None,
        "mirror_match": None,
        "session_affinity": None,
    }


def set_routing(spec, rule_index, apex, namespace, weights, match=None, mirror=False, mirror_weight=None, route_label=""):
    """A copy of ``spec`` whose weighted rule carries ``weights`` (and the A/B rule and mirror filter asked for)."""
    if weights["primary"] + weights["canary"] != 100 or min(weights.values()) < 0:
        raise CanaryError("weights must be 0..100 and add up to 100, got %r" % (weights,), field="weight")
    spec = copy.deepcopy(spec)
    rules = spec.setdefault("rules", [])
    rule = rules[rule_index]
    refs = rule.setdefault("backendRefs", [])
    primary_ref = [ref for ref in refs if _role_of(ref, apex, namespace) == "primary"][0]
    if not any(_role_of(ref, apex, namespace) == "canary" for ref in refs):
        # The canary is added next to the primary, on the primary's port and namespace.
        canary_ref = dict((k, copy.deepcopy(v)) for k, v in primary_ref.items() if k in ("group", "kind", "namespace", "port"))
        canary_ref["name"] = canary_name(apex)
        refs.insert(refs.index(primary_ref) + 1, canary_ref)
    seen = set()
    for ref in refs:
        role = _role_of(ref, apex, namespace)
        if role:
            # A second backendRef to the same Service gets 0, so the sum stays the weight asked for.
            ref["weight"] = 0 if role in seen else weights[role]
            seen.add(role)

    filters = [f for f in rule.get("filters") or [] if f is not _mirror_filter(rule, apex, namespace)]
    if mirror:
        mirror_ref = dict((k, copy.deepcopy(v)) for k, v in primary_ref.items() if k in ("group", "kind", "namespace", "port"))
        mirror_ref["name"] = canary_name(apex)
        entry = {"type": "RequestMirror", "requestMirror": {"backendRef": mirror_ref}}
        if mirror_weight is not None:
            entry["requestMirror"]["percent"] = mirror_weight
        old = _mirror_filter(rule, apex, namespace)
        filters.append(old if old is not None and old == entry else entry)
    if filters:
        rule["filters"] = filters
    else:
        rule.pop("filters", None)

    ab_name = _ab_rule_name(rule, apex)
    rules[:] = [r for r in rules if r.get("name") != ab_name]
    if match:
        own_matches = rule.get("matches") or [{}]
        ab_matches = [_combine(own, ab, route_label) for ab in to_gateway_matches(match) for own in own_matches]
        ab_rule = {"name": ab_name, "matches": ab_matches,
                   "backendRefs": [dict(ref, weight=1) for ref in refs if _role_of(ref, apex, namespace) == "canary"][:1]}
        # The A/B rule copies the weighted rule's filters (header edits, rewrites), not its mirror.
        own_filters = [f for f in rule.get("filters") or [] if f.get("type") != "RequestMirror"]
        if own_filters:
            ab_rule["filters"] = copy.deepcopy(own_filters)
        if rule.get("timeouts"):
            ab_rule["timeouts"] = copy.deepcopy(rule["timeouts"])
        rules.insert(rules.index(rule), ab_rule)
    return spec


def distribution(obj, generation):
    """Whether every parent Gateway accepted ``generation`` of the HTTPRoute (None: no parent reports a status)."""
    parents = ((obj or {}).get("status") or {}).get("parents") or []
    if not parents:
        return None, "the HTTPRoute has no status from a Gateway controller"
    for parent in parents:
        accepted = [c for c in parent.get("conditions") or [] if c.get("type") == "Accepted"]
        if not accepted or accepted[0].get("status") != "True" or (accepted[0].get("observedGeneration") or 0) < (generation or 0):
            return False, "parent %s has not accepted generation %s yet" % ((parent.get("parentRef") or {}).get("name"), generation)
    return True, "accepted by every parent"


class GatewayAPIRouter(Router):
    """Gateway API: one rule of an HTTPRoute, the user's (``http_route``) or the collection's (``parent_refs``)."""

    name = "gatewayapi"

    def __init__(self, cluster, params):
        super(GatewayAPIRouter, self).__init__(cluster, params)
        self.route_namespace, self.route_name, self.rule = http_route_ref(dict(params, service_name=self.apex))
        self._init = None

    @property
    def route_label(self):
        return "%s/%s" % (self.route_namespace, self.route_name)

    @classmethod
    def validate_options(cls, params):
        for field, default in (("mode", "host"), ("destination_host", None), ("route_name", None)):
            if params.get(field) not in (None, default):
                raise CanaryError("%s is an Istio option; router=gatewayapi finds the rule by http_route: remove %s" % (field, field), field=field)
        http_route_ref(params)

    @classmethod
    def validate_init_options(cls, params):
        cls.validate_options(dict(params, mode=params.get("mode"), destination_host=None, route_name=None))
        for field in ("hosts", "gateways", "retries", "timeout", "cors_policy", "headers", "traffic_policy"):
            if params.get(field):
                raise CanaryError("%s is an Istio option; with router=gatewayapi use parent_refs and hostnames (the HTTPRoute's), or set "
                                  "them in your own HTTPRoute: remove %s" % (field, field), field=field)
        validate_parent_refs(params.get("parent_refs"))
        validate_hostnames(params.get("hostnames"))
        if params.get("hostnames") and not params.get("parent_refs"):
            raise CanaryError("hostnames are written into the HTTPRoute the collection creates, which needs parent_refs: add parent_refs "
                              "or remove hostnames", field="hostnames")

    def prepare_init(self):
        """With parent_refs: the collection's HTTPRoute; without: the user's, which must exist and name the primary."""
        params = self.params
        existing = self.get()
        if not params.get("parent_refs"):
            route = self.read()
            find_rule(route.get("spec") or {}, self.rule, self.apex, self.namespace, self.route_label)
            self._init = []
            return
        desired = build_http_route(self.route_namespace, self.route_name, self.apex, params["parent_refs"], params.get("hostnames"),
                                   params.get("port"))
        if existing is not None and not is_managed(existing):
            raise CanaryError("HTTPRoute %s already exists and was not created by progressive.delivery; remove parent_refs to route through "
                              "it as it is (http_route), or choose another http_route.name" % self.route_label, field="parent_refs")
        if existing is not None:
            # Keep the current split and A/B rule: canary_init run again must not reset a running analysis.
            old_spec = existing.get("spec") or {}
            try:
                index = find_rule(old_spec, self.apex, self.apex, self.namespace, self.route_label)
                state = read_state(old_spec, index, self.apex, self.namespace)
                desired["spec"] = set_routing(desired["spec"], 0, self.apex, self.namespace, state["weights"], state["match"] and
                                              normalise_match(state["match"]), state["mirror"], state["mirror_weight"], self.route_label)
            except CanaryError:
                pass
            desired = overlay(existing, desired, replace=("spec",))
        self._init = [(existing, desired)]

    def owned_objects(self):
        if self._init is None:
            self.prepare_init()
        return self._init

    def get(self):
        return self.cluster.get(API_VERSION, HTTP_ROUTE, self.route_namespace, self.route_name)

    def read(self):
        route = self.get()
        if route is None:
            raise CanaryError("HTTPRoute %s not found; create it (routing to the Service %s), set http_route.name to its name, or run "
                              "progressive.delivery.canary_init with router=gatewayapi and parent_refs"
                              % (self.route_label, primary_name(self.apex)), field="http_route")
        return route

    def _index(self, obj):
        return find_rule(obj.get("spec") or {}, self.rule, self.apex, self.namespace, self.route_label)

    def get_routes(self, obj):
        return read_state(obj.get("spec") or {}, self._index(obj), self.apex, self.namespace)

    def set_routes(self, obj, weights, match=None, mirror=False, mirror_weight=None, mirror_match=None, session_affinity=None):
        if mirror_match:
            normalise_match(mirror_match, field="mirror_match")
        new_obj = copy.deepcopy(obj)
        new_obj["spec"] = set_routing(obj.get("spec") or {}, self._index(obj), self.apex, self.namespace, weights, match=match, mirror=mirror,
                                      mirror_weight=mirror_weight, route_label=self.route_label)
        return new_obj

    def session_affinity(self, options, revision):
        return validate_session_affinity(options)

    def check_destinations(self, roles=("primary", "canary")):
        for role in roles:
            name = primary_name(self.apex) if role == "primary" else canary_name(self.apex)
            if self.cluster.get("v1", "Service", self.namespace, name) is None:
                raise CanaryError("Service %s/%s (the %s backendRef) not found; run progressive.delivery.canary_init or fix service_name"
                                  % (self.namespace, name, role), field="service_name")

    def distribution(self, obj, generation):
        return distribution(obj, generation)

    def restore(self, obj):
        # The user's route is edited in its weights only and the collection's is deleted with the canary: nothing to restore.
        return None

    def describe_routes(self, state):
        return [{"destination": name, "role": role, "weight": state["weights"][role]}
                for role, name in (("primary", primary_name(self.apex)), ("canary", canary_name(self.apex)))]

    normalise_match = staticmethod(normalise_match)
    validate_weight = staticmethod(validate_weight)
    validate_mirror = staticmethod(validate_mirror)
    validate_session_affinity = staticmethod(validate_session_affinity)
