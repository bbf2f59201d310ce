# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Validation of every option of the cluster modules, before anything is read or written.

One function per module (init, route, promote, rollback), plain Python on the module's params, so a
bad value fails at once with the option's name and the fix, in check mode and for real alike. What
depends on the cluster (the target's labels, existing objects) is checked by the operations once
read; what only the cluster can judge (fields this collection does not know, admission policies) is
judged by the API server in the dry run every write gets first (see ``k8s.Cluster``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.progressive.delivery.plugins.module_utils._errors import CanaryError
from ansible_collections.progressive.delivery.plugins.module_utils._names import (
    CANARY_SUFFIX,
    PRIMARY_SUFFIX,
    check_name,
)
from ansible_collections.progressive.delivery.plugins.module_utils.routing import router_class
from ansible_collections.progressive.delivery.plugins.module_utils.routing import services


def _seconds(params, field):
    value = params.get(field)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise CanaryError("%s must be a number of seconds, 0 or more, got %r" % (field, value), field=field)


def _common(params, apex_rule="subdomain"):
    """namespace, target and the apex name (service_name, defaulting to target)."""
    check_name(params.get("namespace"), "namespace", "label")
    check_name(params.get("target"), "target", "subdomain", suffixes=(PRIMARY_SUFFIX,))
    if params.get("service_name"):
        apex, what = params["service_name"], None
    else:
        apex, what = params["target"], "not set, so the target name is used; set service_name"
    suffixes = (PRIMARY_SUFFIX, CANARY_SUFFIX) if apex_rule == "service" else ()
    check_name(apex, "service_name", apex_rule, suffixes=suffixes, what=what)


def _gatewayapi_only(params, fields):
    """The options of router=gatewayapi, refused with another router rather than ignored."""
    if (params.get("router") or "istio") == "gatewayapi":
        return
    for field in fields:
        if params.get(field):
            raise CanaryError("%s is an option of router=gatewayapi; set router=gatewayapi or remove %s" % (field, field), field=field)


def _routing(params):
    """mode, destination_host, primary_subset, canary_subset, route_name (the routing doc fragment), http_route."""
    _gatewayapi_only(params, ("http_route",))
    router_class(params.get("router")).validate_options(dict(params, namespace=None))


# The options of the objects canary_init creates in host mode; in subset mode it creates none of them.
_CREATED_OBJECT_OPTIONS = ("hosts", "gateways", "retries", "timeout", "cors_policy", "headers", "traffic_policy", "hpa", "port", "target_port")


def validate_primary_deployment(params):
    """primary_deployment: the user's stable Deployment, only in mode=subset, never the target itself."""
    name = params.get("primary_deployment")
    if not name:
        return
    if params.get("mode", "subset") != "subset":
        raise CanaryError("primary_deployment names the stable Deployment of mode=subset (your own Deployment behind the primary subset); "
                          "set mode=subset, or remove primary_deployment to use <target>-primary", field="primary_deployment")
    check_name(name, "primary_deployment", "subdomain")
    if name == params.get("target"):
        raise CanaryError("primary_deployment is the target %r itself: name the Deployment behind the primary subset "
                          "(target is the canary's)" % name, field="primary_deployment")


def validate_init(params):
    """Every option of canary_init."""
    if params.get("mode") == "subset":
        _validate_subset_init(params)
        return
    validate_primary_deployment(params)
    if params.get("route_name"):
        raise CanaryError("route_name names a route of your VirtualService in mode=subset; in mode=host canary_init creates the route "
                          "(named after the apex): remove route_name or set mode=subset", field="route_name")
    # The apex names three Services: <apex>, <apex>-primary and <apex>-canary.
    _common(params, apex_rule="service")
    router_class(params.get("router")).validate_options(dict(params, namespace=None))
    if params.get("port") is not None:
        services.service_port(params["port"], params.get("port_name") or "http", params.get("target_port"))
    services.validate_port_name(params.get("port_name") or "http")
    services.validate_target_port(params.get("target_port"))
    _gatewayapi_only(params, ("http_route", "parent_refs", "hostnames"))
    router_class(params.get("router")).validate_init_options(params)
    if params.get("hpa") is not None:
        check_name(params["hpa"], "hpa", "subdomain", suffixes=(PRIMARY_SUFFIX,))
    _seconds(params, "wait_timeout")


def _validate_subset_init(params):
    """canary_init in mode=subset: the user owns the VirtualService, DestinationRule and both Deployments."""
    _common(params)
    _routing(params)
    if not params.get("primary_deployment"):
        raise CanaryError("mode=subset needs primary_deployment: the Deployment behind the primary subset (for example backend-v1); "
                          "canary_init creates no primary in subset mode", field="primary_deployment")
    validate_primary_deployment(params)
    for field in _CREATED_OBJECT_OPTIONS:
        if params.get(field) not in (None, [], {}):
            raise CanaryError("%s configures an object canary_init creates in mode=host; in mode=subset your VirtualService and "
                              "DestinationRule are used as they are: remove %s" % (field, field), field=field)
    _seconds(params, "wait_timeout")


def validate_route(params):
    """Every option of canary_route (the mirror/weight combination needs the current weight: run_route checks it)."""
    _common(params)
    _routing(params)
    router = router_class(params.get("router"))
    if params.get("weight") is not None:
        router.validate_weight(params["weight"])
    if params.get("mirror_weight") is not None:
        router.validate_weight(params["mirror_weight"], field="mirror_weight")
    router.normalise_match(params.get("match"))
    router.normalise_match(params.get("mirror_match"), field="mirror_match")
    router.validate_session_affinity(params.get("session_affinity"))
    if not params.get("mirror"):
        # mirror_weight needs mirror or mirror_match whatever the weight; the rules on mirror need the current weight.
        router.validate_mirror(0, False, params.get("mirror_weight"), params.get("mirror_match"))


def validate_route_info(params):
    """Every option of canary_route_info (the routing options only: nothing is written)."""
    _common(params)
    _routing(params)


def validate_promote(params):
    """Every option of canary_promote."""
    _common(params)
    _routing(params)
    validate_primary_deployment(params)
    _seconds(params, "timeout")


def validate_rollback(params):
    """Every option of canary_rollback; the reason is only returned (nothing is written on the target)."""
    _common(params)
    _routing(params)
    reason = params.get("reason")
    if reason is not None:
        if not isinstance(reason, str):
            raise CanaryError("reason must be a string, got %r" % (reason,), field="reason")
