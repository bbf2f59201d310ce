# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Traffic routing: one Router interface, one file per provider, and the factory by provider name."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


def routing_argument_spec():
    """The options that say how the managed routes are found.

    ``destination_host`` is not called ``host``: that is kubernetes.core's API server option.
    """
    return dict(
        mode=dict(type="str", default="host", choices=["host", "subset"]),
        destination_host=dict(type="str"),
        primary_subset=dict(type="str", default="primary"),
        canary_subset=dict(type="str", default="canary"),
        route_name=dict(type="str"),
    )
