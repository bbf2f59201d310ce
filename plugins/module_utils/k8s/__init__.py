# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one Kubernetes access layer (the public entry points; the private modules may change freely).

- ``_module``: ``CanaryModule``, the wrapper every cluster module runs in (auth options, errors).
- ``_cluster``: ``Cluster`` (get / list / create / replace / merge patch / JSON patch / delete / wait,
  both 409 policies), ``ObjectAccess``, ``connect``.
- ``_waiter``: readiness predicates by kind and the (check-mode no-op) waiter.
- ``_fence``: ``hold_lock``, the proof a fenced write gives before it writes.
- ``_objects``: objects as dicts (strip, merge patch, overlay, the record of changes).
- ``_errors``: ``ClusterError``, ``Conflict`` and the one mapping of API errors to messages.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.progressive.delivery.plugins.module_utils.k8s._cluster import Cluster, ObjectAccess, connect  # noqa: F401
from ansible_collections.progressive.delivery.plugins.module_utils.k8s._errors import (  # noqa: F401
    ClusterError,
    Conflict,
    RolloutInterrupted,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s._fence import hold_lock  # noqa: F401
from ansible_collections.progressive.delivery.plugins.module_utils.k8s._module import (  # noqa: F401
    CanaryModule,
)
from ansible_collections.progressive.delivery.plugins.module_utils.k8s._objects import (  # noqa: F401
    Changes,
    merge_patch,
    overlay,
    patches_overlap,
    strip_object,
)
