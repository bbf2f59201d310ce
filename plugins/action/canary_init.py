# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""canary_init runs in the task's worker when it would run on the controller anyway (plugin_utils/in_process.py)."""

from __future__ import annotations

from ansible_collections.progressive.delivery.plugins.plugin_utils.in_process import InProcessModuleAction


class ActionModule(InProcessModuleAction):
    pass
