# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""canary_notify: tell the alerts an event reaches, each in its provider's shape.

A receiver that does not take the message never fails the task (a chat outage must not stop a
rollout or its rollback): it is counted in ``undelivered`` and warned about, with its answer redacted.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.progressive.delivery.plugins.module_utils import alerts as al
from ansible_collections.progressive.delivery.plugins.module_utils._webhook import post
from ansible_collections.progressive.delivery.plugins.module_utils.analysis import webhooks as wh


def argument_spec():
    return dict(
        alerts=dict(type="list", elements="dict", required=True, options=dict(
            name=dict(type="str", required=True),
            provider=dict(type="str", required=True, choices=al.provider_names()),
            url=dict(type="str", required=True, no_log=True),
            severity=dict(type="str", choices=list(al.SEVERITIES), default="info"),
            channel=dict(type="str"),
            username=dict(type="str", default="progressive.delivery"),
            timeout=dict(type="float", default=5),
        )),
        target=dict(type="str", required=True),
        namespace=dict(type="str", required=True),
        text=dict(type="str", required=True),
        severity=dict(type="str", choices=list(al.SEVERITIES)),
        event_type=dict(type="str", choices=["Normal", "Warning"], default="Normal"),
        phase=dict(type="str", default=""),
        fields=dict(type="dict", default={}),
    )


def run_notify(module):
    params = module.params
    try:
        alerts = al.validate([dict((k, v) for k, v in alert.items() if v is not None) for alert in params["alerts"]])
        severity = params["severity"] or al.severity_of(params["text"], params["event_type"])
        event = al.event(params["target"], params["namespace"], params["text"], severity, params["phase"],
                         params["fields"], timestamp=int(round(time.time() * 1000)))
    except al.AlertError as exc:
        module.fail_json(msg="%s; nothing was sent" % exc.message, field=exc.field)
    reached = al.recipients(alerts, event["severity"])
    skipped = [alert["name"] for alert in alerts if alert not in reached]
    delivered, undelivered = [], []
    for alert in reached:
        if module.check_mode:
            continue
        receiver = {"url": alert["url"], "headers": {}, "bearer_token": None, "timeout": alert["timeout"],
                    "validate_certs": True, "ca_path": None}
        status, answer = post(receiver, al.build(alert, event))
        if status is not None and 200 <= status < 300:  # any 2xx: Discord answers 204 No Content
            delivered.append(alert["name"])
            continue
        reason = wh.redact(answer, [alert["url"]]) or "(empty answer)"
        undelivered.append({"name": alert["name"], "provider": alert["provider"], "status": status, "message": reason})
        module.warn("alert %s (%s) was not delivered: %s%s" % (alert["name"], alert["provider"],
                                                               "status %s: " % status if status else "", reason))
    module.exit_json(changed=bool(delivered), delivered=delivered, undelivered=undelivered, skipped=skipped,
                     would_deliver=[alert["name"] for alert in reached] if module.check_mode else [])
