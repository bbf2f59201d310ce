# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Microsoft Teams incoming webhooks: an Office 365 connector MessageCard, the facts in one section."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

THEME_COLORS = {"info": "0076D7", "warn": "FFA500", "error": "D70000"}


def payload(event, alert):
    return {
        "@type": "MessageCard",
        "@context": "http://schema.org/extensions",
        "themeColor": THEME_COLORS[event["severity"]],
        "summary": "%s: %s" % (event["id"], event["text"]),
        "sections": [{
            "activityTitle": event["id"],
            "activitySubtitle": event["text"],
            "facts": [{"name": name, "value": value} for name, value in event["fields"]],
        }],
    }
