# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fence: every write made under the rollout's lock proves and renews the lock first."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime

from ansible_collections.progressive.delivery.plugins.module_utils.k8s._errors import Conflict
from ansible_collections.progressive.delivery.plugins.module_utils.state import lock as lk


def hold_lock(cluster, target, namespace, fence, check_mode=False):
    """Prove that this run still owns the lock ``fence`` names, and renew it (the heartbeat).

    Every write made under the lock calls this first: a run that lost the lock (taken over after
    its lease ran out, or released by a forced abort) gets LockLost before it writes anything. The
    renewal replaces the Lease guarded by the resourceVersion read, so a takeover that lands between
    the read and the write makes it fail too. In check mode the lease is checked, not renewed.
    """
    leases = cluster.objects(lk.API_VERSION, lk.KIND)
    name = lk.lease_name(target)
    for attempt in range(2):
        existing = leases.get(namespace, name)
        ttl = fence.get("ttl") or int(((existing or {}).get("spec") or {}).get("leaseDurationSeconds") or 1)
        _action, lease = lk.renew(target, namespace, existing, fence["holder"], fence["token"], ttl,
                                  datetime.datetime.now(datetime.timezone.utc))
        if check_mode:
            return lease
        try:
            return leases.replace(lease)
        except Conflict:
            # Somebody wrote the Lease between our read and our write: decide again on what they wrote.
            if attempt:
                raise
    return None
