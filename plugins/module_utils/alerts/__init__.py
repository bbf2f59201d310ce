# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Alerts, as Flagger's AlertProviders: who is told of which events, and in which shape.

An alert names a provider (one file each in this package, with ``payload(event)``), the receiver's
webhook URL (a secret), and a severity: ``info`` hears every event, ``warn`` halts and rollbacks,
``error`` rollbacks only. ``validate`` checks the list, ``recipients`` picks the alerts an event
reaches, ``build`` the provider's JSON. Plain Python: the posting is in ``_notify.py``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.progressive.delivery.plugins.module_utils.alerts import discord, gchat, generic, msteams, slack

PROVIDERS = {
    "slack": slack,
    "msteams": msteams,
    "discord": discord,
    "gchat": gchat,
    "rocket": slack,  # Rocket.Chat's incoming webhooks take Slack's message
    "generic": generic,
}
SEVERITIES = ("info", "warn", "error")
_URL = re.compile(r"^https?://[^/\s]+(/\S*)?$", re.IGNORECASE)


class AlertError(ValueError):
    """An alert definition or event is invalid; ``field`` names the option."""

    def __init__(self, message, field):
        super(AlertError, self).__init__(message)
        self.message = message
        self.field = field


def provider_names():
    return sorted(PROVIDERS)


def _severity(value, field):
    if value not in SEVERITIES:
        raise AlertError("%s must be one of %s, got %r" % (field, ", ".join(SEVERITIES), value), field)
    return value


def validate(alerts, field="alerts"):
    """The alerts, checked and normalised; AlertError naming the field otherwise."""
    if alerts is None:
        return []
    if not isinstance(alerts, list):
        raise AlertError("%s must be a list of alerts (name, provider, url, severity), got %r" % (field, type(alerts).__name__), field)
    result, names = [], set()
    for index, alert in enumerate(alerts):
        where = "%s[%d]" % (field, index)
        if not isinstance(alert, dict):
            raise AlertError("%s must be a dictionary with name, provider and url" % where, where)
        name = alert.get("name")
        if not name or not isinstance(name, str):
            raise AlertError("%s.name is required: a name for the alert, for example on-call" % where, where + ".name")
        if name in names:
            raise AlertError("%s.name %r is used twice: alert names must be unique" % (where, name), where + ".name")
        names.add(name)
        provider = alert.get("provider")
        if provider not in PROVIDERS:
            raise AlertError("%s.provider %r is not an alert provider; use one of %s" % (where, provider, ", ".join(provider_names())),
                             where + ".provider")
        url = alert.get("url")
        if not url or not isinstance(url, str):
            raise AlertError("%s.url is required: the %s incoming webhook URL (a secret: give it from a vault or a Secret)"
                             % (where, provider), where + ".url")
        if not _URL.match(url.strip()):
            raise AlertError("%s.url must be an http:// or https:// URL" % where, where + ".url")
        result.append({
            "name": name,
            "provider": provider,
            "url": url.strip(),
            "severity": _severity(alert.get("severity") or "info", where + ".severity"),
            "channel": alert.get("channel") or None,
            "username": alert.get("username") or "progressive.delivery",
            "timeout": alert.get("timeout") or 5,
        })
    return result


# Flagger's events that end an analysis badly: an alert of severity error hears them.
_FAILURES = ("Rolling back ", "Canary failed!", "Rollout of ")


def severity_of(text, event_type="Normal"):
    """How Flagger ranks an event: a rollback or failure is error, any other Warning warn, the rest info."""
    if (text or "").startswith(_FAILURES):
        return "error"
    return "warn" if event_type == "Warning" else "info"


def recipients(alerts, severity):
    """The alerts an event of ``severity`` reaches: an alert hears its own severity and the ones above."""
    rank = SEVERITIES.index(_severity(severity, "event.severity"))
    return [alert for alert in alerts if SEVERITIES.index(alert["severity"]) <= rank]


def event(target, namespace, text, severity="info", phase="", fields=None, timestamp=None):
    """The event every provider renders: who, what, how bad, and the facts (an ordered list of pairs)."""
    return {"target": target, "namespace": namespace, "id": "%s.%s" % (target, namespace), "text": text,
            "severity": _severity(severity, "event.severity"), "phase": phase or "",
            "fields": [(str(k), str(v)) for k, v in (fields or {}).items()], "timestamp": timestamp}


def build(alert, the_event):
    """The JSON body ``alert``'s provider expects for ``the_event``."""
    return PROVIDERS[alert["provider"]].payload(the_event, alert)
