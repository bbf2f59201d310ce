# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that turn a Flagger Canary or an Argo Rollouts Rollout into the rollout role's variables
(plugins/module_utils/migrate/, docs/migration.md)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.progressive.delivery.plugins.module_utils.migrate import argo, flagger
from ansible_collections.progressive.delivery.plugins.module_utils.migrate._common import MigrationError


def flagger_canary_vars(canary, metric_templates=None, alert_providers=None, namespace=None):
    """``{vars, warnings}`` for a Flagger Canary manifest (see flagger.canary_vars)."""
    try:
        return flagger.canary_vars(canary, metric_templates, alert_providers, namespace)
    except MigrationError as exc:
        raise AnsibleFilterError("flagger_canary_vars: %s" % exc)


def argo_rollout_vars(rollout, analysis_templates=None, namespace=None):
    """``{vars, warnings}`` for an Argo Rollouts Rollout manifest (see argo.rollout_vars)."""
    try:
        return argo.rollout_vars(rollout, analysis_templates, namespace)
    except MigrationError as exc:
        raise AnsibleFilterError("argo_rollout_vars: %s" % exc)


class FilterModule(object):
    def filters(self):
        return {
            "flagger_canary_vars": flagger_canary_vars,
            "argo_rollout_vars": argo_rollout_vars,
        }
