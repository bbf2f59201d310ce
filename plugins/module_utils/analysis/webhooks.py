# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Flagger's webhooks: the hook types, their validation, the payload, and what a set of answers means.

A webhook is an HTTP POST of ``{name, namespace, phase, checksum, metadata}`` to a URL at one point
of the rollout (``type``). An answer with status 202 or lower passes, anything else (or no answer)
fails, as in Flagger. What a failure does depends on the type: a gate (``confirm-*``) holds the
rollout, a check (``pre-rollout``, ``rollout``) counts as a failed check, ``post-rollout`` and
``event`` are reported only, and a ``rollback`` hook that *passes* asks for the rollback.

Plain Python: no Ansible, no network. The HTTP call is in ``_webhook.py``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import time

CONFIRM_ROLLOUT = "confirm-rollout"
PRE_ROLLOUT = "pre-rollout"
ROLLOUT = "rollout"
CONFIRM_TRAFFIC_INCREASE = "confirm-traffic-increase"
CONFIRM_PROMOTION = "confirm-promotion"
POST_ROLLOUT = "post-rollout"
ROLLBACK = "rollback"
EVENT = "event"
HOOK_TYPES = (CONFIRM_ROLLOUT, PRE_ROLLOUT, ROLLOUT, CONFIRM_TRAFFIC_INCREASE, CONFIRM_PROMOTION, POST_ROLLOUT, ROLLBACK, EVENT)
GATES = (CONFIRM_ROLLOUT, CONFIRM_TRAFFIC_INCREASE, CONFIRM_PROMOTION)
CHECKS = (PRE_ROLLOUT, ROLLOUT)

DEFAULT_TYPE = ROLLOUT  # Flagger's default when a webhook names no type
DEFAULT_TIMEOUT = 10.0
MAX_PASSING_STATUS = 202
MAX_BODY = 300
REDACTED = "********"
_URL = re.compile(r"^https?://[^/\s]+(/\S*)?$", re.IGNORECASE)
_DURATION = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}

# Flagger's event-log words for a hook that did not pass, by type: why (the reason a failed check gives), and
# the event (the halt types put "Halt <id> advancement" before the reason).
_REASON = {
    CONFIRM_ROLLOUT: "waiting for approval {name}",
    PRE_ROLLOUT: "pre-rollout check {name} failed {error}",
    ROLLOUT: "external check {name} failed {error}",
    CONFIRM_TRAFFIC_INCREASE: "waiting for traffic increase approval {name}",
    CONFIRM_PROMOTION: "waiting for promotion approval {name}",
    POST_ROLLOUT: "post-rollout hook {name} failed {error}",
    EVENT: "event hook {name} failed {error}",
}
_HALTING = (CONFIRM_ROLLOUT, PRE_ROLLOUT, ROLLOUT, CONFIRM_TRAFFIC_INCREASE, CONFIRM_PROMOTION)


def _event_words(hook_type, ident, reason):
    if hook_type in _HALTING:
        return "Halt %s advancement %s" % (ident, reason)
    return reason[0].upper() + reason[1:]


class WebhookError(ValueError):
    """A webhook definition is invalid; ``field`` names the option (``webhooks[2].url``)."""

    def __init__(self, message, field):
        super(WebhookError, self).__init__(message)
        self.message = message
        self.field = field


def _timeout(value, field):
    if value is None or value == "":
        return DEFAULT_TIMEOUT
    if isinstance(value, bool):
        raise WebhookError("%s must be a duration such as 10s or a number of seconds, got %r" % (field, value), field)
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value).strip())
        if match is None:
            try:
                seconds = float(str(value).strip())
            except ValueError:
                raise WebhookError("%s must be a duration such as 10s, 500ms or 1m, or a number of seconds, got %r"
                                   % (field, value), field)
        else:
            seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds <= 0:
        raise WebhookError("%s must be more than 0 seconds, got %r" % (field, value), field)
    return seconds


def _string_map(value, field):
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise WebhookError("%s must be a dictionary of strings, got %r" % (field, value), field)
    result = {}
    for key, item in value.items():
        if isinstance(item, (dict, list)) or item is None:
            raise WebhookError("%s.%s must be a string (Flagger's metadata and headers are string maps), got %r"
                               % (field, key, item), "%s.%s" % (field, key))
        result[str(key)] = item if isinstance(item, str) else str(item).lower() if isinstance(item, bool) else str(item)
    return result


