"""The report's pure parts: its data, the SVG geometry, the HTML page and its escaping."""

import json
import re
from html.parser import HTMLParser

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils.report import data, page, svg

from tests.modules.report_sample import status


class Elements(HTMLParser):
    """Every start tag with its attributes, and every text, of a page."""

    def __init__(self):
        super().__init__()
        self.tags, self.texts = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.texts.append(data)

    def find(self, tag, css=None):
        return [attrs for name, attrs in self.tags if name == tag and (css is None or css in (attrs.get("class") or "").split())]


def parsed(text):
    elements = Elements()
    elements.feed(text)
    return elements


def points(attrs):
    return [tuple(float(c) for c in pair.split(",")) for pair in attrs["points"].split()]


def test_weights_map_to_y_from_the_bottom_to_the_top_of_the_plot():
    bottom, top = svg.WEIGHT_TOP + svg.WEIGHT_PLOT_HEIGHT, svg.WEIGHT_TOP
    assert svg.weight_y(0) == bottom
    assert svg.weight_y(100) == top
    assert svg.weight_y(50) == (top + bottom) / 2.0
    assert svg.weight_y(25) == bottom - svg.WEIGHT_PLOT_HEIGHT / 4.0
    assert svg.weight_y(None) == bottom and svg.weight_y(150) == top  # clamped


def test_x_follows_time_and_falls_back_to_even_spacing():
    history = status()["history"]  # 0, 1, 2, 4 minutes
    xs = svg.x_positions(history)
    assert xs[0] == svg.LEFT and xs[-1] == svg.LEFT + svg.PLOT_WIDTH
    assert xs[1] == pytest.approx(svg.LEFT + svg.PLOT_WIDTH / 4.0)
    assert xs[2] == pytest.approx(svg.LEFT + svg.PLOT_WIDTH / 2.0)
    no_times = [{"weight": 1}, {"weight": 2}, {"weight": 3}]
    assert svg.x_positions(no_times) == [svg.LEFT, svg.LEFT + svg.PLOT_WIDTH / 2.0, svg.LEFT + svg.PLOT_WIDTH]
    assert svg.x_positions([{"weight": 5}]) == [svg.LEFT + svg.PLOT_WIDTH / 2.0]
    assert svg.x_positions([]) == []


def test_the_weight_is_a_step_line_through_every_entry():
    history = status()["history"]
    chart = parsed(svg.weight_chart(history))
    (line,) = chart.find("polyline", "weight")
    xs = svg.x_positions(history)
    ys = [svg.weight_y(e["weight"]) for e in history]
    expected = [(xs[0], ys[0]), (xs[1], ys[0]), (xs[1], ys[1]), (xs[2], ys[1]), (xs[2], ys[2]), (xs[3], ys[2]), (xs[3], ys[3])]
    assert points(line) == [pytest.approx(p, abs=0.01) for p in expected]
    # a step line: every segment is horizontal or vertical
    got = points(line)
    assert all(a[0] == b[0] or a[1] == b[1] for a, b in zip(got, got[1:]))
    assert [c["data-weight"] for c in chart.find("circle", "point")] == ["10", "20", "20", "0"]


def test_markers_for_the_halt_and_the_rollback_at_their_x():
    history = status()["history"]
    svg_text = svg.weight_chart(history)
    xs = svg.x_positions(history)
    marks = re.findall(r'<g class="marker marker-(\w+)" data-index="(\d)"><line x1="([\d.]+)"', svg_text)
    assert [(kind, int(index)) for kind, index, _x in marks] == [("halt", 2), ("rollback", 3)]
    assert float(marks[1][2]) == pytest.approx(xs[3], abs=0.01)
    assert "marker-promote" not in svg_text
    promoted = [dict(history[0]), dict(history[1], action="promote")]
    assert 'class="marker marker-promote" data-index="1"' in svg.weight_chart(promoted)


def test_a_band_per_metric_between_its_bounds():
    history = status()["history"]
    # success rate: min 99 only, values 99.5 and 90: the band goes from the plot's top down to 99
    chart = parsed(svg.metric_chart("request-success-rate", history))
    (band,) = chart.find("rect", "band")
    scale = svg.value_scale([99.5, 99.5, 90.0, 90.0], 99, None)
    assert float(band["y"]) == svg.METRIC_TOP
    assert float(band["y"]) + float(band["height"]) == pytest.approx(svg.value_y(99, scale), abs=0.01)
    # duration: max 500 only: from 500 down to the plot's bottom
    chart = parsed(svg.metric_chart("request-duration", history))
    (band,) = chart.find("rect", "band")
    scale = svg.value_scale([420.0, 420.0], None, 500)
    assert float(band["y"]) == pytest.approx(svg.value_y(500, scale), abs=0.01)
    assert float(band["y"]) + float(band["height"]) == pytest.approx(svg.METRIC_TOP + svg.METRIC_PLOT_HEIGHT, abs=0.01)
    # a value missing (no data) is marked at the bottom, not left out
    assert len(chart.find("circle", "missing")) == 2 and len(chart.find("circle", "value")) == 4


