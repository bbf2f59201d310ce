# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Slack incoming webhooks: a message with one attachment (colour by severity, the facts as fields)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

COLORS = {"info": "good", "warn": "warning", "error": "danger"}


def payload(event, alert):
    body = {
        "username": alert["username"],
        "text": "",
        "attachments": [{
            "color": COLORS[event["severity"]],
            "author_name": event["id"],
            "text": event["text"],
            "mrkdwn_in": ["text"],
            "fields": [{"title": name, "value": value, "short": len(value) < 40} for name, value in event["fields"]],
        }],
    }
    if alert.get("channel"):
        body["channel"] = alert["channel"]
    return body
