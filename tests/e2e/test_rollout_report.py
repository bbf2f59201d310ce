"""The report and the rollout's own metrics through the rollout role, on the session's lab (real kube-apiserver,
podinfo pods, Prometheus with constant queries): the history of every interval in the status, the report written at
the end of every run (HTML opened in headless Chromium, JSON compared with the weights the VirtualService really had),
a rollback's report, the status playbook writing it on demand, Flagger's metrics received by a real Pushgateway during
the run, and a Pushgateway that refuses connections or a report directory that cannot be written only warning.

One canary walks through every step (each canary's initialization costs ~30 s)."""

import json
import re
import socket
import threading
import time

import pytest

from tests.modules.test_canary_metrics_push import pushgateway, scrape  # noqa: F401 (a fixture)
from tests.modules.test_canary_report import Dom, chromium

pytestmark = pytest.mark.prometheus

FAILING = {"metrics": [{"name": "error-free", "query": "vector(50)", "threshold_range": {"min": 99}}]}


def lines(output):
    """The progress lines (debug output), not the error messages of failed tasks."""
    return re.findall(r'^    "msg": "(.*)"$', output, re.M)


def closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def report(canary, directory="report"):
    base = canary.tmp_path / directory
    data = json.loads((base / "podinfo-canary-report.json").read_text())
    return base / "podinfo-canary-report.html", data


def canary_weights(series, metric="flagger_canary_weight"):
    return [v for labels, v in series.get(metric, []) if labels.get("workload") == "podinfo"]


def watched_run(canary, gateway, **overrides):
    """Run the rollout while reading, every 0.1 s, the canary weight on the VirtualService and what the Pushgateway
    holds for the canary; returns (rc, output, weights seen on the VirtualService, (status, weight) seen pushed)."""
    process = canary.start(**overrides)
    output = []
    reader = threading.Thread(target=lambda: output.append(process.stdout.read()))
    reader.start()
    routed, pushed = [], []
    deadline = time.monotonic() + 300
    while process.poll() is None and time.monotonic() < deadline:
        weight = canary.weights().get("podinfo-canary")
        if not routed or routed[-1] != weight:
            routed.append(weight)
        series = scrape(gateway)
        status = [v for labels, v in series.get("flagger_canary_status", []) if labels.get("name") == "podinfo"]
        seen = (status[0] if status else None, (canary_weights(series) or [None])[0])
        if seen != (None, None) and (not pushed or pushed[-1] != seen):
            pushed.append(seen)
        time.sleep(0.1)
    process.wait(timeout=30)
    reader.join(timeout=30)
    return process.returncode, "".join(output), routed, pushed


