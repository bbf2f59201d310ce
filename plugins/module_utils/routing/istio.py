# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Istio routing: DestinationRules, the apex VirtualService and the edits of its managed routes.

Plain Python on dicts shaped like the Kubernetes objects; ``IstioRouter`` at the end puts them behind
the Router interface and reads and writes through the Cluster it is given.
Two ways to address primary and canary are supported:

* host level (Flagger's model): destinations ``<apex>-primary`` and ``<apex>-canary`` (Services);
* subset level (Argo Rollouts' model): one host, DestinationRule subsets such as ``v1`` / ``v2``.

The routes this module manages are found by name: the weighted route ``route_name`` and, placed
ahead of it in this order, the session-affinity route ``<route_name>-canary-sticky``, the A/B route
``<route_name>-canary-match`` and the mirror route ``<route_name>-canary-mirror``. Every other route
and field of the VirtualService is left as it is.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import hashlib
import json
import re

from ansible_collections.progressive.delivery.plugins.module_utils._errors import CanaryError
from ansible_collections.progressive.delivery.plugins.module_utils._names import (
    apex_name,
    canary_name,
    check_name,
    is_managed,
    managed_labels,
    match_route_name,
    mirror_route_name,
    primary_name,
    sticky_route_name,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s._objects import overlay
from ansible_collections.progressive.delivery.plugins.module_utils.routing import _istio_status as istio_status
from ansible_collections.progressive.delivery.plugins.module_utils.routing._router import Router

API_VERSION = "networking.istio.io/v1beta1"
VIRTUAL_SERVICE = "VirtualService"
DESTINATION_RULE = "DestinationRule"

ORIGINAL_SPEC_ANNOTATION = "progressive.delivery/original-spec"

MODES = ("host", "subset")

CLUSTER_DOMAIN = "svc.cluster.local"

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
    """Where the managed routes send traffic: the primary and canary destinations and the route name.

    ``namespace`` is the VirtualService's: short host names resolve in it (None: unknown, so a
    short name only equals itself).
    """

    def __init__(self, primary, canary, route_name, mode, namespace=None):
        self.primary = primary
        self.canary = canary
        self.route_name = route_name
        self.mode = mode
        self.namespace = namespace

    @property
    def match_route_name(self):
        return match_route_name(self.route_name)

    @property
    def mirror_route_name(self):
        return mirror_route_name(self.route_name)

    @property
    def sticky_route_name(self):
        return sticky_route_name(self.route_name)

    @property
    def managed_route_names(self):
        """The routes placed ahead of the weighted route, in their order: sticky, A/B, mirror."""
        return (self.sticky_route_name, self.match_route_name, self.mirror_route_name)

    def __repr__(self):
        return "RouteTarget(%r, %r, %r, %r, %r)" % (self.primary, self.canary, self.route_name, self.mode, self.namespace)


def route_target(service_name, mode="host", host=None, primary_subset="primary", canary_subset="canary", route_name=None,
                 namespace=None):
    """Build the RouteTarget for the module options of the same names (``namespace``: the VirtualService's)."""
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
        return RouteTarget({"host": primary_name(service_name)}, {"host": canary_name(service_name)}, route_name, mode, namespace)
    host = host or service_name
    validate_destination_host(host, "destination_host")
    for field, subset in (("primary_subset", primary_subset), ("canary_subset", canary_subset)):
        if not subset:
            raise CanaryError("%s must name a DestinationRule subset of %s" % (field, host), field=field)
        check_name(subset, field, "label", what="an Istio subset name")
    if primary_subset == canary_subset:
        raise CanaryError("primary_subset and canary_subset are both %r: they must name two different subsets" % primary_subset,
                          field="canary_subset")
    return RouteTarget({"host": host, "subset": primary_subset}, {"host": host, "subset": canary_subset}, route_name, mode, namespace)


# ---------------------------------------------------------------------------------------------
# Host names


def qualified_host(host, namespace=None):
    """The fully qualified name of a Service host as written in a VirtualService or DestinationRule.

    ``backend`` (resolved in ``namespace``, as istiod resolves short names), ``backend.ns``,
    ``backend.ns.svc`` and ``backend.ns.svc.cluster.local`` all name one Service; case and a
    trailing dot do not matter. Other hosts (``app.example.com``, wildcards, IP addresses) and a
    short name without a namespace are returned as they are.
    """
    host = (host or "").strip().rstrip(".").lower()
    if not host or "*" in host or ":" in host:
        return host
    parts = host.split(".")
    if len(parts) == 1:
        return "%s.%s.%s" % (host, namespace, CLUSTER_DOMAIN) if namespace else host
    if len(parts) == 2:
        return "%s.%s" % (host, CLUSTER_DOMAIN)
    if len(parts) == 3 and parts[2] == "svc":
        return "%s.%s" % (host, CLUSTER_DOMAIN.split(".", 1)[1])
    return host


def same_host(one, other, namespace=None):
    """Whether two spellings name the same host (see qualified_host); the one check used everywhere."""
    return qualified_host(one, namespace) == qualified_host(other, namespace)


# ---------------------------------------------------------------------------------------------
# Input validation


def validate_weight(weight, field="weight"):
    """An int in 0..100 (bools and strings are refused: ``"50"`` is not a weight)."""
    if isinstance(weight, bool) or not isinstance(weight, int):
        raise CanaryError("%s must be an integer from 0 to 100, got %r" % (field, weight), field=field)
    if weight < 0 or weight > 100:
        raise CanaryError("%s must be between 0 and 100 (the canary's percent of traffic), got %d" % (field, weight), field=field)
    return weight


def _normalise_string_match(value, where, field="match"):
    if not isinstance(value, dict) or len(value) != 1:
        raise CanaryError("%s must be a mapping with exactly one of exact, prefix, suffix or regex, got %r" % (where, value),
                          field=field)
    kind, text = list(value.items())[0]
    if kind == "suffix":
        # Istio has no suffix matcher (Flagger's API has): an anchored regex says the same.
        return {"regex": ".*" + re.escape(str(text))}
    if kind not in _STRING_MATCH_KINDS:
        raise CanaryError("%s uses %r; use one of exact, prefix, suffix or regex" % (where, kind), field=field)
    if not isinstance(text, str):
        raise CanaryError("%s.%s must be a string, got %r" % (where, kind, text), field=field)
    return {kind: text}


# What each option's conditions do, for the messages on how to remove them.
_MATCH_PURPOSE = {"match": "the A/B route", "mirror_match": "the mirror route"}


def normalise_match(match, field="match"):
    """Validate a list of Istio HTTPMatchRequests and return a normalised copy (suffix -> regex).

    ``field`` names the option in the errors: ``match`` (the A/B route) or ``mirror_match``.
    """
    if match is None:
        return None
    purpose = _MATCH_PURPOSE.get(field, "the route")
    if not isinstance(match, list) or not match:
        raise CanaryError("%s must be a non-empty list of Istio HTTPMatchRequests "
                          "(e.g. [{headers: {x-canary: {exact: insider}}}]); omit %s to remove %s" % (field, field, purpose),
                          field=field)
    result = []
    for index, condition in enumerate(match):
        where = "%s[%d]" % (field, index)
        if not isinstance(condition, dict) or not condition:
            raise CanaryError("%s is empty: give at least one condition such as headers, uri or sourceLabels, "
                              "or omit %s to remove %s" % (where, field, purpose), field=field)
        normalised = {}
        for key, value in condition.items():
            if key not in _HTTP_MATCH_FIELDS:
                raise CanaryError("%s.%s is not an Istio HTTPMatchRequest field; use one of %s"
                                  % (where, key, ", ".join(sorted(_HTTP_MATCH_FIELDS))), field=field)
            if key in _STRING_MATCH_FIELDS:
                normalised[key] = _normalise_string_match(value, "%s.%s" % (where, key), field)
            elif key in _STRING_MATCH_MAP_FIELDS:
                if not isinstance(value, dict) or not value:
                    raise CanaryError("%s.%s must be a non-empty mapping of name to string match" % (where, key), field=field)
                for name in value:
                    if key != "queryParams" and (not isinstance(name, str) or name != name.lower()):
                        raise CanaryError("%s.%s: header name %r must be lowercase (Istio refuses it otherwise); write %r"
                                          % (where, key, name, str(name).lower()), field=field)
                normalised[key] = dict((name, _normalise_string_match(v, "%s.%s.%s" % (where, key, name), field))
                                       for name, v in value.items())
            elif key == "sourceLabels":
                if not isinstance(value, dict) or not value or not all(isinstance(v, str) for v in value.values()):
                    raise CanaryError("%s.sourceLabels must be a non-empty mapping of label to value" % where, field=field)
                normalised[key] = dict(value)
            else:
                _check_type(value, _MATCH_FIELD_TYPES[key], "%s.%s" % (where, key), field)
                normalised[key] = copy.deepcopy(value)
        result.append(normalised)
    return result


def validate_mirror(weight, mirror, mirror_weight, mirror_match=None):
    """The mirror options together: ``mirror`` (the whole weighted route, Blue/Green) or ``mirror_match``
    (Argo Rollouts' setMirrorRoute: only the matching requests), ``mirror_weight`` for either."""
    if mirror_weight is not None:
        if not mirror and not mirror_match:
            raise CanaryError("mirror_weight is set but nothing is mirrored: set mirror=true (mirror the weighted route) or "
                              "mirror_match (mirror the matching requests), or remove mirror_weight", field="mirror_weight")
        validate_weight(mirror_weight, field="mirror_weight")
        if mirror_weight == 0:
            raise CanaryError("mirror_weight must be between 1 and 100; to stop mirroring set mirror=false and remove mirror_match",
                              field="mirror_weight")
    if mirror and mirror_match:
        raise CanaryError("mirror=true mirrors every request of the weighted route and mirror_match only the matching ones: "
                          "set one of them (remove mirror_match, or set mirror=false)", field="mirror_match")
    if mirror and weight != 0:
        raise CanaryError("mirror=true needs weight 0 (got %d): mirrored requests are counted in the canary's metrics, "
                          "so mirroring while the canary also gets live traffic would count it twice; "
                          "set weight to 0 or mirror to false (or mirror only some requests with mirror_match)" % weight, field="mirror")
    # mirror_match at a weight above 0 is allowed, as Argo Rollouts allows setMirrorRoute during a canary: the
    # mirror route takes the matching requests before the weighted route sees them, so no request reaches the
    # canary both live and as a copy.


# Session affinity (Flagger's sessionAffinity): the cookie a response from the canary sets, and the
# route that sends the requests carrying it back to the canary.

DEFAULT_COOKIE_MAX_AGE = 86400
# RFC 6265 cookie-name: an RFC 7230 token.
_COOKIE_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_COOKIE_VALUE_LENGTH = 16
# The Set-Cookie value this module writes, and so the only one it removes or reads back.
_MANAGED_SET_COOKIE = re.compile(r"^(?P<name>[!#$%%&'*+.^_`|~0-9A-Za-z-]+)=(?P<value>[0-9a-f]{%d}); Max-Age=(?P<max_age>[0-9]+)$"
                                 % _COOKIE_VALUE_LENGTH)
_SET_COOKIE = "Set-Cookie"
_REGEX_SPECIALS = re.compile(r"([.^$*+?()\[\]{}|\\])")


def validate_session_affinity(session_affinity, field="session_affinity"):
    """``{cookie_name, max_age}`` checked and completed (max_age defaults to a day), or None."""
    if session_affinity is None:
        return None
    if not isinstance(session_affinity, dict):
        raise CanaryError("%s must be a mapping with cookie_name (and optionally max_age), got %s" % (field, _shown(session_affinity)),
                          field=field)
    unknown = sorted(set(session_affinity) - set(("cookie_name", "max_age")))
    if unknown:
        raise CanaryError("%s.%s is not known; %s takes cookie_name and max_age" % (field, unknown[0], field), field=field)
    name = session_affinity.get("cookie_name")
    if not isinstance(name, str) or not name:
        raise CanaryError("%s.cookie_name must name the cookie (a non-empty string such as canary-affinity), got %s"
                          % (field, _shown(name)), field=field)
    if not _COOKIE_NAME.match(name):
        raise CanaryError("%s.cookie_name %s is not a valid cookie name: use letters, digits and !#$%%&'*+-.^_`|~ only "
                          "(no spaces, '=', ';', ',', quotes or brackets)" % (field, _shown(name)), field=field)
    max_age = session_affinity.get("max_age")
    if max_age is None:
        max_age = DEFAULT_COOKIE_MAX_AGE
    if isinstance(max_age, bool) or not isinstance(max_age, int) or max_age <= 0:
        raise CanaryError("%s.max_age must be a number of seconds above 0 (how long a client keeps the cookie), got %s"
                          % (field, _shown(max_age)), field=field)
    return {"cookie_name": name, "max_age": max_age}


def session_cookie_value(revision, *scope):
    """The affinity cookie's value for one canary revision: a hash of the revision and ``scope`` (the route's names).

    Flagger draws a random value when a canary run starts and keeps it in the Canary's status. A module
    run has no such memory between calls, and a random value would change the VirtualService on every
    call (no idempotence, and a check-mode diff that differs from the real run). A value derived from
    the canary's revision (the hash of the target's pod template) is stable while the revision is, and
    changes with the next revision, so clients pinned to an old canary are split again like new ones,
    as Flagger's new cookie per run does. The scope (namespace, VirtualService, route, cookie name) keeps
    two canaries of one revision from sharing a cookie.
    """
    text = json.dumps([revision or ""] + [str(part) for part in scope], separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:_COOKIE_VALUE_LENGTH]


def cookie_regex(name, value):
    """The regex on the ``cookie`` header matching the cookie ``name=value`` wherever it is in the header.

    Clients separate cookies with "; " (RFC 6265), so the part before ours may end in spaces; Envoy
    matches the whole header value (RE2).
    """
    return r"^(.*?;\s*)?(%s=%s)(;.*)?$" % (_REGEX_SPECIALS.sub(r"\\\1", name), value)


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


def _same_destination(destination, wanted, namespace):
    """Whether ``destination`` (as the user wrote it) is ``wanted`` (a RouteTarget's destination)."""
    destination = destination or {}
    return same_host(destination.get("host"), wanted.get("host"), namespace) and destination.get("subset") == wanted.get("subset")


def _routes_to(route, wanted, namespace):
    return any(_same_destination(entry.get("destination"), wanted, namespace) for entry in route.get("route") or [])


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
                  if not route.get("name") and _routes_to(route, target.primary, target.namespace)
                  and not _routes_to_only(route, target.canary, target.namespace)]
    if len(candidates) == 1:
        return candidates[0]
    names = [route.get("name") for route in http if route.get("name")]
    raise CanaryError("the VirtualService has no http route named %r%s; set route_name to the route that splits traffic "
                      "between %s and %s, or add `name: %s` to that route"
                      % (target.route_name, " (its routes: %s)" % ", ".join(names) if names else "",
                         describe_destination(target.primary), describe_destination(target.canary), target.route_name),
                      field="route_name")


def _routes_to_only(route, wanted, namespace):
    entries = route.get("route") or []
    return bool(entries) and all(_same_destination(entry.get("destination"), wanted, namespace) for entry in entries)


def describe_destination(destination):
    if destination.get("subset"):
        return "%s subset %s" % (destination["host"], destination["subset"])
    return destination["host"]


def _weight_of(route, wanted, namespace):
    entries = route.get("route") or []
    for entry in entries:
        if _same_destination(entry.get("destination"), wanted, namespace):
            if "weight" in entry:
                return entry["weight"]
            # Istio: a lone destination without a weight gets all traffic.
            return 100 if len(entries) == 1 else 0
    return 0


def _named_route(http, name):
    for candidate in http:
        if candidate.get("name") == name:
            return candidate
    return None


def _mirror_percentage(route):
    return (route.get("mirrorPercentage") or {}).get("value") if route.get("mirror") else None


def _response_adds(entry):
    return (((entry or {}).get("headers") or {}).get("response") or {}).get("add") or {}


def _managed_set_cookie(entry):
    """``(header key, match)`` of the affinity Set-Cookie this module wrote on a destination entry, or (None, None)."""
    for key, value in _response_adds(entry).items():
        found = _MANAGED_SET_COOKIE.match(value) if key.lower() == _SET_COOKIE.lower() and isinstance(value, str) else None
        if found:
            return key, found
    return None, None


def _affinity_state(http, route, target):
    """The session affinity in force: the sticky route exists and a canary destination sets the cookie."""
    if _named_route(http, target.sticky_route_name) is None:
        return None
    ab_route = _named_route(http, target.match_route_name)
    for candidate in (route, ab_route):
        for entry in (candidate or {}).get("route") or []:
            if _same_destination(entry.get("destination"), target.canary, target.namespace):
                found = _managed_set_cookie(entry)[1]
                if found:
                    return {"cookie_name": found.group("name"), "max_age": int(found.group("max_age")),
                            "cookie_value": found.group("value")}
    return None


def read_state(spec, target):
    """The routing state of the managed routes: weights, A/B match, mirror, mirror match, session affinity."""
    http = spec.get("http") or []
    route = http[find_weighted_route(spec, target)]
    ab_route = _named_route(http, target.match_route_name)
    mirror_route = _named_route(http, target.mirror_route_name)
    mirror_weight = _mirror_percentage(route)
    if mirror_route is not None and not route.get("mirror"):
        mirror_weight = _mirror_percentage(mirror_route)
    return {
        "weights": {"primary": _weight_of(route, target.primary, target.namespace),
                    "canary": _weight_of(route, target.canary, target.namespace)},
        "match": copy.deepcopy(ab_route.get("match")) if ab_route is not None else None,
        "mirror": bool(route.get("mirror")),
        "mirror_weight": mirror_weight,
        "mirror_match": copy.deepcopy(mirror_route.get("match")) if mirror_route is not None else None,
        "session_affinity": _affinity_state(http, route, target),
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

    Existing destination entries are kept as written (host spelling, port, headers); a missing one
    is added in the spelling of the other. A destination that is neither primary nor canary is an
    error, since the weights would no longer sum to 100.
    """
    existing = {}
    for entry in route.get("route") or []:
        destination = entry.get("destination") or {}
        if _same_destination(destination, target.primary, target.namespace):
            existing["primary"] = entry
        elif _same_destination(destination, target.canary, target.namespace):
            existing["canary"] = entry
        else:
            raise CanaryError("route %r also sends traffic to %s; the managed route may only have the primary (%s) and canary (%s) "
                              "destinations: remove the other destination or manage a different route_name"
                              % (route.get("name") or target.route_name, describe_destination(destination),
                                 describe_destination(target.primary), describe_destination(target.canary)),
                              field="route_name")
    entries = []
    for role, other, wanted in (("primary", "canary", target.primary), ("canary", "primary", target.canary)):
        if role in existing:
            entry = copy.deepcopy(existing[role])
        else:
            like = (existing.get(other) or {}).get("destination") or {}
            entry = {"destination": _spelled_like(wanted, like, target)}
        entry["weight"] = weights[role]
        entries.append(entry)
    return entries


def _spelled_like(wanted, like, target):
    """``wanted`` written as the user wrote ``like``, the destination of the other role (``.ns.svc...``
    suffix; with one host for both, as in subset mode, also its port)."""
    result = copy.deepcopy(wanted)
    host = like.get("host") or ""
    if "." in host and "." not in wanted["host"]:
        respelled = wanted["host"] + host[host.index("."):]
        if same_host(respelled, wanted["host"], target.namespace):
            result["host"] = respelled
    if like.get("port") and same_host(like.get("host"), wanted["host"], target.namespace):
        result["port"] = copy.deepcopy(like["port"])
    return result


def set_routing(spec, target, weights, match=None, mirror=False, mirror_weight=None, mirror_match=None, session_affinity=None):
    """Return a copy of ``spec`` whose managed routes carry exactly the given state.

    ``weights`` is ``{"primary": p, "canary": c}`` (sum 100). ``match`` (normalised) puts an A/B
    route ahead of the weighted route sending 100% to canary; ``None`` removes it. The A/B route
    matches the requests that match both ``match`` and the weighted route's own conditions
    (combine_matches). ``mirror`` mirrors the weighted route to canary (``mirror_weight`` percent,
    all when None). ``mirror_match`` (normalised) puts a mirror route ahead of the weighted route
    that sends the matching requests to the primary and mirrors them to the canary (``mirror_weight``
    percent). ``session_affinity`` (``{cookie_name, max_age, cookie_value}``) makes the canary's
    responses set the cookie and puts a sticky route first that sends its holders to the canary,
    while the canary has traffic (canary weight above 0, or an A/B route); ``None`` removes both.
    """
    def combined(conditions):
        if not conditions:
            return None
        return lambda route: combine_matches(route.get("match"), conditions, route.get("name") or target.route_name, target.namespace)
    return _set_routing(spec, target, weights, combined(match), mirror, mirror_weight, combined(mirror_match), session_affinity)


def _copied_fields(route, name):
    new_route = {"name": name}
    for key in _INHERITED_ROUTE_FIELDS:
        if key in route:
            new_route[key] = copy.deepcopy(route[key])
    return new_route


def _without_affinity_cookie(entry):
    """``entry`` without the affinity Set-Cookie this module wrote (empty header sections dropped)."""
    key = _managed_set_cookie(entry)[0]
    if key is None:
        return entry
    entry = copy.deepcopy(entry)
    headers = entry["headers"]
    del headers["response"]["add"][key]
    for part, parent in (("add", headers["response"]), ("response", headers), ("headers", entry)):
        if not parent[part]:
            del parent[part]
    return entry


def _with_affinity_cookie(entry, session_affinity, route_name):
    entry = copy.deepcopy(entry)
    adds = entry.setdefault("headers", {}).setdefault("response", {}).setdefault("add", {})
    for key in adds:
        if key.lower() == _SET_COOKIE.lower():
            # Istio keeps one value per header name in ``add``: ours would replace the user's.
            raise CanaryError("the canary destination of route %r already adds its own %s response header (%r); session_affinity "
                              "needs that header for its cookie: remove it from the destination or remove session_affinity"
                              % (route_name, key, adds[key]), field="session_affinity")
    adds[_SET_COOKIE] = "%s=%s; Max-Age=%d" % (
        session_affinity["cookie_name"], session_affinity["cookie_value"], session_affinity["max_age"])
    return entry


def _set_routing(spec, target, weights, ab_conditions, mirror, mirror_weight, mirror_conditions=None, session_affinity=None):
    """set_routing with ``ab_conditions(weighted_route)`` / ``mirror_conditions(weighted_route)`` giving the final
    conditions of the A/B and mirror routes (None: no such route)."""
    _check_weights(weights)
    result = copy.deepcopy(spec)
    http = result.get("http") or []
    index = find_weighted_route(result, target)
    route = http[index]
    route["route"] = [_without_affinity_cookie(entry) for entry in _weighted_entries(route, target, weights)]
    primary_entry, canary_entry = route["route"]
    if mirror:
        route["mirror"] = copy.deepcopy(canary_entry["destination"])
        if mirror_weight is not None:
            route["mirrorPercentage"] = {"value": float(mirror_weight)}
        else:
            route.pop("mirrorPercentage", None)
    else:
        route.pop("mirror", None)
        route.pop("mirrorPercentage", None)

    http = [candidate for candidate in http if candidate.get("name") not in target.managed_route_names]
    index = [position for position, candidate in enumerate(http) if candidate is route][0]
    ab_route = mirror_route = sticky_route = None
    if ab_conditions is not None:
        ab_route = _copied_fields(route, target.match_route_name)
        ab_route["match"] = ab_conditions(route)
        # The weighted route's destination entries as written there (host spelling, port, headers).
        ab_route["route"] = [dict(copy.deepcopy(primary_entry), weight=0), dict(copy.deepcopy(canary_entry), weight=100)]
    if mirror_conditions is not None:
        # Argo Rollouts' setMirrorRoute: the matching requests are answered by the primary alone and
        # copied to the canary; the weighted route keeps its split for every other request.
        mirror_route = _copied_fields(route, target.mirror_route_name)
        mirror_route["match"] = mirror_conditions(route)
        mirror_route["route"] = [dict(copy.deepcopy(primary_entry), weight=100)]
        mirror_route["mirror"] = copy.deepcopy(canary_entry["destination"])
        if mirror_weight is not None:
            mirror_route["mirrorPercentage"] = {"value": float(mirror_weight)}
    if session_affinity and (weights["canary"] > 0 or ab_route is not None):
        # Flagger's sessionAffinity: every response the canary gives through a managed route sets the
        # cookie, and the sticky route, first of all, sends the requests carrying it to the canary.
        if weights["canary"] > 0:
            route["route"][1] = _with_affinity_cookie(canary_entry, session_affinity, route.get("name") or target.route_name)
        if ab_route is not None:
            ab_route["route"][1] = _with_affinity_cookie(ab_route["route"][1], session_affinity, target.match_route_name)
        sticky_route = _copied_fields(route, target.sticky_route_name)
        cookie = [{"headers": {"cookie": {"regex": cookie_regex(session_affinity["cookie_name"], session_affinity["cookie_value"])}}}]
        sticky_route["match"] = combine_matches(route.get("match"), cookie, route.get("name") or target.route_name, target.namespace)
        sticky_route["route"] = [dict(copy.deepcopy(primary_entry), weight=0), dict(copy.deepcopy(canary_entry), weight=100)]
    # First match wins: cookie holders stay on the canary, then the A/B test, then the mirrored requests.
    ahead = [extra for extra in (sticky_route, ab_route, mirror_route) if extra is not None]
    http[index:index] = ahead
    result["http"] = http
    return result


weights_for = Router.weights_for


def carry_routing_state(existing_spec, desired_spec, target):
    """``desired_spec`` (fresh from build_virtual_service) keeping the routing state of ``existing_spec``.

    Re-running the initialisation during a rollout must not reset the split, the A/B route, the
    mirror (route) or the session affinity; only the fields the user configures (hosts, gateways,
    retries, ...) are reconciled.
    """
    try:
        state = read_state(existing_spec, target)
    except CanaryError:
        return desired_spec
    weights = state["weights"]
    if weights["primary"] + weights["canary"] != 100:
        return desired_spec
    existing_own = (existing_spec.get("http") or [])[find_weighted_route(existing_spec, target)].get("match") or None

    def kept(carried):
        # The A/B and mirror routes already hold the weighted route's conditions: kept as they are while
        # those are unchanged, else combined with the new ones (they can only get narrower, never wider).
        if not carried:
            return None

        def conditions(route):
            if (route.get("match") or None) == existing_own:
                return copy.deepcopy(carried)
            return combine_matches(route.get("match"), carried, route.get("name") or target.route_name, target.namespace)
        return conditions
    return _set_routing(desired_spec, target, weights, kept(state["match"]), state["mirror"], state["mirror_weight"],
                        kept(state["mirror_match"]), state["session_affinity"])


# ---------------------------------------------------------------------------------------------
# The A/B route's conditions: the weighted route's own conditions AND the A/B conditions
#
# A route's ``match`` is an OR of HTTPMatchRequests and the fields of one HTTPMatchRequest are
# ANDed, so requests that match the weighted route and an A/B condition are exactly those matching
# (route condition i AND A/B condition j) for some i, j. Each pair becomes one condition holding
# every field of both. A pair no request can satisfy is left out (the A/B route matches the same
# requests without it). A pair one HTTPMatchRequest cannot express (two regexes on one header, say)
# is an error: widening it would send requests to the canary that the weighted route never gets,
# narrowing it would silently shrink the A/B test.


class _Impossible(Exception):
    """No request satisfies both conditions of a pair."""


class _Inexpressible(Exception):
    """Both conditions can hold at once, but no single HTTPMatchRequest says so."""


def _describe_condition(condition):
    return json.dumps(condition, sort_keys=True)


def _matcher(spec, case_insensitive=False):
    """An Istio StringMatch as ``(kind, text, case_insensitive)``.

    ``kind`` is ``present`` for no matcher or the regex ``*`` (istiod writes a present-match),
    ``unknown`` for anything else this module cannot reason about. Case only matters to exact and
    prefix matchers of text that has cased characters (Envoy ignores it for regexes).
    """
    if not spec:
        return ("present", None, False)
    if isinstance(spec, dict) and len(spec) == 1:
        kind, text = list(spec.items())[0]
        if kind == "regex" and text == "*":
            return ("present", None, False)
        if kind in _STRING_MATCH_KINDS and isinstance(text, str):
            uncased = text.lower() == text.upper()
            return (kind, text, bool(case_insensitive) and kind != "regex" and not uncased)
    return ("unknown", json.dumps(spec, sort_keys=True), False)


def _describe_matcher(matcher):
    kind, text, insensitive = matcher
    if kind == "present":
        return "present"
    return "%s %s%s" % (kind, json.dumps(text) if kind != "unknown" else text, " (ignoring case)" if insensitive else "")


def _covers(loose, tight):
    """Whether every string ``tight`` accepts is also accepted by ``loose``."""
    loose_kind, loose_text, loose_ci = loose
    tight_kind, tight_text, tight_ci = tight
    if loose_kind == "present":
        return True
    if loose_kind in ("regex", "unknown") or tight_kind in ("present", "regex", "unknown"):
        return loose == tight
    if loose_kind == "exact" and tight_kind == "prefix":
        return False
    if loose_kind == "prefix":
        if len(tight_text) < len(loose_text):
            return False
        head = tight_text[:len(loose_text)]
    else:
        if len(tight_text) != len(loose_text):
            return False
        head = tight_text
    if loose_ci:
        return head.lower() == loose_text.lower()
    # A case-insensitive tight matcher also accepts other cases of its head: fine only without cased characters.
    return head == loose_text and (not tight_ci or head.lower() == head.upper())


def _compatible(one, other):
    """Whether some string could satisfy two exact/prefix matchers (neither covering the other)."""
    (one_kind, one_text, one_ci), (other_kind, other_text, other_ci) = one, other
    if one_kind == other_kind == "exact" and len(one_text) != len(other_text):
        return False
    for kind, text, shorter in ((one_kind, one_text, other_text), (other_kind, other_text, one_text)):
        if kind == "exact" and len(text) < len(shorter):
            return False
    for a, b in zip(one_text, other_text):
        if a != b and not ((one_ci or other_ci) and a.lower() == b.lower()):
            return False
    return True


def _both(one, other, what):
    """The matcher accepting what both accept (one of the two), for the field ``what``."""
    if _covers(one, other):
        return other
    if _covers(other, one):
        return one
    if one[0] in ("exact", "prefix") and other[0] in ("exact", "prefix"):
        if not _compatible(one, other):
            raise _Impossible("%s: %s and %s" % (what, _describe_matcher(one), _describe_matcher(other)))
        # A case-sensitive prefix and a longer matcher that ignores case: the prefix fixes the case of
        # the head; when the rest has no cased characters one case-sensitive matcher says both.
        for sensitive, insensitive in ((one, other), (other, one)):
            if sensitive[0] == "prefix" and not sensitive[2] and insensitive[2] and len(insensitive[1]) > len(sensitive[1]):
                rest = insensitive[1][len(sensitive[1]):]
                if rest.lower() == rest.upper():
                    return (insensitive[0], sensitive[1] + rest, False)
    raise _Inexpressible("%s is %s in one and %s in the other, and one Istio condition holds a single matcher per field "
                         "(RE2 has no AND of two patterns)" % (what, _describe_matcher(one), _describe_matcher(other)))


def _neither(one, other, what):
    """The matcher rejecting what either accepts (withoutHeaders): the broader of the two."""
    if _covers(one, other) and not (one[0] == "present" and other[0] == "regex"):
        if one[0] == "present" and other[:2] == ("exact", ""):
            raise _Impossible("%s: absent and not empty" % what)  # a missing header counts as the empty string
        return one
    if _covers(other, one) and not (other[0] == "present" and one[0] == "regex"):
        if other[0] == "present" and one[:2] == ("exact", ""):
            raise _Impossible("%s: absent and not empty" % what)
        return other
    raise _Inexpressible("%s excludes %s in one and %s in the other, and one Istio condition excludes a single matcher per header"
                         % (what, _describe_matcher(one), _describe_matcher(other)))


def _pick(own, ab, matcher, own_spec, ab_spec):
    """The spec (as the user wrote it) behind the chosen matcher."""
    return copy.deepcopy(own_spec) if matcher == own else copy.deepcopy(ab_spec)


def _combine_map(own_map, ab_map, field, negate=False, case_sensitive_names=False):
    result = copy.deepcopy(own_map or {})
    names = dict(((name if case_sensitive_names else name.lower()), name) for name in result)
    for name, ab_spec in (ab_map or {}).items():
        key = name if case_sensitive_names else name.lower()
        if key not in names:
            result[name] = copy.deepcopy(ab_spec)
            names[key] = name
            continue
        own_name = names[key]
        own_spec = result[own_name]
        own, ab = _matcher(own_spec), _matcher(ab_spec)
        chosen = (_neither if negate else _both)(own, ab, "%s.%s" % (field, own_name))
        result[own_name] = _pick(own, ab, chosen, own_spec, ab_spec)
    return result


def _qualified_gateway(name, namespace):
    if name == "mesh" or "/" in name or not namespace:
        return name
    return "%s/%s" % (namespace, name)


def _combine_conditions(own, ab, namespace):
    """One HTTPMatchRequest holding both ``own`` and ``ab``; raises _Impossible or _Inexpressible."""
    result = {}
    # uri with its own ignoreUriCase: a flag on the side without a uri matches nothing and is dropped.
    uris = [(side, _matcher(side["uri"], side.get("ignoreUriCase"))) for side in (own, ab) if "uri" in side]
    if len(uris) == 1:
        side = uris[0][0]
        result["uri"] = copy.deepcopy(side["uri"])
        if "ignoreUriCase" in side:
            result["ignoreUriCase"] = side["ignoreUriCase"]
    elif len(uris) == 2:
        chosen = _both(uris[0][1], uris[1][1], "uri")
        sides = [side for side, matcher in uris if matcher == chosen]
        if sides:
            result["uri"] = copy.deepcopy(sides[0]["uri"])
            if sides[0].get("ignoreUriCase"):
                result["ignoreUriCase"] = sides[0]["ignoreUriCase"]
        else:
            result["uri"] = {chosen[0]: chosen[1]}
    for field in ("scheme", "method", "authority"):
        if field in own and field in ab:
            mine, theirs = _matcher(own[field]), _matcher(ab[field])
            result[field] = _pick(mine, theirs, _both(mine, theirs, field), own[field], ab[field])
        elif field in own or field in ab:
            result[field] = copy.deepcopy(own[field] if field in own else ab[field])
    for field, negate, case_sensitive_names in (("headers", False, False), ("queryParams", False, True), ("withoutHeaders", True, False)):
        if field in own or field in ab:
            result[field] = _combine_map(own.get(field), ab.get(field), field, negate, case_sensitive_names)
    for name, spec in (result.get("headers") or {}).items():
        excluded = dict((key.lower(), value) for key, value in (result.get("withoutHeaders") or {}).items()).get(name.lower())
        if excluded is not None and _covers(_matcher(excluded), _matcher(spec)):
            raise _Impossible("headers.%s %s and withoutHeaders.%s %s"
                              % (name, _describe_matcher(_matcher(spec)), name, _describe_matcher(_matcher(excluded))))
    for field in ("port", "sourceNamespace"):
        if field in own and field in ab and own[field] != ab[field]:
            raise _Impossible("%s: %s and %s" % (field, json.dumps(own[field]), json.dumps(ab[field])))
        if field in own or field in ab:
            result[field] = copy.deepcopy(own[field] if field in own else ab[field])
    if "sourceLabels" in own or "sourceLabels" in ab:
        labels = dict(own.get("sourceLabels") or {})
        for key, value in (ab.get("sourceLabels") or {}).items():
            if key in labels and labels[key] != value:
                raise _Impossible("sourceLabels.%s: %s and %s" % (key, json.dumps(labels[key]), json.dumps(value)))
            labels[key] = value
        result["sourceLabels"] = labels
    if "gateways" in own and "gateways" in ab:
        theirs = set(_qualified_gateway(name, namespace) for name in ab["gateways"])
        result["gateways"] = [name for name in own["gateways"] if _qualified_gateway(name, namespace) in theirs]
        if not result["gateways"]:
            raise _Impossible("gateways: %s and %s" % (json.dumps(own["gateways"]), json.dumps(ab["gateways"])))
    elif "gateways" in own or "gateways" in ab:
        result["gateways"] = copy.deepcopy(own["gateways"] if "gateways" in own else ab["gateways"])
    for side, other in ((own, ab), (ab, own)):
        # istiod checks a condition that names gateways against them only and ignores its source fields.
        if (side.get("sourceLabels") or side.get("sourceNamespace")) and not side.get("gateways") and other.get("gateways"):
            raise _Inexpressible("one names gateways %s and the other sourceLabels/sourceNamespace, and Istio ignores sourceLabels "
                                 "and sourceNamespace in a condition that names gateways" % json.dumps(other["gateways"]))
    if own.get("name") and ab.get("name") and own["name"] != ab["name"]:
        result["name"] = "%s-%s" % (own["name"], ab["name"])
    elif own.get("name") or ab.get("name"):
        result["name"] = own.get("name") or ab.get("name")
    if ab.get("statPrefix") or own.get("statPrefix"):
        result["statPrefix"] = ab.get("statPrefix") or own.get("statPrefix")
    for side in (own, ab):
        for key, value in side.items():
            if key in _HTTP_MATCH_FIELDS:
                continue
            if key in result and result[key] != value:
                raise _Inexpressible("%s is %s in one and %s in the other" % (key, json.dumps(result[key]), json.dumps(value)))
            result[key] = copy.deepcopy(value)
    return result


def combine_matches(route_match, ab_match, route_name, namespace=None):
    """The conditions of the A/B route: each condition of the weighted route ``route_name`` AND each
    A/B condition (see the comment above). ``route_match`` None or empty matches every request."""
    if not ab_match:
        return None
    if not route_match:
        return copy.deepcopy(ab_match)
    combined, impossible = [], []
    for own_index, own in enumerate(route_match):
        for ab_index, ab in enumerate(ab_match):
            pair = "the weighted route %r match[%d] %s and A/B match[%d] %s" % (
                route_name, own_index, _describe_condition(own), ab_index, _describe_condition(ab))
            try:
                condition = _combine_conditions(own or {}, ab or {}, namespace)
            except _Impossible as exc:
                impossible.append("%s (%s)" % (pair, exc))
                continue
            except _Inexpressible as exc:
                raise CanaryError("cannot combine %s into one Istio condition: %s. Nothing was changed; write the A/B "
                                  "condition so that it constrains that field in a way one matcher can say, or match "
                                  "on another field" % (pair, exc), field="match")
            if condition not in combined:
                combined.append(condition)
    if not combined:
        raise CanaryError("no request can match both the weighted route's conditions and the A/B conditions, so the A/B route "
                          "would never send traffic to the canary: %s. Nothing was changed; fix match"
                          % "; ".join(impossible), field="match")
    return combined


# ---------------------------------------------------------------------------------------------
# Destination checks (run against objects the module read from the cluster)


def check_subsets(destination_rules, target, namespace, roles=("primary", "canary")):
    """Raise unless a DestinationRule for the target's host defines the needed subsets."""
    host = target.primary["host"]
    wanted = qualified_host(host, namespace)
    # A DestinationRule's short host resolves in the rule's own namespace.
    rules = [rule for rule in destination_rules
             if qualified_host((rule.get("spec") or {}).get("host"), (rule.get("metadata") or {}).get("namespace") or namespace) == wanted]
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


# ---------------------------------------------------------------------------------------------
# The router: the functions above behind the Router interface


class IstioRouter(Router):
    """Istio: the apex VirtualService (host or subset mode) and the DestinationRules of the destinations."""

    name = "istio"

    def __init__(self, cluster, params):
        super(IstioRouter, self).__init__(cluster, params)
        self.target = self.route_target_of(params)
        self._init = None

    @staticmethod
    def route_target_of(params):
        return route_target(apex_name(params), mode=params.get("mode") or "host", host=params.get("destination_host"),
                            primary_subset=params.get("primary_subset") or "primary",
                            canary_subset=params.get("canary_subset") or "canary", route_name=params.get("route_name"),
                            namespace=params.get("namespace"))

    @classmethod
    def validate_options(cls, params):
        cls.route_target_of(params)

    @classmethod
    def validate_init_options(cls, params):
        validate_hosts(params.get("hosts"))
        validate_gateways(params.get("gateways"))
        validate_http_retry(params.get("retries"))
        if params.get("timeout") is not None:
            validate_duration(params["timeout"], "timeout")
        validate_cors_policy(params.get("cors_policy"))
        validate_headers(params.get("headers"))
        validate_traffic_policy(params.get("traffic_policy"))

    # canary_init: read and validate first (prepare_init), write last (owned_objects)

    def prepare_init(self):
        """Read the VirtualService and decide what it becomes; CanaryError when it is not ours to take."""
        params = self.params
        desired = build_virtual_service(self.namespace, self.apex, hosts=params.get("hosts"), gateways=params.get("gateways"),
                                        retries=params.get("retries"), timeout=params.get("timeout"),
                                        cors_policy=params.get("cors_policy"), headers=params.get("headers"))
        existing = self.get()
        if existing is not None and not is_managed(existing):
            if not params.get("adopt"):
                raise CanaryError("VirtualService %s/%s already exists and was not created by progressive.delivery; set adopt=true to take "
                                  "it over (its spec is saved in the annotation %s so it can be restored) or choose another service_name"
                                  % (self.namespace, self.apex, ORIGINAL_SPEC_ANNOTATION), field="adopt")
            desired = adopt_virtual_service(existing, desired)
        elif existing is not None:
            desired["spec"] = carry_routing_state(existing.get("spec") or {}, desired["spec"], route_target(self.apex, namespace=self.namespace))
        self._init = (existing, desired)

    def owned_objects(self):
        if self._init is None:
            self.prepare_init()
        objects = []
        init_target = route_target(self.apex, namespace=self.namespace)
        for name in (init_target.primary["host"], init_target.canary["host"]):
            desired = build_destination_rule(self.namespace, name, self.params.get("traffic_policy"))
            existing = self.cluster.get(API_VERSION, DESTINATION_RULE, self.namespace, name)
            objects.append((existing, desired if existing is None else overlay(existing, desired, replace=("spec",))))
        existing_vs, desired_vs = self._init
        objects.append((existing_vs, desired_vs if existing_vs is None else overlay(existing_vs, desired_vs, replace=("spec",))))
        return objects

    # the route object

    def get(self):
        return self.cluster.get(API_VERSION, VIRTUAL_SERVICE, self.namespace, self.apex)

    def read(self):
        vs = self.get()
        if vs is None:
            raise CanaryError("VirtualService %s/%s not found; run progressive.delivery.canary_init first, or set service_name to "
                              "the name of the VirtualService" % (self.namespace, self.apex), field="service_name")
        return vs

    def get_routes(self, obj):
        return read_state(obj.get("spec") or {}, self.target)

    def set_routes(self, obj, weights, match=None, mirror=False, mirror_weight=None, mirror_match=None, session_affinity=None):
        new_obj = copy.deepcopy(obj)
        new_obj["spec"] = set_routing(obj.get("spec") or {}, self.target, weights, match=match, mirror=mirror, mirror_weight=mirror_weight,
                                      mirror_match=mirror_match, session_affinity=session_affinity)
        return new_obj

    def session_affinity(self, options, revision):
        """The ``session_affinity`` option checked, with the cookie's value for the canary ``revision`` (see session_cookie_value)."""
        affinity = validate_session_affinity(options)
        if affinity is None:
            return None
        affinity["cookie_value"] = session_cookie_value(revision, self.namespace, self.apex, self.target.route_name, affinity["cookie_name"])
        return affinity

    def check_destinations(self, roles=("primary", "canary")):
        if self.target.mode == "host":
            for role in roles:
                name = getattr(self.target, role)["host"]
                if self.cluster.get("v1", "Service", self.namespace, name) is None:
                    raise CanaryError("Service %s/%s (the %s destination) not found; run progressive.delivery.canary_init or fix "
                                      "service_name" % (self.namespace, name, role), field="service_name")
        else:
            check_subsets(self.cluster.list(API_VERSION, DESTINATION_RULE, self.namespace), self.target, self.namespace, roles=roles)

    def distribution(self, obj, generation):
        return istio_status.distribution(obj, generation)

    def restore(self, obj):
        spec = original_spec(obj)
        if spec is None:
            return None
        restored = copy.deepcopy(obj)
        restored["spec"] = spec
        return restored

    def describe_routes(self, state):
        """The destinations with their weights, as the role's status shows them."""
        return [{"destination": describe_destination(getattr(self.target, role)), "role": role, "weight": state["weights"][role]}
                for role in ("primary", "canary")]

    normalise_match = staticmethod(normalise_match)
    validate_weight = staticmethod(validate_weight)
    validate_mirror = staticmethod(validate_mirror)
    validate_session_affinity = staticmethod(validate_session_affinity)
