#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: canary_webhook
short_description: Call the rollout's webhooks of one type, as Flagger does at that point of the analysis
version_added: 1.0.0
author:
  - Progressive Delivery maintainers (@progressive-delivery)
description:
  - Posts Flagger's webhook payload C({name, namespace, phase, checksum, metadata}) as JSON to every webhook of O(webhooks)
    whose type is O(type), in order, and says what the answers mean. An answer with HTTP status 202 or lower passes; any
    other status, a timeout or no answer at all fails - Flagger's rule.
  - What a failure means is the type's - a gate (V(confirm-rollout), V(confirm-traffic-increase), V(confirm-promotion)) holds
    the rollout; a check (V(pre-rollout), V(rollout)) counts as a failed check; V(post-rollout) and V(event) hooks are
    reported only. A V(rollback) hook is the other way round - one that B(passes) asks for the rollback (RV(rollback)).
    RV(message) is the event in Flagger's words.
  - An V(event) hook's metadata also carries C(eventMessage), C(eventType) and C(timestamp) (milliseconds), as Flagger's.
  - Works with Flagger's load tester as the receiver - its C(/gate/check), C(/gate/approve), C(/rollback/check) endpoints and
    its command runner (C(metadata.type=cmd), C(metadata.cmd)).
  - The URL, the token and every header value never appear in the output - answers and error texts are
    redacted and cut to 300 characters.
  - The module writes nothing in the cluster; what a receiver does with the call is its own.
attributes:
  check_mode:
    support: full
    details: No webhook is called; each is reported with RV(hooks[].called=false) and RV(passed=true).
  diff_mode:
    support: none
  idempotent:
    support: N/A
    details: It writes nothing; whether calling a receiver twice is harmless depends on the receiver.
extends_documentation_fragment:
  - progressive.delivery.attributes
options:
  webhooks:
    description:
      - The rollout's webhooks (Flagger's C(analysis.webhooks)); only those of O(type) are called. Names must be unique.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: The webhook's name (in messages and results).
        type: str
        required: true
      type:
        description: When the webhook runs, with Flagger's names.
        type: str
        choices: [confirm-rollout, pre-rollout, rollout, confirm-traffic-increase, confirm-promotion, post-rollout, rollback, event]
        default: rollout
      url:
        description:
          - The C(http://) or C(https://) address the payload is posted to.
          - Treated as a secret, as chat webhook URLs carry their credentials - never shown; results and messages name the hook.
        type: str
        required: true
      timeout:
        description: How long to wait for the answer - a duration such as V(10s), V(500ms), V(1m), or a number of seconds. Default 10 s.
        type: raw
      retries:
        description: Calls again (one second apart) up to this many times while the hook does not pass.
        type: int
        default: 0
      headers:
        description: Extra HTTP headers. Their values are treated as secrets (never shown, redacted from every answer).
        type: dict
      metadata:
        description: The payload's C(metadata) - a map of strings, for example C(cmd) for Flagger's load tester.
        type: dict
      bearer_token:
        description: "Sent as C(Authorization: Bearer <token>); never shown."
        type: str
      validate_certs:
        description: Verify the receiver's TLS certificate.
        type: bool
        default: true
      ca_path:
        description: PEM file with the CA that signed the receiver's certificate.
        type: path
  type:
    description: The point of the rollout being run; the webhooks of this type are called.
    type: str
    required: true
    choices: [confirm-rollout, pre-rollout, rollout, confirm-traffic-increase, confirm-promotion, post-rollout, rollback, event]
  target:
    description: The target Deployment, the payload's C(name).
    type: str
    required: true
  namespace:
    description: Its namespace, the payload's C(namespace).
    type: str
    required: true
  phase:
    description: The canary's phase, the payload's C(phase) (Flagger's names - V(Initializing), V(Progressing), V(Promoting), ...).
    type: str
    default: Progressing
  checksum:
    description: The revision being analysed (the payload's C(checksum)).
    type: str
    default: ""
  event:
    description: With O(type=event), the event to post.
    type: dict
    suboptions:
      text:
        description: The event's text (C(eventMessage)), as in M(progressive.delivery.canary_state)'s O(progressive.delivery.canary_state#module:events).
        type: str
        required: true
      type:
        description: C(eventType).
        type: str
        choices: [Normal, Warning]
        default: Normal
seealso:
  - name: Flagger webhooks
    description: The hook types and the payload this module follows.
    link: https://docs.flagger.app/usage/webhooks
"""

EXAMPLES = r"""
- name: Acceptance test before any traffic reaches the canary (Flagger's load tester runs the command)
  progressive.delivery.canary_webhook:
    type: pre-rollout
    target: podinfo
    namespace: test
    checksum: "{{ podinfo_revision }}"
    webhooks:
      - name: acceptance-test
        type: pre-rollout
        url: http://flagger-loadtester.test/
        timeout: 30s
        metadata:
          type: bash
          cmd: curl -sd 'test' http://podinfo-canary.test:9898/token | grep token
  register: podinfo_acceptance

- name: Hold the promotion until an operator opens the gate
  progressive.delivery.canary_webhook:
    type: confirm-promotion
    target: podinfo
    namespace: test
    webhooks:
      - name: promotion-gate
        type: confirm-promotion
        url: http://flagger-loadtester.test/gate/check
  register: podinfo_gate
  # podinfo_gate.passed is false while the gate is closed

- name: Ask the rollback endpoint whether an operator wants to roll back
  progressive.delivery.canary_webhook:
    type: rollback
    target: podinfo
    namespace: test
    webhooks:
      - name: rollback
        type: rollback
        url: http://flagger-loadtester.test/rollback/check
  register: podinfo_rollback_hook
  # podinfo_rollback_hook.rollback is true when the rollback was asked for
"""

RETURN = r"""
passed:
  description: Every webhook of O(type) passed (true when there is none, and for O(type=rollback)).
  returned: success
  type: bool
rollback:
  description: With O(type=rollback), a webhook passed - the rollback is asked for.
  returned: success
  type: bool
failed_hooks:
  description: The names of the webhooks that did not pass.
  returned: success
  type: list
  elements: str
failures:
  description:
    - Per webhook that did not pass, the reason in Flagger's words (for example C(pre-rollout check acceptance-test failed
      status 500 ...)) - what the rollout role counts as a failed check.
  returned: success
  type: list
  elements: str
message:
  description: Flagger's event for the outcome (for example C(Halt podinfo.test advancement waiting for promotion approval promotion-gate)), or empty.
  returned: success
  type: str
hooks:
  description: One entry per webhook called, in order.
  returned: success
  type: list
  elements: dict
  contains:
    name:
      description: The webhook's name.
      type: str
    type:
      description: Its type.
      type: str
    called:
      description: False in check mode.
      type: bool
    status:
      description: The HTTP status of the last answer, null when there was none.
      type: int
    passed:
      description: The last answer's status was 202 or lower.
      type: bool
    attempts:
      description: Calls made (1 + retries used).
      type: int
    seconds:
      description: Time from the first call to the last answer.
      type: float
    message:
      description: Why it did not pass - the status and the answer, or the transport error (redacted, at most 300 characters).
      type: str
    answer:
      description: The answer of a hook that passed (redacted, at most 300 characters).
      type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.progressive.delivery.plugins.module_utils._webhook import argument_spec, run_webhooks


def main():
    run_webhooks(AnsibleModule(argument_spec(), supports_check_mode=True))


if __name__ == "__main__":
    main()
