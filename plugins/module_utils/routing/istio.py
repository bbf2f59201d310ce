# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Istio routing: DestinationRules, the apex VirtualService and the edits of its managed routes.

Plain Python on dicts shaped like the Kubernetes objects; nothing here talks to a cluster.
Two ways to address primary and canary are supported:

* host level (Flagger's model): destinations ``<apex>-primary`` and ``<apex>-canary`` (Services);
* subset level (Argo Rollouts' model): one host, DestinationRule subsets such as ``v1`` / ``v2``.

The routes this module manages are found by name: the weighted route ``route_name`` and the A/B
route ``<route_name>-canary-match`` placed right ahead of it. Every other route and field of the
VirtualService is left as it is.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import json
import re

from ansible_collections.progressive.delivery.plugins.module_utils._errors import CanaryError
from ansible_collections.progressive.delivery.plugins.module_utils._names import (
    canary_name,
    check_name,
    managed_labels,
    match_route_name,
    primary_name,
)

API_VERSION = "networking.istio.io/v1beta1"
VIRTUAL_SERVICE = "VirtualService"
DESTINATION_RULE = "DestinationRule"

ORIGINAL_SPEC_ANNOTATION = "progressive.delivery/original-spec"

MODES = ("host", "subset")

# Fields of an http route that the A/B route inherits from the weighted route (Flagger does the same).
_INHERITED_ROUTE_FIELDS = ("rewrite", "timeout", "retries", "corsPolicy", "headers", "fault")

_STRING_MATCH_KINDS = ("exact", "prefix", "regex")
_STRING_MATCH_FIELDS = ("uri", "scheme", "method", "authority")
_STRING_MATCH_MAP_FIELDS = ("headers", "queryParams", "withoutHeaders")
_HTTP_MATCH_FIELDS = _STRING_MATCH_FIELDS + _STRING_MATCH_MAP_FIELDS + (
    "port", "sourceLabels", "gateways", "ignoreUriCase", "sourceNamespace", "statPrefix", "name")
_MATCH_FIELD_TYPES = {"port": "port", "gateways": "strings", "ignoreUriCase": "bool", "sourceNamespace": "str", "statPrefix": "str",
                      "name": "str"}

# Go's duration syntax as Istio's CRDs take it: one or more <number><unit>.
_DURATION = re.compile(r"^([0-9]+(\.[0-9]+)?(h|m|s|ms|us|ns))+$")
# istiod's wildcard domain rule for hosts ("*", "*.example.com", "reviews", "reviews.prod.svc.cluster.local", an IP).
_HOST = re.compile(r"^(\*|\*\.)?([A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?\.?)*[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?$|^\*$")


class RouteTarget(object):
    """Where the managed routes send traffic: the primary and canary destinations and the route name."""

    def __init__(self, primary, canary, route_name, mode):
        self.primary = primary
        self.canary = canary
        self.route_name = route_name
        self.mode = mode

    @property
    def match_route_name(self):
        return match_route_name(self.route_name)

    def __repr__(self):
        return "RouteTarget(%r, %r, %r, %r)" % (self.primary, self.canary, self.route_name, self.mode)


def route_target(service_name, mode="host", host=None, primary_subset="primary", canary_subset="canary", route_name=None):
    """Build the RouteTarget for the module options of the same names."""
    if mode not in MODES:
        raise CanaryError("mode must be one of %s, got %r" % (", ".join(MODES), mode), field="mode")
    if not service_name:
        raise CanaryError("service_name must not be empty", field="service_name")
    route_name = route_name or service_name
    if mode == "host":
        if host is not None:
            raise CanaryError("destination_host is only used with mode=subset; with mode=host the destinations are "
                              "%s and %s: remove destination_host or set mode=subset" % (primary_name(service_name), canary_name(service_name)),
                              field="destination_host")
        return RouteTarget({"host": primary_name(service_name)}, {"host": canary_name(service_name)}, route_name, mode)
    host = host or service_name
    validate_destination_host(host, "destination_host")
    for field, subset in (("primary_subset", primary_subset), ("canary_subset", canary_subset)):
        if not subset:
            raise CanaryError("%s must name a DestinationRule subset of %s" % (field, host), field=field)
        check_name(subset, field, "label", what="an Istio subset name")
    if primary_subset == canary_subset:
        raise CanaryError("primary_subset and canary_subset are both %r: they must name two different subsets" % primary_subset,
                          field="canary_subset")
    return RouteTarget({"host": host, "subset": primary_subset}, {"host": host, "subset": canary_subset}, route_name, mode)


# ---------------------------------------------------------------------------------------------
# Input validation


def validate_weight(weight, field="weight"):
    """An int in 0..100 (bools and strings are refused: ``"50"`` is not a weight)."""
    if isinstance(weight, bool) or not isinstance(weight, int):
        raise CanaryError("%s must be an integer from 0 to 100, got %r" % (field, weight), field=field)
    if weight < 0 or weight > 100:
        raise CanaryError("%s must be between 0 and 100 (the canary's percent of traffic), got %d" % (field, weight), field=field)
    return weight


def _normalise_string_match(value, where):
    if not isinstance(value, dict) or len(value) != 1:
        raise CanaryError("%s must be a mapping with exactly one of exact, prefix, suffix or regex, got %r" % (where, value),
                          field="match")
    kind, text = list(value.items())[0]
    if kind == "suffix":
        # Istio has no suffix matcher (Flagger's API has): an anchored regex says the same.
        return {"regex": ".*" + re.escape(str(text))}
    if kind not in _STRING_MATCH_KINDS:
        raise CanaryError("%s uses %r; use one of exact, prefix, suffix or regex" % (where, kind), field="match")
    if not isinstance(text, str):
        raise CanaryError("%s.%s must be a string, got %r" % (where, kind, text), field="match")
    return {kind: text}


def normalise_match(match):
    """Validate a list of Istio HTTPMatchRequests and return a normalised copy (suffix -> regex)."""
    if match is None:
        return None
    if not isinstance(match, list) or not match:
        raise CanaryError("match must be a non-empty list of Istio HTTPMatchRequests "
                          "(e.g. [{headers: {x-canary: {exact: insider}}}]); omit match to remove the A/B route",
                          field="match")
    result = []
    for index, condition in enumerate(match):
        where = "match[%d]" % index
        if not isinstance(condition, dict) or not condition:
            raise CanaryError("%s is empty: give at least one condition such as headers, uri or sourceLabels, "
                              "or omit match to remove the A/B route" % where, field="match")
        normalised = {}
        for key, value in condition.items():
            if key not in _HTTP_MATCH_FIELDS:
                raise CanaryError("%s.%s is not an Istio HTTPMatchRequest field; use one of %s"
                                  % (where, key, ", ".join(sorted(_HTTP_MATCH_FIELDS))), field="match")
            if key in _STRING_MATCH_FIELDS:
                normalised[key] = _normalise_string_match(value, "%s.%s" % (where, key))
            elif key in _STRING_MATCH_MAP_FIELDS:
                if not isinstance(value, dict) or not value:
                    raise CanaryError("%s.%s must be a non-empty mapping of name to string match" % (where, key), field="match")
                for name in value:
                    if key != "queryParams" and (not isinstance(name, str) or name != name.lower()):
                        raise CanaryError("%s.%s: header name %r must be lowercase (Istio refuses it otherwise); write %r"
                                          % (where, key, name, str(name).lower()), field="match")
                normalised[key] = dict((name, _normalise_string_match(v, "%s.%s.%s" % (where, key, name)))
                                       for name, v in value.items())
            elif key == "sourceLabels":
                if not isinstance(value, dict) or not value or not all(isinstance(v, str) for v in value.values()):
                    raise CanaryError("%s.sourceLabels must be a non-empty mapping of label to value" % where, field="match")
                normalised[key] = dict(value)
            else:
                _check_type(value, _MATCH_FIELD_TYPES[key], "%s.%s" % (where, key), "match")
                normalised[key] = copy.deepcopy(value)
        result.append(normalised)
    return result


def validate_mirror(weight, mirror, mirror_weight):
    if mirror_weight is not None:
        if not mirror:
            raise CanaryError("mirror_weight is set but mirror is false: set mirror=true or remove mirror_weight", field="mirror_weight")
        validate_weight(mirror_weight, field="mirror_weight")
        if mirror_weight == 0:
            raise CanaryError("mirror_weight must be between 1 and 100; to stop mirroring set mirror=false", field="mirror_weight")
    if mirror and weight != 0:
        raise CanaryError("mirror=true needs weight 0 (got %d): mirrored requests are counted in the canary's metrics, "
                          "so mirroring while the canary also gets live traffic would count it twice; "
                          "set weight to 0 or mirror to false" % weight, field="mirror")


# ---------------------------------------------------------------------------------------------
# Option validation: the Istio parts of the module options, before anything is written.
#
# The shape of each field this collection knows is checked here (types, durations, the webhook rules
# that are stable across Istio releases); fields it does not know are left to the cluster, whose
# schema is the judge (every object is dry-run with fieldValidation=Strict before it is written).


def _shown(value):
    if isinstance(value, str) and value and value.strip() == value:
        return value
    return repr(value)


def _option(field):
    return re.split(r"[.\[]", field, maxsplit=1)[0]


_TYPE_TEXT = {
    "str": "a string", "bool": "true or false", "mapping": "a mapping", "strings": "a list of strings",
    "mappings": "a list of mappings", "port": "a port number from 1 to 65535", "string map": "a mapping of names to strings",
}


def _type_ok(value, kind):
    if kind == "str":
        return isinstance(value, str)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "mapping":
        return isinstance(value, dict)
    if kind == "strings":
        return isinstance(value, list) and all(isinstance(item, str) for item in value)
    if kind == "mappings":
        return isinstance(value, list) and all(isinstance(item, dict) for item in value)
    if kind == "port":
        return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 65536
    if kind == "string map":
        return isinstance(value, dict) and all(isinstance(item, str) for item in value.values())
    raise ValueError(kind)


def _check_type(value, kind, field, option=None):
    if not _type_ok(value, kind):
        hint = " (quote numbers and booleans meant as text)" if kind in ("str", "strings", "string map") else ""
        raise CanaryError("%s must be %s%s, got %s" % (field, _TYPE_TEXT[kind], hint, _shown(value)), field=option or _option(field))
    return value


def _check_fields(value, types, field):
    """Check the known fields of the mapping ``value``; unknown ones are the cluster schema's to judge."""
    _check_type(value, "mapping", field)
    for key, kind in types.items():
        if key in value and value[key] is not None:
            if kind == "duration":
                validate_duration(value[key], "%s.%s" % (field, key))
            elif kind == "string matches":
                _check_type(value[key], "mappings", "%s.%s" % (field, key))
                for index, item in enumerate(value[key]):
                    _check_string_match(item, "%s.%s[%d]" % (field, key, index))
            else:
                _check_type(value[key], kind, "%s.%s" % (field, key))
    return value


def _check_string_match(value, field):
    kinds = [kind for kind in _STRING_MATCH_KINDS if kind in (value or {})]
    if not isinstance(value, dict) or len(kinds) != 1 or not isinstance(value[kinds[0]], str):
        raise CanaryError("%s must be a string match: a mapping with exactly one of exact, prefix or regex, got %s"
                          % (field, _shown(value)), field=_option(field))


def validate_duration(value, field):
    """An Istio duration: a number with a unit (``120s``, ``1.5s``, ``500ms``, ``1m30s``); a bare number is refused."""
    if isinstance(value, str) and _DURATION.match(value):
        return value
    raise CanaryError("%s must be an Istio duration such as 120s or 1.5s (a number and a unit: h, m, s, ms, us or ns), got %s"
                      % (field, _shown(value)), field=_option(field))


_RETRY_FIELDS = {"perTryTimeout": "duration", "retryOn": "str", "retryRemoteLocalities": "bool"}
_CORS_FIELDS = {"allowOrigins": "string matches", "allowOrigin": "strings", "allowMethods": "strings", "allowHeaders": "strings",
                "exposeHeaders": "strings", "maxAge": "duration", "allowCredentials": "bool", "unmatchedPreflights": "str"}
_HEADER_OPERATION_FIELDS = {"set": "string map", "add": "string map", "remove": "strings"}
_TRAFFIC_POLICY_FIELDS = {"loadBalancer": "mapping", "connectionPool": "mapping", "outlierDetection": "mapping", "tls": "mapping",
                          "portLevelSettings": "mappings", "tunnel": "mapping", "proxyProtocol": "mapping"}


def validate_http_retry(retries, field="retries"):
    """Istio ``HTTPRetry``: ``attempts`` an integer >= 0, ``perTryTimeout`` a duration, and no settings with 0 attempts."""
    if retries is None:
        return None
    _check_fields(retries, _RETRY_FIELDS, field)
    attempts = retries.get("attempts")
    if attempts is not None and (isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 0):
        raise CanaryError("%s.attempts must be an integer >= 0 (the number of retries; 0 disables them), got %s"
                          % (field, _shown(attempts)), field=_option(field))
    configured = [key for key in ("perTryTimeout", "retryOn", "retryRemoteLocalities") if retries.get(key) is not None]
    if not attempts and configured:
        raise CanaryError("%s sets %s but attempts is %s, which disables retries, and Istio refuses that: set %s.attempts to 1 or more"
                          % (field, ", ".join(configured), "0" if attempts == 0 else "not set (0)", field), field=_option(field))
    return retries


def validate_cors_policy(cors_policy, field="cors_policy"):
    """Istio ``CorsPolicy``: lists of strings, ``allowOrigins`` string matches, ``maxAge`` a duration."""
    return None if cors_policy is None else _check_fields(cors_policy, _CORS_FIELDS, field)


def validate_headers(headers, field="headers"):
    """Istio ``Headers``: ``request`` / ``response`` with ``set`` and ``add`` (name: value strings) and ``remove`` (names)."""
    if headers is None:
        return None
    _check_type(headers, "mapping", field)
    for part in ("request", "response"):
        if headers.get(part) is not None:
            _check_fields(headers[part], _HEADER_OPERATION_FIELDS, "%s.%s" % (field, part))
    return headers


def validate_traffic_policy(traffic_policy, field="traffic_policy"):
    """Istio ``TrafficPolicy``: its sections are mappings (their contents are the cluster schema's to judge)."""
    return None if traffic_policy is None else _check_fields(traffic_policy, _TRAFFIC_POLICY_FIELDS, field)


def validate_host(host, field, wildcard=True):
    """A host of a VirtualService (``wildcard``) or a destination: a DNS name (optionally ``*.``-prefixed) or an IP."""
    if not isinstance(host, str) or not host or len(host) > 255 or not _HOST.match(host) or (not wildcard and "*" in host):
        raise CanaryError("%s must be a host name such as reviews, reviews.prod.svc.cluster.local or %s, got %s"
                          % (field, "*.example.com" if wildcard else "10.0.0.1", _shown(host)), field=_option(field))
    return host


def validate_destination_host(host, field="destination_host"):
    return None if host is None else validate_host(host, field, wildcard=False)


def validate_hosts(hosts, field="hosts"):
    for index, host in enumerate(hosts or []):
        validate_host(host, "%s[%d]" % (field, index))
    return hosts


def validate_gateways(gateways, field="gateways"):
    """Gateway references: ``mesh``, ``<name>``, ``<namespace>/<name>`` or a Gateway's FQDN."""
    for index, gateway in enumerate(gateways or []):
        where = "%s[%d]" % (field, index)
        if not isinstance(gateway, str) or not gateway:
            raise CanaryError("%s must name a Gateway (mesh, <name> or <namespace>/<name>), got %s" % (where, _shown(gateway)),
                              field=_option(field))
        if gateway == "mesh":
            continue
        namespace, name = gateway.rpartition("/")[::2]
        if namespace:
            check_name(namespace, where, "label", what="the namespace part of %s" % gateway)
        check_name(name, where, "subdomain", what="a Gateway name")
    return gateways


# ---------------------------------------------------------------------------------------------
# Object builders


def build_destination_rule(namespace, name, traffic_policy=None, labels=None):
    """DestinationRule ``name`` for host ``name`` (Flagger: no subsets, trafficPolicy copied)."""
    spec = {"host": name}
    if traffic_policy:
        spec["trafficPolicy"] = copy.deepcopy(traffic_policy)
    return {
        "apiVersion": API_VERSION,
        "kind": DESTINATION_RULE,
        "metadata": {"name": name, "namespace": namespace, "labels": managed_labels(labels)},
        "spec": spec,
    }


def _destination(destination, weight):
    return {"destination": copy.deepcopy(destination), "weight": weight}


def build_virtual_service(namespace, apex, hosts=None, gateways=None, retries=None, timeout=None, cors_policy=None,
                          headers=None, labels=None):
    """The apex VirtualService at 100/0, host-level (Flagger's initialisation)."""
    all_hosts = []
    for host in list(hosts or []) + [apex]:
        if host not in all_hosts:
            all_hosts.append(host)
    route = {"name": apex}
    for key, value in (("retries", retries), ("timeout", timeout), ("corsPolicy", cors_policy), ("headers", headers)):
        if value:
            route[key] = copy.deepcopy(value)
    target = route_target(apex)
    route["route"] = [_destination(target.primary, 100), _destination(target.canary, 0)]
    return {
        "apiVersion": API_VERSION,
        "kind": VIRTUAL_SERVICE,
        "metadata": {"name": apex, "namespace": namespace, "labels": managed_labels(labels)},
        "spec": {"hosts": all_hosts, "gateways": list(gateways) if gateways else ["mesh"], "http": [route]},
    }


def adopt_virtual_service(existing, desired):
    """``desired`` with the annotation that keeps ``existing``'s original spec (the first one only)."""
    result = copy.deepcopy(desired)
    annotations = dict((existing.get("metadata") or {}).get("annotations") or {})
    if ORIGINAL_SPEC_ANNOTATION not in annotations:
        annotations[ORIGINAL_SPEC_ANNOTATION] = json.dumps(existing.get("spec") or {}, sort_keys=True, separators=(",", ":"))
    result["metadata"]["annotations"] = annotations
    return result


def original_spec(virtual_service):
    """The spec saved at adoption, or None."""
    raw = ((virtual_service.get("metadata") or {}).get("annotations") or {}).get(ORIGINAL_SPEC_ANNOTATION)
    return json.loads(raw) if raw else None


# ---------------------------------------------------------------------------------------------
# Reading and editing the managed routes


def _same_destination(destination, wanted):
    destination = destination or {}
    return destination.get("host") == wanted.get("host") and destination.get("subset") == wanted.get("subset")


def _routes_to(route, wanted):
    return any(_same_destination(entry.get("destination"), wanted) for entry in route.get("route") or [])


def find_weighted_route(spec, target):
    """Index of the managed weighted route in ``spec.http``.

    By name; a VirtualService written by hand often has unnamed routes, so when no route carries
    the name, the single unnamed route that sends traffic to the primary destination is used.
    """
    http = spec.get("http") or []
    for index, route in enumerate(http):
        if route.get("name") == target.route_name:
            return index
    candidates = [index for index, route in enumerate(http)
                  if not route.get("name") and _routes_to(route, target.primary) and not _routes_to_only(route, target.canary)]
    if len(candidates) == 1:
        return candidates[0]
    names = [route.get("name") for route in http if route.get("name")]
    raise CanaryError("the VirtualService has no http route named %r%s; set route_name to the route that splits traffic "
                      "between %s and %s, or add `name: %s` to that route"
                      % (target.route_name, " (its routes: %s)" % ", ".join(names) if names else "",
                         describe_destination(target.primary), describe_destination(target.canary), target.route_name),
                      field="route_name")


def _routes_to_only(route, wanted):
    entries = route.get("route") or []
    return bool(entries) and all(_same_destination(entry.get("destination"), wanted) for entry in entries)


def describe_destination(destination):
    if destination.get("subset"):
        return "%s subset %s" % (destination["host"], destination["subset"])
    return destination["host"]


def _weight_of(route, wanted):
    entries = route.get("route") or []
    for entry in entries:
        if _same_destination(entry.get("destination"), wanted):
            if "weight" in entry:
                return entry["weight"]
            # Istio: a lone destination without a weight gets all traffic.
            return 100 if len(entries) == 1 else 0
    return 0


def read_state(spec, target):
    """The routing state of the managed routes: weights, A/B match, mirror."""
    http = spec.get("http") or []
    route = http[find_weighted_route(spec, target)]
    match = None
    for candidate in http:
        if candidate.get("name") == target.match_route_name:
            match = copy.deepcopy(candidate.get("match"))
    mirror = route.get("mirror")
    mirror_weight = None
    if mirror and route.get("mirrorPercentage"):
        mirror_weight = route["mirrorPercentage"].get("value")
    return {
        "weights": {"primary": _weight_of(route, target.primary), "canary": _weight_of(route, target.canary)},
        "match": match,
        "mirror": bool(mirror),
        "mirror_weight": mirror_weight,
    }


def _check_weights(weights):
    primary, canary = weights["primary"], weights["canary"]
    for name, value in (("primary", primary), ("canary", canary)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise CanaryError("the %s weight must be a non-negative integer, got %r" % (name, value), field="weight")
    if primary + canary != 100:
        raise CanaryError("refusing to write weights primary=%d canary=%d: they must sum to 100" % (primary, canary), field="weight")


def _weighted_entries(route, target, weights):
    """The route's destination list with the two managed destinations at ``weights``.

    Extra fields of an existing destination entry (port, headers) are kept; a destination that is
    neither primary nor canary is an error, since the weights would no longer sum to 100.
    """
    existing = {}
    for entry in route.get("route") or []:
        destination = entry.get("destination") or {}
        if _same_destination(destination, target.primary):
            existing["primary"] = entry
        elif _same_destination(destination, target.canary):
            existing["canary"] = entry
        else:
            raise CanaryError("route %r also sends traffic to %s; the managed route may only have the primary (%s) and canary (%s) "
                              "destinations: remove the other destination or manage a different route_name"
                              % (route.get("name") or target.route_name, describe_destination(destination),
                                 describe_destination(target.primary), describe_destination(target.canary)),
                              field="route_name")
    entries = []
    for role, wanted in (("primary", target.primary), ("canary", target.canary)):
        entry = copy.deepcopy(existing.get(role) or {"destination": copy.deepcopy(wanted)})
        entry["weight"] = weights[role]
        entries.append(entry)
    return entries


def _merge_matches(route_match, ab_match):
    """Each A/B condition combined with each condition of the weighted route (both must hold)."""
    if not route_match:
        return copy.deepcopy(ab_match)
    merged = []
    for own in route_match:
        for condition in ab_match:
            combined = copy.deepcopy(own)
            combined.update(copy.deepcopy(condition))
            merged.append(combined)
    return merged


def set_routing(spec, target, weights, match=None, mirror=False, mirror_weight=None):
    """Return a copy of ``spec`` whose managed routes carry exactly the given state.

    ``weights`` is ``{"primary": p, "canary": c}`` (sum 100). ``match`` (normalised) puts an A/B
    route ahead of the weighted route sending 100% to canary; ``None`` removes it. ``mirror`` mirrors
    the weighted route to canary (``mirror_weight`` percent, all when None).
    """
    _check_weights(weights)
    result = copy.deepcopy(spec)
    http = result.get("http") or []
    index = find_weighted_route(result, target)
    route = http[index]
    route["route"] = _weighted_entries(route, target, weights)
    if mirror:
        route["mirror"] = copy.deepcopy(target.canary)
        if mirror_weight is not None:
            route["mirrorPercentage"] = {"value": float(mirror_weight)}
        else:
            route.pop("mirrorPercentage", None)
    else:
        route.pop("mirror", None)
        route.pop("mirrorPercentage", None)

    http = [candidate for candidate in http if candidate.get("name") != target.match_route_name]
    index = [position for position, candidate in enumerate(http) if candidate is route][0]
    if match:
        ab_route = {"name": target.match_route_name}
        for key in _INHERITED_ROUTE_FIELDS:
            if key in route:
                ab_route[key] = copy.deepcopy(route[key])
        ab_route["match"] = _merge_matches(route.get("match"), match)
        ab_route["route"] = [_destination(target.primary, 0), _destination(target.canary, 100)]
        http.insert(index, ab_route)
    result["http"] = http
    return result


def weights_for(canary_weight):
    return {"primary": 100 - canary_weight, "canary": canary_weight}


def carry_routing_state(existing_spec, desired_spec, target):
    """``desired_spec`` (fresh from build_virtual_service) keeping the routing state of ``existing_spec``.

    Re-running the initialisation during a rollout must not reset the split, the A/B route or the
    mirror; only the fields the user configures (hosts, gateways, retries, ...) are reconciled.
    """
    try:
        state = read_state(existing_spec, target)
    except CanaryError:
        return desired_spec
    weights = state["weights"]
    if weights["primary"] + weights["canary"] != 100:
        return desired_spec
    return set_routing(desired_spec, target, weights, match=state["match"], mirror=state["mirror"],
                       mirror_weight=state["mirror_weight"])


# ---------------------------------------------------------------------------------------------
# Destination checks (run against objects the module read from the cluster)


def destination_rule_hosts(host, namespace):
    """The spellings of ``host`` a DestinationRule may use: short, ``name.ns``, ``name.ns.svc[.cluster.local]``."""
    parts = host.split(".")
    short, host_namespace = parts[0], parts[1] if len(parts) > 1 else namespace
    spellings = set([host, "%s.%s" % (short, host_namespace), "%s.%s.svc" % (short, host_namespace),
                     "%s.%s.svc.cluster.local" % (short, host_namespace)])
    if host_namespace == namespace:
        spellings.add(short)
    return spellings


def check_subsets(destination_rules, target, namespace, roles=("primary", "canary")):
    """Raise unless a DestinationRule for the target's host defines the needed subsets."""
    host = target.primary["host"]
    spellings = destination_rule_hosts(host, namespace)
    rules = [rule for rule in destination_rules if (rule.get("spec") or {}).get("host") in spellings]
    if not rules:
        raise CanaryError("no DestinationRule in namespace %s has host %s; create one with subsets %s and %s "
                          "(mode=subset routes by subset), or set destination_host" % (namespace, host, target.primary["subset"], target.canary["subset"]),
                          field="destination_host")
    defined = set()
    for rule in rules:
        for subset in (rule.get("spec") or {}).get("subsets") or []:
            defined.add(subset.get("name"))
    for role in roles:
        destination = getattr(target, role)
        if destination["subset"] not in defined:
            raise CanaryError("DestinationRule %s (host %s) has no subset %r; add it or set %s_subset to one of: %s"
                              % (rules[0]["metadata"]["name"], host, destination["subset"], role,
                                 ", ".join(sorted(name for name in defined if name)) or "(none defined)"),
                              field="%s_subset" % role)
