# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Discord webhooks: one embed (colour by severity as an integer, the facts as inline fields)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

COLORS = {"info": 0x2ECC71, "warn": 0xF1C40F, "error": 0xE74C3C}


def payload(event, alert):
    return {
        "username": alert["username"],
        "embeds": [{
            "title": event["id"],
            "description": event["text"],
            "color": COLORS[event["severity"]],
            "fields": [{"name": name, "value": value, "inline": len(value) < 40} for name, value in event["fields"]],
        }],
    }
