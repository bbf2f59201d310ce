# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Many clusters and canaries from one runner: the fleet rollout's per-cluster results and summary
(fleet.py), the reconcile plan for canaries whose runner died (reconcile.py). Plain Python."""
