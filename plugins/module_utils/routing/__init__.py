# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Traffic routing: one Router interface (``_router``), one file per provider, the factory by provider name.

Modules and the core get a router from ``get_router`` only; a new mesh is one new file with a
``Router`` subclass, registered in ``ROUTERS``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.progressive.delivery.plugins.module_utils._errors import CanaryError
from ansible_collections.progressive.delivery.plugins.module_utils.routing import gatewayapi
from ansible_collections.progressive.delivery.plugins.module_utils.routing import istio

# provider name -> Router class
ROUTERS = {
    istio.IstioRouter.name: istio.IstioRouter,
    gatewayapi.GatewayAPIRouter.name: gatewayapi.GatewayAPIRouter,
}
PROVIDERS = tuple(sorted(ROUTERS))
DEFAULT_PROVIDER = istio.IstioRouter.name


def router_class(provider=None):
    provider = provider or DEFAULT_PROVIDER
    try:
        return ROUTERS[provider]
    except KeyError:
        raise CanaryError("router %r is not known; use one of: %s" % (provider, ", ".join(PROVIDERS)), field="router")


def get_router(cluster, params, provider=None):
    """The router of ``provider`` (``params['router']``, else the default) for one canary."""
    return router_class(provider or params.get("router"))(cluster, params)


def router_argument_spec():
    """``router``: the provider by name, its choices from ``ROUTERS``."""
    return dict(router=dict(type="str", default=DEFAULT_PROVIDER, choices=list(PROVIDERS)))


def routing_argument_spec():
    """The options that say how the managed routes are found (doc fragment progressive.delivery.routing).

    ``destination_host`` is not called ``host``: that is kubernetes.core's API server option.
    """
    return dict(
        router_argument_spec(),
        mode=dict(type="str", default="host", choices=["host", "subset"]),
        destination_host=dict(type="str"),
        primary_subset=dict(type="str", default="primary"),
        canary_subset=dict(type="str", default="canary"),
        route_name=dict(type="str"),
    )


def primary_deployment_argument_spec():
    """``primary_deployment``: the user's stable Deployment of mode=subset, in place of ``<target>-primary``."""
    return dict(primary_deployment=dict(type="str"))


def gatewayapi_argument_spec():
    """``http_route``: the HTTPRoute and rule of router=gatewayapi (doc fragment progressive.delivery.gatewayapi)."""
    return dict(http_route=dict(type="dict", options=dict(name=dict(type="str"), namespace=dict(type="str"), rule=dict(type="raw"))))


def gatewayapi_init_argument_spec():
    """``http_route`` plus the HTTPRoute canary_init creates (doc fragments progressive.delivery.gatewayapi and its init)."""
    return dict(
        gatewayapi_argument_spec(),
        parent_refs=dict(type="list", elements="dict"),
        hostnames=dict(type="list", elements="str"),
    )
