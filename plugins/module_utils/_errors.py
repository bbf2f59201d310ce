# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The error raised by the pure logic for bad input or a cluster state it cannot work with."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class CanaryError(Exception):
    """A problem the user can fix: the message names the field or object and says how."""

    def __init__(self, message, field=None):
        super(CanaryError, self).__init__(message)
        self.message = message
        self.field = field

    def __str__(self):
        return self.message
