# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""canary_webhook: post the webhooks of one type, as Flagger does at that point of the rollout.

The decisions (what passes, what the answers mean, Flagger's messages) are in
``analysis/webhooks.py``; here the HTTP call (``ansible.module_utils.urls``), with retries, and
every transport error turned into the reason of a hook that did not pass (``_http_send.py``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import time

from ansible_collections.progressive.delivery.plugins.module_utils._http_send import send
from ansible_collections.progressive.delivery.plugins.module_utils.analysis import webhooks as wh

USER_AGENT = "progressive.delivery-webhook"
RETRY_PAUSE = 1.0


def argument_spec():
    return dict(
        webhooks=dict(type="list", elements="dict", required=True, options=dict(
            name=dict(type="str", required=True),
            type=dict(type="str", choices=list(wh.HOOK_TYPES), default=wh.DEFAULT_TYPE),
            url=dict(type="str", required=True, no_log=True),
            timeout=dict(type="raw"),
            retries=dict(type="int", default=0),
            headers=dict(type="dict", no_log=True),
            metadata=dict(type="dict"),
            bearer_token=dict(type="str", no_log=True),
            validate_certs=dict(type="bool", default=True),
            ca_path=dict(type="path"),
        )),
        type=dict(type="str", required=True, choices=list(wh.HOOK_TYPES)),
        target=dict(type="str", required=True),
        namespace=dict(type="str", required=True),
        phase=dict(type="str", default="Progressing"),
        checksum=dict(type="str", default=""),
        event=dict(type="dict", options=dict(
            text=dict(type="str", required=True),
            type=dict(type="str", choices=["Normal", "Warning"], default="Normal"),
        )),
    )


def post(hook, body):
    """One POST: ``(status or None, answer text or the transport error)``."""
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/plain, */*"}
    headers.update(hook["headers"])
    if hook["bearer_token"]:
        headers["Authorization"] = "Bearer %s" % hook["bearer_token"]
    return send(hook["url"], json.dumps(body), "POST", headers, hook["timeout"], hook["validate_certs"], hook["ca_path"],
                USER_AGENT)


def call(hook, body, sleep=time.sleep):
    """Post ``body`` to ``hook`` (again up to ``retries`` times while it does not pass); the hook's result."""
    secrets = wh.secrets_of(hook)
    started = time.monotonic()
    attempts, status, text = 0, None, ""
    while True:
        attempts += 1
        status, text = post(hook, body)
        if wh.answered_pass(status) or attempts > hook["retries"]:
            break
        sleep(RETRY_PAUSE)
    passed = wh.answered_pass(status)
    if passed:
        message = ""
    elif status is None:
        message = wh.redact(text, secrets)
    else:
        message = "status %s: %s" % (status, wh.redact(text, secrets) or "(empty body)")
    return {"name": hook["name"], "type": hook["type"], "called": True, "status": status,
            "passed": passed, "attempts": attempts, "seconds": round(time.monotonic() - started, 3), "message": message,
            "answer": wh.redact(text, secrets) if passed else ""}


def run_webhooks(module):
    params = module.params
    try:
        hooks = wh.validate([dict((k, v) for k, v in hook.items() if v is not None) for hook in params["webhooks"]])
    except wh.WebhookError as exc:
        module.fail_json(msg="%s; nothing was posted" % exc.message, field=exc.field)
    selected = wh.of_type(hooks, params["type"])
    if params["type"] == wh.EVENT and not params.get("event"):
        module.fail_json(msg="event is required with type=event: the event's text (and type) to post", field="event")
    results = []
    for hook in selected:
        if module.check_mode:
            results.append({"name": hook["name"], "type": hook["type"], "called": False,
                            "status": None, "passed": True, "attempts": 0, "seconds": 0.0, "message": "not called in check mode",
                            "answer": ""})
            continue
        body = wh.payload(hook, params["target"], params["namespace"], params["phase"], params["checksum"], params.get("event"))
        results.append(call(hook, body))
    result = wh.outcome(params["type"], results, params["target"], params["namespace"])
    module.exit_json(changed=False, hooks=results, **result)
