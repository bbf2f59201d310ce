# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The charts of the report as inline SVG: the canary weight over time as a step line with markers for
halts, rollbacks and promotions, and each metric's values against its threshold band.

Every chart shares one time axis (``x_positions``) so the columns line up. Coordinates are written with
two decimals at most, so the same history always gives the same text. Every text is escaped.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import math
from html import escape

from ansible_collections.progressive.delivery.plugins.module_utils.report.data import MARKED_ACTIONS

WIDTH = 720
LEFT, RIGHT = 56, 16
PLOT_WIDTH = WIDTH - LEFT - RIGHT
WEIGHT_TOP, WEIGHT_PLOT_HEIGHT, WEIGHT_HEIGHT = 12, 180, 224
METRIC_TOP, METRIC_PLOT_HEIGHT, METRIC_HEIGHT = 10, 80, 112


def number(value):
    """A coordinate or a value as short, stable text: 12.5, 40, 0.33."""
    text = "%.2f" % value
    return text.rstrip("0").rstrip(".") if "." in text else text


def parse_time(text):
    """An RFC 3339 time as an aware datetime, or None when it is not one."""
    if not isinstance(text, str):
        return None
    try:
        parsed = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.timezone.utc)


def x_positions(history, left=LEFT, width=PLOT_WIDTH):
    """The x of every entry: by its time when every entry has one and they span some time, else evenly
    spaced (a history written by hand, or a single entry, still draws)."""
    count = len(history)
    if count == 0:
        return []
    if count == 1:
        return [left + width / 2.0]
    times = [parse_time(entry.get("at")) for entry in history]
    if all(times):
        start, span = times[0], (times[-1] - times[0]).total_seconds()
        if span > 0 and all((times[i + 1] - times[i]).total_seconds() >= 0 for i in range(count - 1)):
            return [left + (moment - start).total_seconds() / span * width for moment in times]
    return [left + index * width / float(count - 1) for index in range(count)]


def weight_y(weight, top=WEIGHT_TOP, height=WEIGHT_PLOT_HEIGHT):
    """The y of a canary weight (0 at the bottom of the plot, 100 at its top)."""
    weight = min(max(weight or 0, 0), 100)
    return top + (100 - weight) * height / 100.0


def step_points(xs, ys):
    """A step line through the points: the value holds until the next point, then jumps."""
    points = []
    for index, (x, y) in enumerate(zip(xs, ys)):
        if index:
            points.append((x, ys[index - 1]))
        points.append((x, y))
    return points


def _points(points):
    return " ".join("%s,%s" % (number(x), number(y)) for x, y in points)


def _clock(text):
    moment = parse_time(text)
    return moment.strftime("%H:%M:%S") if moment else (text or "")


def _time_labels(history, xs, baseline):
    if not history:
        return []
    labels = ['<text class="time" x="%s" y="%s" text-anchor="start">%s</text>'
              % (number(xs[0]), number(baseline + 16), escape(_clock(history[0].get("at"))))]
    if len(history) > 1:
        labels.append('<text class="time" x="%s" y="%s" text-anchor="end">%s</text>'
                      % (number(xs[-1]), number(baseline + 16), escape(_clock(history[-1].get("at")))))
    return labels


def _anchor(x):
    """Where a label hangs from its x, so a marker at either edge of the plot keeps its label inside the chart."""
    if x > LEFT + PLOT_WIDTH - 40:
        return "end"
    return "start" if x < LEFT + 40 else "middle"


def weight_chart(history):
    """The canary weight of every entry as a step line, with a marker at each halt, rollback and promotion."""
    bottom = WEIGHT_TOP + WEIGHT_PLOT_HEIGHT
    parts = ['<svg class="chart weight-chart" xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" '
             'role="img" aria-label="canary weight over time">' % (WIDTH, WEIGHT_HEIGHT, WIDTH, WEIGHT_HEIGHT)]
    for weight in (0, 25, 50, 75, 100):
        y = number(weight_y(weight))
        parts.append('<line class="grid" x1="%d" y1="%s" x2="%d" y2="%s"/>' % (LEFT, y, LEFT + PLOT_WIDTH, y))
        parts.append('<text class="axis" x="%d" y="%s" text-anchor="end">%d%%</text>' % (LEFT - 6, y, weight))
    if not history:
        parts.append('<text class="empty" x="%s" y="%s" text-anchor="middle">no history recorded</text>'
                     % (number(LEFT + PLOT_WIDTH / 2.0), number(WEIGHT_TOP + WEIGHT_PLOT_HEIGHT / 2.0)))
        parts.append("</svg>")
        return "".join(parts)
    xs = x_positions(history)
    weights = [entry.get("weight") for entry in history]
    ys = [weight_y(weight) for weight in weights]
    parts.append('<polyline class="weight" points="%s"/>' % _points(step_points(xs, ys)))
    for index, (x, y, entry) in enumerate(zip(xs, ys, history)):
        parts.append('<circle class="point" cx="%s" cy="%s" r="3" data-index="%d" data-weight="%s"><title>%s</title></circle>'
                     % (number(x), number(y), index, escape(str(entry.get("weight"))),
                        escape("%s weight %s %s" % (entry.get("at"), entry.get("weight"), entry.get("action")))))
        action = entry.get("action")
        if action in MARKED_ACTIONS:
            parts.append('<g class="marker marker-%s" data-index="%d"><line x1="%s" y1="%d" x2="%s" y2="%d"/>'
                         '<text x="%s" y="%d" text-anchor="%s">%s</text><title>%s</title></g>'
                         % (action, index, number(x), WEIGHT_TOP, number(x), bottom, number(x), WEIGHT_TOP + 10,
                            _anchor(x), escape(action), escape(entry.get("event") or action)))
    parts.extend(_time_labels(history, xs, bottom))
    parts.append("</svg>")
    return "".join(parts)


