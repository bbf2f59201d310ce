# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """Which canary a module works on: the options every cluster module shares."""

    DOCUMENTATION = r"""
options:
  namespace:
    description: Namespace of the target Deployment and of every object of its canary (Services, routes, status, lock).
    type: str
    required: true
  target:
    description: Name of the user's Deployment (the canary); its primary is C(<target>-primary).
    type: str
    required: true
"""

    SERVICE_NAME = r"""
options:
  service_name:
    description:
      - The apex name of the routing objects - the VirtualService C(<apex>), the Services C(<apex>), C(<apex>-primary) and
        C(<apex>-canary), the DestinationRules. Defaults to O(target).
      - Service names must be DNS-1035 labels (lowercase letters, digits and C(-), starting with a letter), and with the suffixes
        C(-primary) and C(-canary) at most 63 characters, so the apex may have at most 55.
    type: str
"""
