# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """The option by which a module writes only while the run still owns the rollout's lock."""

    DOCUMENTATION = r"""
options:
  fence:
    description:
      - Write only under the lock of the rollout (the Lease C(<target>-canary-lock), see M(progressive.delivery.canary_lock)).
      - Before its first write the module proves that O(fence.holder) still holds the tenure O(fence.token) and renews the
        lease (a heartbeat). When the run lost the lock - the lease was taken over after it ran out, or a forced abort took
        or released it - the module fails with RV(lock_lost=true) and writes nothing.
      - Without it the module writes whoever holds the lock, as an operator's one-off task does.
    type: dict
    suboptions:
      holder:
        description: The holder of the lock, as given to M(progressive.delivery.canary_lock).
        type: str
        required: true
      token:
        description: The tenure, RV(progressive.delivery.canary_lock#module:lease.token) of the call that took the lock.
        type: str
        required: true
      ttl:
        description: Seconds the renewed lease lasts. Default the lease's current duration.
        type: int
"""
