# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""canary_metrics_push: the rollout's metrics PUT to a Pushgateway (entry point).

What is pushed and where is decided in ``metrics_push.py``; here the HTTP call
(``ansible.module_utils.urls``) and every error turned into one message - a warning unless
``fail_on_error``, because a rollout must not stop for its own metrics.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime

from ansible_collections.progressive.delivery.plugins.module_utils import metrics_push as mp
from ansible_collections.progressive.delivery.plugins.module_utils._http_send import send
from ansible_collections.progressive.delivery.plugins.module_utils.state.status import PHASES

USER_AGENT = "progressive.delivery-metrics-push"
# The exposition format's content type; the Pushgateway reads the text format from it.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def argument_spec():
    return dict(
        url=dict(type="str", required=True),
        job=dict(type="str", default=mp.DEFAULT_JOB),
        target=dict(type="str", required=True),
        namespace=dict(type="str", required=True),
        phase=dict(type="str", required=True, choices=list(PHASES)),
        canary_weight=dict(type="int"),
        duration_seconds=dict(type="float"),
        started_at=dict(type="str"),
        canary_total=dict(type="int"),
        url_username=dict(type="str"),
        url_password=dict(type="str", no_log=True),
        bearer_token=dict(type="str", no_log=True),
        validate_certs=dict(type="bool", default=True),
        ca_path=dict(type="path"),
        timeout=dict(type="float", default=5),
        fail_on_error=dict(type="bool", default=False),
    )


def put(url, text, params, username, password):
    """One PUT: ``(status or None, answer text or the transport error)``."""
    headers = {"Content-Type": CONTENT_TYPE}
    if params["bearer_token"]:
        headers["Authorization"] = "Bearer %s" % params["bearer_token"]
    return send(url, text.encode("utf-8"), "PUT", headers, params["timeout"], params["validate_certs"], params["ca_path"],
                USER_AGENT, peer="the Pushgateway", refused_hint=" (is it running at that address?)",
                username=username, password=password)


def run_metrics_push(module, now=None):
    params = module.params
    try:
        mp.validate(params)
        duration = params["duration_seconds"]
        if duration is None and params["started_at"]:
            duration = mp.duration_from(params["started_at"], now or datetime.datetime.now(datetime.timezone.utc))
        text = mp.render(params["target"], params["namespace"], params["phase"], params["canary_weight"], duration,
                         params["canary_total"])
    except mp.MetricsPushError as exc:
        module.fail_json(msg="%s; nothing was pushed" % exc.message, field=exc.field)
    username, password = params["url_username"], params["url_password"]
    shown_url = mp.push_url(params["url"], params["job"], params["namespace"], params["target"])
    result = dict(changed=False, text=text, url=shown_url, pushed=False, status=None, duration_seconds=duration)
    if module.check_mode:
        module.exit_json(**result)
    status, answer = put(shown_url, text, params, username, password)
    result["status"] = status
    if status is not None and 200 <= status < 300:
        result.update(changed=True, pushed=True)
        module.exit_json(**result)
    secrets = [s for s in (password, params["bearer_token"]) if s]
    if status is None:
        reason = mp.answer_excerpt(answer, secrets)
    else:
        reason = "status %s: %s" % (status, mp.answer_excerpt(answer, secrets))
    message = "the rollout's metrics were not pushed to %s: %s" % (shown_url, reason)
    if params["fail_on_error"]:
        module.fail_json(msg=message, **result)
    module.warn(message)
    result["error"] = message
    module.exit_json(**result)
