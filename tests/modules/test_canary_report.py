"""canary_report: the files it writes (check mode, idempotence), the page as headless Chromium renders it,
and the status read from the lab's real Kubernetes API server."""

import json
import os
import shutil
import subprocess
import tempfile
from html.parser import HTMLParser

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils.report import svg
from ansible_collections.progressive.delivery.plugins.modules import canary_report

from tests.modules.cluster.harness import run_module
from tests.modules.report_sample import status

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def args(dest, **kwargs):
    # A kubeconfig that does not exist: with the status option the module must not connect at all.
    values = {"target": "podinfo", "namespace": "test", "dest": str(dest), "status": status(),
              "kubeconfig": "/nonexistent/kubeconfig"}
    values.update(kwargs)
    return values


def test_check_mode_writes_nothing_and_says_what_it_would_write(tmp_path):
    dest = tmp_path / "reports"
    result = run_module(canary_report, args(dest), check=True, diff=True)
    assert not result.get("failed"), result
    assert result["changed"] is True
    assert result["written"] == [str(dest / "podinfo-canary-report.html"), str(dest / "podinfo-canary-report.json")]
    assert result["msg"].startswith("would write ")
    assert result["entries"] == 4
    assert json.loads(result["diff"]["after"])["history"] == status()["history"] and result["diff"]["before"] == ""
    assert not dest.exists()


def test_writes_then_is_idempotent(tmp_path):
    dest = tmp_path / "reports"
    first = run_module(canary_report, args(dest), check=False, diff=False)
    assert first["changed"] is True, first
    html, data = dest / "podinfo-canary-report.html", dest / "podinfo-canary-report.json"
    assert first["html"] == str(html) and first["json"] == str(data)
    assert json.loads(data.read_text())["summary"]["phase"] == "Failed"
    before = (html.read_bytes(), data.read_bytes(), os.stat(html).st_mtime_ns)

    again = run_module(canary_report, args(dest), check=False, diff=False)
    assert again["changed"] is False and again["written"] == [] and again["msg"] == "the report is up to date"
    assert (html.read_bytes(), data.read_bytes(), os.stat(html).st_mtime_ns) == before
    assert run_module(canary_report, args(dest), check=True)["changed"] is False

    changed = status()
    changed["history"] = changed["history"][:3]
    third = run_module(canary_report, args(dest, status=changed), check=False)
    assert third["changed"] is True and third["entries"] == 3
    assert len(json.loads(data.read_text())["history"]) == 3


def test_dest_that_is_a_file_is_refused(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = run_module(canary_report, args(blocker), check=False)
    assert result["failed"] is True and "is not a directory" in result["msg"]


def test_a_status_that_is_not_one_is_refused(tmp_path):
    result = run_module(canary_report, args(tmp_path, status={"history": "advance"}), check=False)
    assert result["failed"] is True and "history" in result["msg"]
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------------
# The page in a real browser


def chromium(*flags):
    """Run headless Chromium; a missing browser fails the test (scripts/bootstrap.sh installs it), never skips it."""
    assert CHROMIUM, "chromium is not installed: run scripts/bootstrap.sh"
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    try:
        done = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                               "--no-first-run", "--user-data-dir=%s" % profile] + list(flags),
                              capture_output=True, timeout=120, check=False)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
    return done.stdout.decode("utf-8")


class Dom(HTMLParser):
    """The rendered DOM: every start tag with its attributes, the texts, the title."""

    def __init__(self):
        super().__init__()
        self.tags, self.texts, self._in_title, self.title = [], [], False, ""

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_title = tag == "title" and not any(t == "svg" for t, _a in self.tags[:-1])

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        self._in_title = False

    def handle_data(self, text):
        self.texts.append(text)
        if self._in_title and not self.title:
            self.title = text

    def find(self, tag, css=None):
        return [a for t, a in self.tags if t == tag and (css is None or css in (a.get("class") or "").split())]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    dest = tmp_path_factory.mktemp("report")
    result = run_module(canary_report, args(dest), check=False)
    assert result["changed"] is True, result
    url = "file://" + result["html"]
    dom = Dom()
    dom.feed(chromium("--dump-dom", url))
    return dest, result, dom, url


def test_chromium_draws_the_weight_as_a_step_line(rendered):
    _dest, _result, dom, _url = rendered
    (line,) = dom.find("polyline", "weight")
    got = [tuple(float(c) for c in pair.split(",")) for pair in line["points"].split()]
    history = status()["history"]
    assert [y for _x, y in got[::2]] == [pytest.approx(svg.weight_y(e["weight"]), abs=0.01) for e in history]
    assert [c["data-weight"] for c in dom.find("circle", "point")] == ["10", "20", "20", "0"]


