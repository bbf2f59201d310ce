# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Threshold ranges (Flagger's ``thresholdRange``): ``min`` and ``max``, both inclusive, either optional."""

import math


class ThresholdError(ValueError):
    """A threshold range that cannot be used; the message names the field."""


class ThresholdRange(object):
    def __init__(self, min=None, max=None, field="threshold_range"):  # pylint: disable=redefined-builtin
        self.min = _number(min, "%s.min" % field)
        self.max = _number(max, "%s.max" % field)
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ThresholdError("%s.min (%s) is greater than %s.max (%s): no value could pass" % (field, fmt_number(self.min), field, fmt_number(self.max)))

    @classmethod
    def from_option(cls, value, field="threshold_range"):
        """Build from ``None`` or a ``{min, max}`` dict as given in a task."""
        if value is None:
            return cls(field=field)
        if not isinstance(value, dict):
            raise ThresholdError("%s must be a dictionary with min and/or max, got %r" % (field, value))
        unknown = sorted(set(value) - set(("min", "max")))
        if unknown:
            raise ThresholdError("%s has unknown key(s) %s: only min and max are allowed" % (field, ", ".join(unknown)))
        return cls(value.get("min"), value.get("max"), field=field)

    @property
    def empty(self):
        return self.min is None and self.max is None

    def breach(self, value):
        """``None`` when ``value`` is inside the range, else ``"min"`` or ``"max"`` (the bound it crossed)."""
        if self.min is not None and value < self.min:
            return "min"
        if self.max is not None and value > self.max:
            return "max"
        return None

    def to_dict(self):
        return {"min": self.min, "max": self.max}

    def __repr__(self):
        return "ThresholdRange(min=%r, max=%r)" % (self.min, self.max)


def _number(value, field):
    if value is None:
        return None
    if isinstance(value, bool):
        raise ThresholdError("%s must be a number, got %r" % (field, value))
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ThresholdError("%s must be a number, got %r" % (field, value))
    if math.isnan(number):
        raise ThresholdError("%s must be a number, got NaN" % field)
    return number


def fmt_number(value):
    """Like Go's ``%v`` for a float64, as in Flagger's messages: 99 -> ``99``, 99.5 -> ``99.5``."""
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text
