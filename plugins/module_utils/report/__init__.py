# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The report of a rollout: a self-contained HTML page and a JSON file drawn from the persisted status.

- ``data``: the report's data from a status (``report_data``), the same numbers the JSON file holds.
- ``svg``: the geometry of the charts (weight as a step line, each metric against its threshold band, markers).
- ``page``: the HTML page (no script, no external CSS, font or image; every text escaped).
- ``run``: the entry point of the module canary_report (reads the status, writes the files).

Everything but ``run`` is plain Python on dicts: no Ansible, no network, no clock.
"""