def test_chromium_shows_a_band_per_metric_and_the_markers(rendered):
    _dest, _result, dom, _url = rendered
    bands = dom.find("rect", "band")
    assert sorted(b["data-metric"] for b in bands) == ["request-duration", "request-success-rate"]
    assert len(dom.find("svg", "metric-chart")) == 2
    (rollback,) = dom.find("g", "marker-rollback")
    (halt,) = dom.find("g", "marker-halt")
    assert rollback["data-index"] == "3" and halt["data-index"] == "2"
    lines = [a for t, a in dom.tags if t == "line" and "x1" in a and a.get("class") is None]
    xs = svg.x_positions(status()["history"])
    # the rollback happened at 03:04, the last entry: the right edge of the plot; the halt at 03:02, the middle
    assert [float(a["x1"]) for a in lines] == [pytest.approx(xs[2], abs=0.01), pytest.approx(xs[3], abs=0.01)]
    assert float(lines[1]["x1"]) == pytest.approx(svg.LEFT + svg.PLOT_WIDTH, abs=0.01)


def test_chromium_table_rows_match_the_history(rendered):
    _dest, _result, dom, _url = rendered
    rows = dom.find("tr", "entry")
    assert [r["data-index"] for r in rows] == ["0", "1", "2", "3"]
    assert [r["class"].split()[1] for r in rows] == ["action-" + e["action"] for e in status()["history"]]
    for entry in status()["history"]:
        assert entry["at"] in dom.texts and entry["event"] in dom.texts


def test_chromium_shows_the_hostile_message_and_runs_nothing(rendered):
    _dest, _result, dom, _url = rendered
    assert dom.title == "Canary report podinfo.test"  # the message's script would have renamed the page
    assert not dom.find("script")
    assert any("<script>document.title='pwned'</script>" in text for text in dom.texts)


def test_chromium_screenshot_is_not_empty(rendered, tmp_path):
    _dest, result, _dom, url = rendered
    shot = tmp_path / "report.png"
    chromium("--screenshot=%s" % shot, "--window-size=1000,1400", "--hide-scrollbars", url)
    content = shot.read_bytes()
    assert content[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(content) > 10000  # a blank page of that size compresses to a few hundred bytes


# ---------------------------------------------------------------------------------------------
# The status read from the lab's real API server


@pytest.mark.lab
def test_reads_the_status_recorded_by_canary_state(cluster, tmp_path):
    from ansible_collections.progressive.delivery.plugins.modules import canary_state

    target = {"kubeconfig": str(cluster.kubeconfig), "target": "podinfo", "namespace": cluster.namespace}
    missing = run_module(canary_report, dict(target, dest=str(tmp_path / "none")), check=False)
    assert missing["failed"] is True and "has no rollout status" in missing["msg"]
    assert not (tmp_path / "none").exists()

    # canary_state sets last_transition_time itself and refuses it in a patch
    patch = dict((key, value) for key, value in status().items() if key != "last_transition_time")
    recorded = run_module(canary_state, dict(target, status=patch), check=False)
    assert recorded["changed"] is True, recorded  # the history is a status field canary_state accepts
    from_cluster = run_module(canary_report, dict(target, dest=str(tmp_path / "cluster")), check=False)
    assert from_cluster["changed"] is True and from_cluster["entries"] == 4, from_cluster
    from_option = run_module(canary_report, dict(target, dest=str(tmp_path / "option"), status=recorded["status"]), check=False)
    # the stored status also carries last_transition_time set by canary_state; both reports hold the same bytes
    for name in ("podinfo-canary-report.html", "podinfo-canary-report.json"):
        assert (tmp_path / "cluster" / name).read_bytes() == (tmp_path / "option" / name).read_bytes()
    assert json.loads((tmp_path / "cluster" / "podinfo-canary-report.json").read_text())["history"] == status()["history"]


def test_without_fail_on_error_a_report_that_cannot_be_written_is_a_warning(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = run_module(canary_report, args(blocker, fail_on_error=False), check=False)
    assert not result.get("failed") and result["changed"] is False and result["written"] == [], result
    assert "is not a directory" in result["error"]
    # (the warning itself is checked through ansible-playbook: tests/e2e/test_rollout_report.py)
    assert result["error"].startswith("the report of podinfo.test was not written")
    unreadable = run_module(canary_report, args(tmp_path, status={"history": "advance"}, fail_on_error=False), check=False)
    assert not unreadable.get("failed") and "history" in unreadable["error"]
