# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Migration of Flagger Canaries and Argo Rollouts into the rollout role's variables (docs/migration.md).

``flagger.canary_vars`` and ``argo.rollout_vars`` return ``{"vars": {...}, "warnings": [...]}``: the
role's ``rollout_*`` variables, and one warning per field that was not carried over, named by its full
path in the manifest. Plain Python on dicts: no Ansible, no YAML parser, no network.
"""