def test_value_scale_holds_every_value_and_bound():
    bottom, top = svg.value_scale([90, 99.5], 99, None)
    assert bottom < 90 and top > 99.5
    assert svg.value_scale([], None, None) == (0.0, 1.0)
    bottom, top = svg.value_scale([5, 5], None, None)
    assert bottom < 5 < top
    assert svg.value_y(top, (bottom, top)) == svg.METRIC_TOP
    assert svg.value_y(bottom, (bottom, top)) == svg.METRIC_TOP + svg.METRIC_PLOT_HEIGHT


def test_a_metric_without_a_range_has_no_band():
    history = [{"at": "2026-01-02T03:00:00Z", "weight": 10, "action": "advance",
                "metrics": [{"name": "latency", "value": 1.2, "judgment": "High", "status": "fail", "message": ""}]}]
    assert parsed(svg.metric_chart("latency", history)).find("rect", "band") == []


def test_the_table_has_a_row_per_entry_with_its_numbers():
    text = page.render(data.report_data(status(), "podinfo", "test"))
    rows = re.findall(r'<tr class="entry action-(\w+)" data-index="(\d)">(.*?)</tr>', text)
    assert [(action, int(index)) for action, index, _weight in rows] == [("advance", 0), ("advance", 1), ("halt", 2), ("rollback", 3)]
    assert "<td>2026-01-02T03:04:00Z</td>" in rows[3][2]
    assert '<td class="number">99.5</td><td>[99, +inf]</td>' in rows[0][2]
    assert '<td class="number">420</td><td>[-inf, 500]</td>' in rows[0][2]
    assert 'id="summary-phase" class="phase-Failed">Failed' in text
    assert 'id="summary-reason">failed checks threshold reached 2 (request success rate 90.00% &lt; 99%)' in text


def test_every_text_is_escaped_and_no_script_can_run():
    hostile = status()
    hostile["history"][0]["metrics"] = [dict(hostile["history"][0]["metrics"][0], name='rate"><script>alert(1)</script>')]
    text = page.render(data.report_data(hostile, "podinfo", "test"))
    assert "<script" not in text
    assert "&lt;script&gt;document.title=&#x27;pwned&#x27;&lt;/script&gt;" in text  # the message is shown
    assert 'rate&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;' in text
    elements = parsed(text)
    assert not elements.find("script")
    assert any("<script>document.title='pwned'</script>" in t for t in elements.texts)  # read back as text
    (policy,) = [a for a in elements.find("meta") if a.get("http-equiv") == "Content-Security-Policy"]
    assert "default-src 'none'" in policy["content"]


def test_the_page_is_self_contained():
    text = page.render(data.report_data(status(), "podinfo", "test"))
    elements = parsed(text)
    assert not elements.find("link") and not elements.find("img") and not elements.find("script")
    assert not re.search(r'(src|href)=', text)
    assert "@import" not in text and "url(" not in text


def test_same_status_same_bytes():
    first = data.report_data(status(), "podinfo", "test")
    second = data.report_data(status(), "podinfo", "test")
    assert page.render(first) == page.render(second)
    assert data.to_json(first) == data.to_json(second)
    assert json.loads(data.to_json(first))["history"] == status()["history"]


def test_report_data_summary_and_metrics():
    got = data.report_data(status(), "podinfo", "test")
    assert got["canary"] == "podinfo.test"
    assert got["metrics"] == ["request-success-rate", "request-duration"]
    assert got["summary"]["phase"] == "Failed" and got["summary"]["failed_checks"] == 2
    assert data.report_data({}, "podinfo", "test")["history"] == []
    with pytest.raises(data.ReportError):
        data.report_data({"history": "x"}, "podinfo", "test")
    with pytest.raises(data.ReportError):
        data.report_data([], "podinfo", "test")


def test_an_empty_history_still_draws():
    text = page.render(data.report_data({"phase": "Initialized"}, "podinfo", "test"))
    assert "no history recorded" in text and "Intervals (0)" in text


def test_a_value_that_is_no_finite_number_is_drawn_as_missing():
    history = [{"at": "2026-01-02T03:0%d:00Z" % n, "weight": 10, "action": "advance",
                "metrics": [{"name": "m", "value": value, "threshold_range": {"min": 1, "max": None}, "status": "error"}]}
               for n, value in enumerate([float("nan"), float("inf"), 2.0])]
    chart = parsed(svg.metric_chart("m", history))
    assert len(chart.find("circle", "missing")) == 2 and len(chart.find("circle", "value")) == 3
    assert "NaN" in page.render(data.report_data({"history": history}, "podinfo", "test"))
