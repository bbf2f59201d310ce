#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: canary_scale
short_description: Scale the canary (the target Deployment) for an analysis
version_added: 1.0.0
description:
  - Sets the replicas of the target Deployment - to O(replicas), or by default to the replica count of its primary
    C(<target>-primary) (at least 1), as Flagger scales the canary up when a new revision is detected.
  - Only C(spec.replicas) is written (a JSON merge patch guarded by the resourceVersion read); the pod template is not touched.
  - To wait until the canary is ready, use M(progressive.delivery.canary_wait) with O(progressive.delivery.canary_wait#module:until=canary_ready).
author:
  - Progressive Delivery maintainers (@progressive-delivery)
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - progressive.delivery.attributes
  - progressive.delivery.target
  - progressive.delivery.fence
attributes:
  check_mode:
    support: full
    details: Nothing is sent to the API server; the result and diff are computed from the objects read.
  diff_mode:
    support: full
  idempotent:
    support: full
options:
  primary_deployment:
    description: The Deployment whose replica count is the default of O(replicas) - the stable one of Istio's subset mode. Defaults to
      C(<target>-primary).
    type: str
  replicas:
    description: Replicas of the canary. Default the primary's replica count, at least 1.
    type: int
seealso:
  - module: progressive.delivery.canary_wait
  - module: progressive.delivery.canary_rollback
"""

EXAMPLES = r"""
- name: Scale podinfo up to the primary's replica count
  progressive.delivery.canary_scale:
    namespace: test
    target: podinfo

- name: Run the canary with one replica
  progressive.delivery.canary_scale:
    namespace: test
    target: podinfo
    replicas: 1
"""

RETURN = r"""
replicas:
  description: The replicas the target has now (or would have, in check mode).
  returned: success
  type: int
  sample: 2
previous_replicas:
  description: The replicas before the call.
  returned: success
  type: int
  sample: 0
objects:
  description: The target with what happened to it (C(updated) or C(unchanged)).
  returned: success
  type: list
  elements: dict
lock_lost:
  description: V(true) when O(fence) was given and the run no longer owns the lock; nothing was written.
  returned: on that failure
  type: bool
diff:
  description: The Deployment before and after, keyed by C(Deployment/<name>), when it changed.
  returned: when diff mode is on
  type: dict
"""

from ansible_collections.progressive.delivery.plugins.module_utils._canary import run_scale
from ansible_collections.progressive.delivery.plugins.module_utils.k8s import CanaryModule
from ansible_collections.progressive.delivery.plugins.module_utils.routing import primary_deployment_argument_spec


def main():
    CanaryModule(dict(dict(replicas=dict(type="int")), **primary_deployment_argument_spec()), service_name=False).run(run_scale)


if __name__ == "__main__":
    main()
