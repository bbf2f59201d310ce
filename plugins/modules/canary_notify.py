#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: canary_notify
short_description: Tell Slack, Microsoft Teams, Discord, Google Chat, Rocket.Chat or a JSON webhook about a rollout event
version_added: 1.0.0
author:
  - Progressive Delivery maintainers (@progressive-delivery)
description:
  - Sends one rollout event to every alert of O(alerts) whose severity it reaches, as Flagger's AlertProviders - an alert of
    severity V(info) hears every event, V(warn) the halts and rollbacks (events of severity V(warn) and V(error)), V(error)
    the rollbacks only.
  - Each provider gets its own shape - Slack and Rocket.Chat an incoming-webhook message with one coloured attachment, Microsoft
    Teams an Office 365 connector C(MessageCard), Discord an embed, Google Chat a text message, V(generic) the event as JSON
    (C(name), C(namespace), C(phase), C(severity), C(message), C(metadata), C(timestamp) in milliseconds). O(fields) become the
    message's facts.
  - A receiver that does not take the message (no 2xx answer, a timeout) never fails the task - a chat outage must not stop a
    rollout or its rollback. It is listed in RV(undelivered) and warned about.
  - The webhook URLs are secrets - never shown, also not in answers quoted in warnings.
attributes:
  check_mode:
    support: full
    details: Nothing is sent; RV(would_deliver) lists the alerts the event would reach.
  diff_mode:
    support: none
  idempotent:
    support: none
    details: Every run sends the event again (C(changed=true) when an alert took it).
extends_documentation_fragment:
  - progressive.delivery.attributes
options:
  alerts:
    description: The rollout's alerts.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: The alert's name (unique).
        type: str
        required: true
      provider:
        description: The receiver's kind.
        type: str
        required: true
        choices: [discord, gchat, generic, msteams, rocket, slack]
      url:
        description: The receiver's incoming webhook URL. A secret - never shown.
        type: str
        required: true
      severity:
        description: The least severe event this alert hears.
        type: str
        choices: [info, warn, error]
        default: info
      channel:
        description: With V(slack) and V(rocket), a channel overriding the webhook's own.
        type: str
      username:
        description: The sender's name, where the provider shows one (Slack, Rocket.Chat, Discord).
        type: str
        default: progressive.delivery
      timeout:
        description: Seconds to wait for the receiver.
        type: float
        default: 5
  target:
    description: The target Deployment the event is about.
    type: str
    required: true
  namespace:
    description: Its namespace.
    type: str
    required: true
  text:
    description: The event, in Flagger's words (for example C(Canary failed! Scaling down podinfo.test)).
    type: str
    required: true
  severity:
    description:
      - How bad the event is - V(info) (progress), V(warn) (a halt), V(error) (a rollback or failure).
      - Without it, read from O(event_type) and O(text) as Flagger ranks its events - a rollback or a failure
        (C(Rolling back ...), C(Canary failed! ...)) is V(error), any other V(Warning) event V(warn), the rest V(info).
    type: str
    choices: [info, warn, error]
  event_type:
    description: The Kubernetes Event type of O(text), used to rank it when O(severity) is not given.
    type: str
    choices: [Normal, Warning]
    default: Normal
  phase:
    description: The canary's phase, shown with the event.
    type: str
    default: ""
  fields:
    description: Facts shown with the event (for example the weight, the failed checks, the revision).
    type: dict
    default: {}
seealso:
  - module: progressive.delivery.canary_webhook
"""

EXAMPLES = r"""
- name: Tell the team channel about the rollback, and page on-call
  progressive.delivery.canary_notify:
    target: podinfo
    namespace: test
    text: Canary failed! Scaling down podinfo.test
    severity: error
    phase: Failed
    fields:
      Failed checks: "2"
      Revision: "{{ podinfo_revision }}"
    alerts:
      - name: team
        provider: slack
        url: "{{ vault_slack_webhook }}"
        channel: "#deployments"
      - name: on-call
        provider: msteams
        url: "{{ vault_teams_webhook }}"
        severity: error
  register: podinfo_alerts
"""

RETURN = r"""
delivered:
  description: The alerts that took the event.
  returned: success
  type: list
  elements: str
undelivered:
  description:
    - The alerts that did not take it, with the status (null without an answer) and the redacted reason. (Not called
      C(failed) - a non-empty C(failed) would fail the task, which an alert must never do.)
  returned: success
  type: list
  elements: dict
skipped:
  description: The alerts whose severity the event did not reach.
  returned: success
  type: list
  elements: str
would_deliver:
  description: In check mode, the alerts the event would reach; empty otherwise.
  returned: success
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.progressive.delivery.plugins.module_utils._notify import argument_spec, run_notify


def main():
    run_notify(AnsibleModule(argument_spec(), supports_check_mode=True))


if __name__ == "__main__":
    main()
