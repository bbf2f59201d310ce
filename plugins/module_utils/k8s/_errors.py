# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one mapping from a failed Kubernetes API call to a message that says what to fix."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible.module_utils.common.text.converters import to_text


class ClusterError(Exception):
    """An API call failed; the message says what was attempted and what to check."""


class Conflict(ClusterError):
    """Someone else wrote the object between our read and our write (409), with the "fail on any 409" policy."""


class RolloutInterrupted(Exception):
    """An operator's request (abort, promote) is pending: a fenced run must not raise the weight."""

    def __init__(self, message, request, run=None):
        super(RolloutInterrupted, self).__init__(message)
        self.request = request
        self.run = run or {}


NOTHING_WRITTEN = "nothing was written (every object of the task is sent to the API server as a dry run first)"


def api_name(host):
    return "the Kubernetes API at %s" % host if host else "the Kubernetes API"


def api_reason(exc):
    """The API server's message from an ApiException's body, else its reason."""
    body = getattr(exc, "body", None)
    if body:
        try:
            return json.loads(body).get("message") or to_text(body)
        except (ValueError, AttributeError, TypeError):
            return to_text(body)
    return to_text(getattr(exc, "reason", None) or exc)


def api_error_message(exc, action, what, host):
    status = getattr(exc, "status", None)
    reason = api_reason(exc)
    if status == 401:
        return ("%s rejected the credentials (401 Unauthorized) when trying to %s %s: "
                "check api_key, the kubeconfig/context or the K8S_AUTH_* variables" % (api_name(host), action, what))
    if status == 403:
        return ("%s refused to %s %s (403 Forbidden: %s): grant the account RBAC permission for it"
                % (api_name(host), action, what, reason))
    if status == 409:
        return ("%s was changed by someone else while this task ran, in a field this task also sets (409 Conflict: %s); "
                "nothing else was written after it: run the task again" % (what, reason))
    if status == 422 or status == 400:
        return "the Kubernetes API rejected %s %s (%s): %s" % (action, what, status, reason)
    return "failed to %s %s (HTTP %s): %s" % (action, what, status, reason)


def unreachable_message(exc, action, what, host=None):
    pool = getattr(exc, "pool", None)
    if pool is not None and getattr(pool, "host", None):
        host = "%s://%s:%s" % (getattr(pool, "scheme", "http"), pool.host, pool.port)
    reason = getattr(exc, "reason", None) or exc
    return ("cannot reach %s while trying to %s %s (%s); check host/kubeconfig and that the API server is running"
            % (api_name(host), action, what, to_text(reason)))