def test_reports_and_metrics_of_a_promotion_a_rollback_and_on_demand(canary, pushgateway):  # noqa: F811
    name = "podinfo.%s" % canary.namespace
    push = {"url": pushgateway, "job": "e2e"}

    # 1. A promotion, watched from outside: the VirtualService's weights and the Pushgateway's series during the run.
    canary.release("6.0.1")
    rc, out, routed, pushed = watched_run(canary, pushgateway, rollout_metrics_push=push)
    assert rc == 0, out
    html, data = report(canary)
    history = data["history"]
    status = canary.status()
    assert status["phase"] == "Succeeded" and status["history"] == history
    # one entry per decision: the opening (first weight), each interval (the judge: advance, then promote), then the
    # completed promotion; their weights are the ones the VirtualService had, in order
    assert [(e["action"], e["weight"], e["phase"]) for e in history] == [
        ("advance", 50, "Progressing"), ("advance", 100, "Progressing"), ("promote", 100, "Progressing"), ("promoted", 0, "Succeeded")]
    assert status["iterations"] == 2  # two intervals judged after the opening
    assert routed[0] == 0 and routed[1:] == [50, 100, 0], routed
    assert [m["name"] for m in history[1]["metrics"]] == ["error-free"]
    assert history[1]["metrics"][0]["value"] == 100.0 and history[1]["metrics"][0]["threshold_range"] == {"min": 99, "max": None}
    assert history[0]["metrics"] == []  # the opening checks nothing (Flagger checks no metric at weight 0)
    assert history[0]["event"] == "Advance %s canary weight 50" % name
    assert all(re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", e["at"]) for e in history)
    assert [e["at"] for e in history] == sorted(e["at"] for e in history)
    # the report's path is the last thing the run prints
    assert lines(out)[-1] == "Report of %s: %s (4 history entries; data %s)" % (name, html, html.with_suffix(".json")), lines(out)[-3:]
    # the Pushgateway had the canary Progressing (0) at 50 and at 100 during the run, and Succeeded (1) at 0 after it
    assert (0, 50) in pushed and (0, 100) in pushed, pushed
    assert pushed[-1] == (1, 0), pushed
    final = scrape(pushgateway)
    assert [v for labels, v in final["flagger_canary_weight"] if labels["workload"] == "podinfo-primary"] == [100]
    assert all(labels["job"] == "e2e" and labels["namespace"] == canary.namespace for labels, _v in final["flagger_canary_status"])
    assert final["flagger_canary_duration_seconds_count"][0][1] == 1

    # the page in headless Chromium: the weight's step line through every entry, a point per entry, the promotion
    # marker at its interval, a table row per entry, the metric's band
    dom = Dom()
    dom.feed(chromium("--dump-dom", "file://%s" % html))
    (line,) = dom.find("polyline", "weight")
    assert len(line["points"].split()) == 2 * len(history) - 1
    assert [c["data-weight"] for c in dom.find("circle", "point")] == ["50", "100", "100", "0"]
    (marker,) = dom.find("g", "marker-promote")
    assert marker["data-index"] == "2"
    assert [r["data-index"] for r in dom.find("tr", "entry")] == ["0", "1", "2", "3"]
    assert [b["data-metric"] for b in dom.find("rect", "band")] == ["error-free"]
    assert "Succeeded" in dom.texts

    # 2. A rollback: its report holds this analysis only, the halt, the rollback and its reason
    canary.release("6.0.2")
    rc, out = canary.run(rollout_analysis=FAILING, rollout_metrics_push=push)
    assert rc != 0 and "was rolled back" in out, out
    html, data = report(canary)
    history = data["history"]
    assert [(e["action"], e["weight"]) for e in history] == [("advance", 50), ("halt", 50), ("rollback", 0)], history
    reason = canary.status()["reason"]
    assert reason.startswith("failed checks threshold reached 2") and "50.00" in reason, reason
    assert history[-1]["reason"] == reason and history[-1]["phase"] == "Failed"
    assert history[-1]["metrics"][0]["value"] == 50.0 and history[-1]["metrics"][0]["status"] == "fail"
    assert data["summary"]["phase"] == "Failed" and data["summary"]["reason"] == reason
    assert lines(out)[-1].startswith("Report of %s: %s (3 history entries" % (name, html)), lines(out)[-3:]
    dom = Dom()
    dom.feed(chromium("--dump-dom", "file://%s" % html))
    (marker,) = dom.find("g", "marker-rollback")
    assert marker["data-index"] == "2"
    assert len(dom.find("g", "marker-halt")) == 1
    assert any(reason in text for text in dom.texts)
    series = scrape(pushgateway)
    assert [v for labels, v in series["flagger_canary_status"] if labels["name"] == "podinfo"] == [2]  # Failed
    assert canary_weights(series) == [0]

    # 3. A Pushgateway that refuses connections only warns: the rollout promotes
    canary.release("6.0.3")
    refused = "http://127.0.0.1:%d" % closed_port()
    rc, out = canary.run(rollout_metrics_push={"url": refused, "timeout": 2})
    assert rc == 0, out
    assert canary.status()["phase"] == "Succeeded" and canary.image("podinfo-primary").endswith(":6.0.3")
    said = " ".join(out.split())
    assert "the rollout's metrics were not pushed to %s/metrics/job/progressive-delivery/namespace/%s/name/podinfo" % (
        refused, canary.namespace) in said, out

    # 4. The status playbook writes the report on demand - and only then; a directory it cannot write only warns
    blocker = canary.tmp_path / "blocker"
    blocker.write_text("a file, not a directory")
    rc, out = canary.run("status", rollout_report_dir=str(canary.tmp_path / "on-demand"))
    assert rc == 0, out
    assert not (canary.tmp_path / "on-demand").exists() and "Report of" not in out
    rc, out = canary.run("status", rollout_status_report=True, rollout_report_dir=str(canary.tmp_path / "on-demand"))
    assert rc == 0, out
    html, data = report(canary, "on-demand")
    assert data["summary"]["phase"] == "Succeeded"
    assert [e["action"] for e in data["history"]] == ["advance", "advance", "promote", "promoted"]
    assert data == report(canary)[1]  # the same status, the same report as the rollout's own
    assert lines(out)[-1] == "Report of %s: %s (4 history entries; data %s)" % (name, html, html.with_suffix(".json"))
    rc, out = canary.run("status", rollout_status_report=True, rollout_report_dir=str(blocker))
    assert rc == 0, out
    said = " ".join(out.split())
    assert "the report of %s was not written" % name in said and "is not a directory" in said, out
    assert "Report of" not in out

    # 5. Bad settings fail the run before anything is written, naming the variable
    before = canary.status()
    canary.release("6.0.4")
    for overrides, message in [
        ({"rollout_metrics_push": {"url": "pushgateway:9091"}}, "rollout_metrics_push.url must be an http:// or https:// URL"),
        ({"rollout_metrics_push": {"url": pushgateway, "password": "x"}}, "rollout_metrics_push.password is not an option"),
    ]:
        rc, out = canary.run(**overrides)
        assert rc != 0 and message in out, out
        assert canary.status() == before
