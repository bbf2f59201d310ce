#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: canary_metrics_push
short_description: Push the rollout's own metrics, in Flagger's names and labels, to a Prometheus Pushgateway
version_added: 1.0.0
author:
  - Progressive Delivery maintainers (@progressive-delivery)
description:
  - Renders the rollout's metrics in the Prometheus text exposition format with the names, labels and types Flagger's
    controller exports, so that dashboards and alerts written for Flagger work unchanged -
    C(flagger_canary_status{name, namespace}) (0 while V(Progressing), 2 when V(Failed), 1 in every other phase, as Flagger),
    C(flagger_canary_weight{workload, namespace}) for C(<target>-primary) and C(<target>) (the canary),
    C(flagger_canary_duration_seconds{name, namespace}) (a histogram with Flagger's buckets, one observation per push) and,
    with O(canary_total), C(flagger_canary_total{namespace}).
  - PUTs them to the Pushgateway's group C(/metrics/job/<job>/namespace/<namespace>/name/<target>) - one group per canary, so
    canaries do not overwrite each other, and each push replaces the canary's previous one.
  - A Pushgateway that cannot be reached or does not take the push (no 2xx answer) is a warning, not a failure, unless
    O(fail_on_error) - a rollout must not stop because its metrics could not be pushed.
  - See docs/observability.md for the Grafana dashboard shipped in C(files/grafana/).
attributes:
  check_mode:
    support: full
    details: The metrics are rendered (RV(text), RV(url)) and not pushed.
  diff_mode:
    support: none
  idempotent:
    support: partial
    details: The same options push the same group again (C(changed=true)); the Pushgateway holds the same series after it.
extends_documentation_fragment:
  - progressive.delivery.attributes
options:
  url:
    description:
      - The Pushgateway's address, for example V(http://pushgateway.monitoring:9091).
      - Must not carry credentials (C(user:password@)); give O(url_username) and O(url_password).
    type: str
    required: true
  job:
    description: The C(job) of the grouping key.
    type: str
    default: progressive-delivery
  target:
    description: The target Deployment (the canary); the C(name) label and the grouping key's C(name).
    type: str
    required: true
  namespace:
    description: Its namespace; the C(namespace) label and the grouping key's C(namespace).
    type: str
    required: true
  phase:
    description: The rollout's phase (the status' C(phase)), pushed as C(flagger_canary_status).
    type: str
    required: true
    choices: [Initializing, Initialized, Waiting, Progressing, WaitingPromotion, Promoting, Finalising, Succeeded, Failed, Terminating, Terminated]
  canary_weight:
    description:
      - The canary's weight (0 to 100, the status' C(canary_weight)); the primary's is 100 minus it.
      - Without it no C(flagger_canary_weight) is pushed.
    type: int
  duration_seconds:
    description:
      - The seconds the rollout has taken, pushed as the one observation of C(flagger_canary_duration_seconds).
      - Without it (and without O(started_at)) no duration is pushed.
    type: float
  started_at:
    description:
      - When the rollout started, an RFC 3339 time (the status' C(started_at)); the duration is the time since then.
      - Ignored when O(duration_seconds) is given.
    type: str
  canary_total:
    description: The number of canaries in the namespace, pushed as C(flagger_canary_total{namespace}).
    type: int
  url_username:
    description: The user for basic authentication.
    type: str
  url_password:
    description: The password for basic authentication. A secret - never shown.
    type: str
  bearer_token:
    description: A bearer token sent as C(Authorization). A secret - never shown.
    type: str
  validate_certs:
    description: Whether to check the Pushgateway's TLS certificate.
    type: bool
    default: true
  ca_path:
    description: A PEM file with the CA that signed the Pushgateway's certificate.
    type: path
  timeout:
    description: Seconds to wait for the Pushgateway.
    type: float
    default: 5
  fail_on_error:
    description: Fail the task when the push does not succeed, instead of a warning.
    type: bool
    default: false
seealso:
  - module: progressive.delivery.canary_notify
  - name: Flagger's metrics
    description: The names, labels and types matched here.
    link: https://docs.flagger.app/usage/monitoring
"""

EXAMPLES = r"""
- name: Push the rollout's metrics after each step
  progressive.delivery.canary_metrics_push:
    url: http://pushgateway.monitoring:9091
    target: podinfo
    namespace: test
    phase: "{{ podinfo_status.status.phase }}"
    canary_weight: "{{ podinfo_status.status.canary_weight }}"
    started_at: "{{ podinfo_status.status.started_at }}"

- name: Push through an authenticating proxy, and fail when it does not take it
  progressive.delivery.canary_metrics_push:
    url: https://pushgateway.example.com
    url_username: rollout
    url_password: "{{ vault_pushgateway_password }}"
    target: podinfo
    namespace: test
    phase: Succeeded
    canary_weight: 0
    duration_seconds: 612
    fail_on_error: true
"""

RETURN = r"""
text:
  description: The metrics in the Prometheus text exposition format, as pushed (or, in check mode, as they would be).
  returned: success
  type: str
url:
  description: The group's URL the metrics were (or would be) PUT to.
  returned: success
  type: str
  sample: http://pushgateway.monitoring:9091/metrics/job/progressive-delivery/namespace/test/name/podinfo
pushed:
  description: Whether the Pushgateway took the push.
  returned: success
  type: bool
status:
  description: The Pushgateway's HTTP status; null in check mode or without an answer.
  returned: success
  type: int
duration_seconds:
  description: The duration pushed (given, or computed from O(started_at)); null when none.
  returned: success
  type: float
error:
  description: Why the push did not succeed (also warned), when O(fail_on_error=false).
  returned: when the push did not succeed
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.progressive.delivery.plugins.module_utils._metrics_push import argument_spec, run_metrics_push


def main():
    run_metrics_push(AnsibleModule(argument_spec(), supports_check_mode=True))


if __name__ == "__main__":
    main()
