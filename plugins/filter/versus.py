# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The filter by which the rollout role hands canary_compare's verdict to the judge with the interval's metric check
(plugins/module_utils/analysis/versus.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.progressive.delivery.plugins.module_utils.analysis import versus


def canary_with_comparison(check, comparison=None):
    """The interval's check with the comparison folded in (see versus.with_comparison)."""
    try:
        return versus.with_comparison(check, comparison)
    except (versus.VersusError, AttributeError, TypeError) as exc:
        raise AnsibleFilterError("canary_with_comparison: %s" % exc)


class FilterModule(object):
    def filters(self):
        return {"canary_with_comparison": canary_with_comparison}