def _numeric(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _metric(entry, name):
    for metric in entry.get("metrics") or []:
        if metric.get("name") == name:
            return metric
    return None


def value_scale(values, low, high):
    """``(bottom, top)``: the value range a metric chart shows, every value and bound in it with a margin."""
    candidates = [v for v in values if _numeric(v)] + [b for b in (low, high) if _numeric(b)]
    if not candidates:
        return 0.0, 1.0
    bottom, top = float(min(candidates)), float(max(candidates))
    margin = (top - bottom) * 0.1 or (abs(top) * 0.1 or 1.0)
    return bottom - margin, top + margin


def value_y(value, scale, top=METRIC_TOP, height=METRIC_PLOT_HEIGHT):
    bottom, ceiling = scale
    return top + (ceiling - value) * height / (ceiling - bottom)


def metric_chart(name, history):
    """One metric's values over the shared time axis against its threshold band (the range that passes).

    The band is the latest entry's range: a changed threshold applies from then on, and the table shows
    each interval's own."""
    xs = x_positions(history)
    present = [(x, _metric(entry, name)) for x, entry in zip(xs, history)]
    present = [(x, metric) for x, metric in present if metric is not None]
    ranges = [metric.get("threshold_range") for _x, metric in present if metric.get("threshold_range")]
    threshold = ranges[-1] if ranges else {}
    low, high = threshold.get("min"), threshold.get("max")
    scale = value_scale([metric.get("value") for _x, metric in present], low, high)
    bottom = METRIC_TOP + METRIC_PLOT_HEIGHT
    parts = ['<svg class="chart metric-chart" xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" '
             'role="img" data-metric="%s" aria-label="%s">' % (WIDTH, METRIC_HEIGHT, WIDTH, METRIC_HEIGHT, escape(name), escape(name))]
    parts.append('<rect class="frame" x="%d" y="%d" width="%d" height="%d"/>' % (LEFT, METRIC_TOP, PLOT_WIDTH, METRIC_PLOT_HEIGHT))
    if _numeric(low) or _numeric(high):
        band_top = value_y(high, scale) if _numeric(high) else METRIC_TOP
        band_bottom = value_y(low, scale) if _numeric(low) else bottom
        parts.append('<rect class="band" data-metric="%s" x="%d" y="%s" width="%d" height="%s"><title>%s</title></rect>'
                     % (escape(name), LEFT, number(band_top), PLOT_WIDTH, number(band_bottom - band_top),
                        escape("%s passes within [%s, %s]" % (name, "-inf" if low is None else low, "+inf" if high is None else high))))
    for bound, label in ((scale[1], "top"), (scale[0], "bottom")):
        parts.append('<text class="axis" x="%d" y="%s" text-anchor="end" data-edge="%s">%s</text>'
                     % (LEFT - 6, number(value_y(bound, scale) + (8 if label == "top" else 0)), label, number(bound)))
    measured = [(x, metric) for x, metric in present if _numeric(metric.get("value"))]
    if len(measured) > 1:
        parts.append('<polyline class="values" points="%s"/>'
                     % _points([(x, value_y(metric["value"], scale)) for x, metric in measured]))
    for x, metric in present:
        status = str(metric.get("status") or "unknown")
        shown = metric.get("value") if _numeric(metric.get("value")) else None
        y = value_y(shown, scale) if shown is not None else bottom
        css = "value status-%s%s" % (escape(status), "" if shown is not None else " missing")
        parts.append('<circle class="%s" cx="%s" cy="%s" r="3"><title>%s</title></circle>'
                     % (css, number(x), number(y), escape(metric.get("message") or status)))
    parts.extend(_time_labels(history, xs, bottom))
    parts.append("</svg>")
    return "".join(parts)