def validate(hooks, field="webhooks"):
    """The webhooks, checked and normalised (timeout in seconds, type defaulted); WebhookError otherwise."""
    if hooks is None:
        return []
    if not isinstance(hooks, list):
        raise WebhookError("%s must be a list of webhooks (name, type, url, ...), got %r" % (field, hooks), field)
    result, names = [], set()
    for index, hook in enumerate(hooks):
        where = "%s[%d]" % (field, index)
        if not isinstance(hook, dict):
            raise WebhookError("%s must be a dictionary with name, type and url, got %r" % (where, hook), where)
        unknown = sorted(set(hook) - {"name", "type", "url", "timeout", "retries", "headers", "metadata", "bearer_token",
                                      "validate_certs", "ca_path"})
        if unknown:
            raise WebhookError("%s has unknown keys %s; a webhook has name, type, url, timeout, retries, headers, metadata, "
                               "bearer_token, validate_certs, ca_path" % (where, ", ".join(unknown)), where)
        name = hook.get("name")
        if not name or not isinstance(name, str):
            raise WebhookError("%s.name is required: a name for the webhook, for example acceptance-test" % where, where + ".name")
        if name in names:
            raise WebhookError("%s.name %r is used twice: webhook names must be unique" % (where, name), where + ".name")
        names.add(name)
        hook_type = hook.get("type") or DEFAULT_TYPE
        if hook_type not in HOOK_TYPES:
            raise WebhookError("%s.type %r is not a webhook type; use one of %s" % (where, hook_type, ", ".join(HOOK_TYPES)),
                               where + ".type")
        url = hook.get("url")
        if not url or not isinstance(url, str):
            raise WebhookError("%s.url is required: the http:// or https:// address the webhook is posted to" % where, where + ".url")
        if not _URL.match(url.strip()):
            raise WebhookError("%s.url must be an http:// or https:// URL, got %r" % (where, mask(url)), where + ".url")
        retries = hook.get("retries", 0)
        if retries is None:
            retries = 0
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise WebhookError("%s.retries must be a whole number of 0 or more, got %r" % (where, retries), where + ".retries")
        result.append({
            "name": name,
            "type": hook_type,
            "url": url.strip(),
            "timeout": _timeout(hook.get("timeout"), where + ".timeout"),
            "retries": retries,
            "headers": _string_map(hook.get("headers"), where + ".headers"),
            "metadata": _string_map(hook.get("metadata"), where + ".metadata"),
            "bearer_token": hook.get("bearer_token") or None,
            "validate_certs": hook.get("validate_certs", True) is not False,
            "ca_path": hook.get("ca_path") or None,
        })
    return result


def of_type(hooks, hook_type):
    """The webhooks of ``hook_type``, in their order."""
    return [hook for hook in hooks if hook["type"] == hook_type]


def payload(hook, target, namespace, phase, checksum="", event=None, now=None):
    """What Flagger posts: ``{name, namespace, phase, checksum, metadata}``; an event hook's metadata also
    carries ``eventMessage``, ``eventType`` and ``timestamp`` (milliseconds, as a string)."""
    metadata = dict(hook["metadata"])
    if hook["type"] == EVENT and event:
        metadata.update(eventMessage=event.get("text") or "", eventType=event.get("type") or "Normal",
                        timestamp=str(int(round((time.time() if now is None else now) * 1000))))
    return {"name": target, "namespace": namespace, "phase": phase, "checksum": checksum or "", "metadata": metadata}


def answered_pass(status):
    """Flagger: an HTTP status of 202 or lower passes."""
    return isinstance(status, int) and not isinstance(status, bool) and status <= MAX_PASSING_STATUS


def secrets_of(hook):
    """The values that must never appear in output: the URL (and its password), the token, every header value."""
    values = [hook.get("url"), hook.get("bearer_token")] + list((hook.get("headers") or {}).values())
    match = re.match(r"^[a-z]+://[^/@]*:([^/@]+)@", hook.get("url") or "", re.IGNORECASE)
    if match:
        values.append(match.group(1))
    return [value for value in values if value and len(value) >= 4]


def redact(text, secrets):
    """``text`` without any of ``secrets``, cut to MAX_BODY characters."""
    text = text or ""
    for secret in secrets:
        text = text.replace(secret, REDACTED)
    text = " ".join(text.split())
    return text if len(text) <= MAX_BODY else text[:MAX_BODY] + "..."


def mask(url):
    """The URL without user:password."""
    return re.sub(r"^([a-z]+://)[^/@]*@", r"\1", url or "", flags=re.IGNORECASE)


def outcome(hook_type, results, target, namespace):
    """What the answers of the ``hook_type`` webhooks mean.

    ``results``: per hook ``name`` and ``passed`` (and ``message`` when it did not pass). Returns
    ``passed`` (every hook passed; true when there is none), ``failed_hooks``, ``failures`` (per hook that
    did not pass, the reason in Flagger's words, as a failed check gives it), ``rollback``
    (a ``rollback`` hook passed: the operator asks for the rollback), and ``message`` in Flagger's
    words for the first hook that decided, or "" when nothing is to be said.
    """
    ident = "%s.%s" % (target, namespace)
    failed = [r for r in results if not r["passed"]]
    if hook_type == ROLLBACK:
        asked = [r for r in results if r["passed"]]
        return {"passed": True, "failed_hooks": [], "failures": [], "rollback": bool(asked),
                "message": "Rolling back %s manual webhook invoked" % ident if asked else ""}
    reasons = [_REASON[hook_type].format(name=r["name"], error=r.get("message") or "").strip() for r in failed]
    message = ""
    if failed:
        message = _event_words(hook_type, ident, reasons[0])
    elif hook_type == PRE_ROLLOUT and results:
        message = "Pre-rollout check %s passed" % ", ".join(r["name"] for r in results)
    return {"passed": not failed, "failed_hooks": [r["name"] for r in failed], "failures": reasons, "rollback": False,
            "message": message}
