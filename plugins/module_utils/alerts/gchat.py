# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Google Chat incoming webhooks: a text message (Chat's own formatting: *bold*)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


def payload(event, alert):
    lines = ["*%s*" % event["id"], event["text"]] + ["%s: %s" % pair for pair in event["fields"]]
    return {"text": "\n".join(lines)}
