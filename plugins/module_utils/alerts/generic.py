# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A generic JSON webhook: the event as it is, for a receiver of one's own."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


def payload(event, alert):
    return {
        "name": event["target"],
        "namespace": event["namespace"],
        "phase": event["phase"],
        "severity": event["severity"],
        "message": event["text"],
        "metadata": dict(event["fields"]),
        "timestamp": event["timestamp"],
    }
