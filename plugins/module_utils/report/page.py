# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The report page: one self-contained HTML file (inline CSS and SVG; no script, font, image or link).

Metric names and messages come from the user's settings and from metric sources' answers, so every text
is escaped; the page also forbids every script by its Content-Security-Policy, so a text that got through
still could not run.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import math
from html import escape

from ansible_collections.progressive.delivery.plugins.module_utils.report import svg

CONTENT_SECURITY_POLICY = "default-src 'none'; style-src 'unsafe-inline'"
SUMMARY_LABELS = (
    ("phase", "Phase"),
    ("reason", "Reason"),
    ("message", "Last event"),
    ("canary_weight", "Canary weight"),
    ("failed_checks", "Failed checks"),
    ("iterations", "Iterations"),
    ("started_at", "Started at"),
    ("last_transition_time", "Last transition"),
    ("last_applied_hash", "Analysed revision"),
    ("last_promoted_hash", "Promoted revision"),
)
STYLE = """
body{font-family:sans-serif;margin:24px;color:#1d2329;background:#fff}
h1{font-size:20px}h2{font-size:16px;margin-top:28px}
dl.summary{display:grid;grid-template-columns:max-content auto;gap:4px 16px}
dl.summary dt{font-weight:bold}dl.summary dd{margin:0}
.phase-Failed{color:#b00020}.phase-Succeeded{color:#1b7f3b}
svg.chart{display:block;margin:6px 0;font-size:11px}
svg .grid{stroke:#e3e6e8}svg .frame{fill:none;stroke:#c9ced2}svg .axis,svg .time{fill:#5b6570}
svg .weight{fill:none;stroke:#1f6feb;stroke-width:2}svg .point{fill:#1f6feb}
svg .band{fill:#2da44e;fill-opacity:.15;stroke:#2da44e;stroke-opacity:.4}
svg .values{fill:none;stroke:#57606a;stroke-width:1.5}
svg .status-pass{fill:#2da44e}svg .status-fail,svg .status-error{fill:#cf222e}svg .missing{fill:#9a6700}
svg .marker line{stroke-width:1.5;stroke-dasharray:4 3}
svg .marker-halt line{stroke:#9a6700}svg .marker-rollback line{stroke:#cf222e}svg .marker-promote line{stroke:#2da44e}
svg .marker text{font-weight:bold}
table{border-collapse:collapse;font-size:12px}th,td{border:1px solid #d0d7de;padding:3px 6px;text-align:left;vertical-align:top}
td.number{text-align:right;font-variant-numeric:tabular-nums}.message{color:#57606a}
tr.action-rollback{background:#ffebe9}tr.action-halt{background:#fff8c5}tr.action-promote{background:#dafbe1}
""".strip()


def text(value):
    """Any value as escaped text; an absent one as an empty cell."""
    return "" if value is None else escape(str(value))


def value_text(value):
    if isinstance(value, float):
        return "NaN" if math.isnan(value) else svg.number(value)
    return text(value)


def range_text(metric):
    threshold = metric.get("threshold_range")
    if threshold:
        low, high = threshold.get("min"), threshold.get("max")
        return "[%s, %s]" % ("-inf" if low is None else value_text(low), "+inf" if high is None else value_text(high))
    return text(metric.get("judgment"))


def _summary(summary):
    rows = []
    for key, label in SUMMARY_LABELS:
        value = summary.get(key)
        if value in (None, ""):
            continue
        css = ' class="phase-%s"' % text(value) if key == "phase" else ""
        rows.append('<dt>%s</dt><dd id="summary-%s"%s>%s</dd>' % (label, key.replace("_", "-"), css, text(value)))
    return '<dl class="summary">%s</dl>' % "".join(rows)


def _metric_cells(entry, names):
    by_name = dict((metric.get("name"), metric) for metric in entry.get("metrics") or [])
    cells = []
    for name in names:
        metric = by_name.get(name)
        if metric is None:
            cells.append('<td></td><td></td><td></td>')
            continue
        cells.append('<td class="number">%s</td><td>%s</td><td class="status-%s">%s<div class="message">%s</div></td>'
                     % (value_text(metric.get("value")), range_text(metric), text(metric.get("status")),
                        text(metric.get("status")), text(metric.get("message"))))
    return "".join(cells)


def _table(history, names):
    head = "<th>#</th><th>At</th><th>Weight</th><th>Phase</th><th>Action</th><th>Event</th>"
    head += "".join('<th>%s</th><th>%s range</th><th>%s status</th>' % (text(n), text(n), text(n)) for n in names)
    rows = []
    for index, entry in enumerate(history):
        event = text(entry.get("event"))
        if entry.get("reason"):
            event += '<div class="message">%s</div>' % text(entry["reason"])
        rows.append('<tr class="entry action-%s" data-index="%d"><td class="number">%d</td><td>%s</td><td class="number">%s</td>'
                    '<td>%s</td><td>%s</td><td>%s</td>%s</tr>'
                    % (text(entry.get("action")), index, index + 1, text(entry.get("at")), value_text(entry.get("weight")),
                       text(entry.get("phase")), text(entry.get("action")), event, _metric_cells(entry, names)))
    return '<table class="history"><thead><tr>%s</tr></thead><tbody>%s</tbody></table>' % (head, "".join(rows))


def render(data):
    """The HTML page of ``data`` (report.data.report_data)."""
    history, names = data["history"], data["metrics"]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta http-equiv="Content-Security-Policy" content="%s">' % escape(CONTENT_SECURITY_POLICY),
        "<title>Canary report %s</title>" % text(data["canary"]),
        "<style>%s</style></head><body>" % STYLE,
        "<h1>Canary report %s</h1>" % text(data["canary"]),
        _summary(data["summary"]),
        '<h2>Canary weight</h2>',
        svg.weight_chart(history),
    ]
    for name in names:
        parts.append('<h2 class="metric">%s</h2>' % text(name))
        parts.append(svg.metric_chart(name, history))
    parts.append("<h2>Intervals (%d)</h2>" % len(history))
    parts.append(_table(history, names))
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
