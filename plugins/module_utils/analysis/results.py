# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Turn a Prometheus query result into the one number a check needs, or say clearly why not.

* an empty vector or NaN is "no data" (Flagger: "no values found"): usually no traffic;
* several series where one value was expected is an error that lists their labels (Flagger
  silently takes the last one; a query that matches primary and canary must not pass unnoticed).
"""

import math


class NoDataError(Exception):
    """The query returned nothing usable; ``reason`` is ``"empty"`` or ``"nan"``."""

    def __init__(self, message, reason):
        super(NoDataError, self).__init__(message)
        self.reason = reason


class ResultShapeError(Exception):
    """The result is not a single number: several series, a range vector or a string."""


def parse_value(text):
    """Prometheus sends sample values as strings, including ``NaN``, ``+Inf`` and ``-Inf``."""
    try:
        return float(text)
    except (TypeError, ValueError):
        raise ResultShapeError("the sample value %r is not a number" % (text,))


def format_labels(metric):
    if not metric:
        return "{}"
    name = metric.get("__name__", "")
    labels = ", ".join('%s="%s"' % (k, metric[k]) for k in sorted(metric) if k != "__name__")
    return "%s{%s}" % (name, labels)


def single_value(result):
    """The float of a scalar or a one-sample instant vector; raises NoDataError / ResultShapeError."""
    if result.result_type == "scalar":
        value = parse_value(result.result[1])
    elif result.result_type == "vector":
        series = result.result
        if not series:
            raise NoDataError("the query returned an empty result", "empty")
        if len(series) > 1:
            raise ResultShapeError(
                "the query returned %d series where one value was expected: %s -- aggregate them (e.g. sum(...)) "
                "or narrow the label matchers" % (len(series), "; ".join(
                    "%s = %s" % (format_labels(s.get("metric")), s.get("value", [None, "?"])[1]) for s in series)))
        value = parse_value(series[0]["value"][1])
    elif result.result_type == "matrix":
        raise ResultShapeError("the query returned a range vector (matrix) where one value was expected: "
                               "wrap the range selector in a function such as rate(...) or avg_over_time(...)")
    else:
        raise ResultShapeError("the query returned a %s where a number was expected" % result.result_type)
    if math.isnan(value):
        raise NoDataError("the query returned NaN (for a ratio: no requests in the interval)", "nan")
    return value


def samples(result):
    """Every sample as ``{metric, value, timestamp}`` (a matrix gives ``values: [[timestamp, value], ...]``)."""
    if result.result_type == "scalar":
        return [{"metric": {}, "value": parse_value(result.result[1]), "timestamp": float(result.result[0])}]
    if result.result_type == "string":
        return [{"metric": {}, "value": result.result[1], "timestamp": float(result.result[0])}]
    if result.result_type == "vector":
        return [{"metric": s.get("metric", {}), "value": parse_value(s["value"][1]), "timestamp": float(s["value"][0])}
                for s in result.result]
    if result.result_type == "matrix":
        return [{"metric": s.get("metric", {}), "values": [[float(ts), parse_value(v)] for ts, v in s.get("values", [])]}
                for s in result.result]
    raise ResultShapeError("unknown result type %r" % result.result_type)
