# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """Descriptions of the module attributes; each module states its own support level."""

    DOCUMENTATION = r"""
options: {}
attributes:
  check_mode:
    description: Can run in C(check_mode) and return the predicted changed status, result and diff without modifying the cluster.
  diff_mode:
    description: Returns the objects before and after the change (or the predicted change in C(check_mode)) when in diff mode.
  idempotent:
    description:
      - When run twice in a row with the same options, the second run reports C(changed=false) and writes nothing.
"""
