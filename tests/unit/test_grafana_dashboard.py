"""The Grafana dashboard shipped in files/grafana/: a dashboard's shape, every PromQL expression parsed by the real
``promtool`` (Debian ``prometheus``), and only metrics the collection pushes or Istio's standard ones named."""

import json
import os
import re
import shutil
import subprocess

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils import metrics_push as mp

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DASHBOARD = os.path.join(REPO, "files", "grafana", "progressive-delivery.json")

# Istio's standard metrics (https://istio.io/latest/docs/reference/config/metrics/), as Prometheus names them.
ISTIO_METRICS = {"istio_requests_total", "istio_request_duration_milliseconds_bucket", "istio_request_duration_milliseconds_sum",
                 "istio_request_duration_milliseconds_count", "istio_request_bytes_bucket", "istio_response_bytes_bucket",
                 "istio_tcp_sent_bytes_total", "istio_tcp_received_bytes_total", "istio_tcp_connections_opened_total",
                 "istio_tcp_connections_closed_total"}
# Values for Grafana's variables, so that each expression is the PromQL Prometheus would receive.
VARIABLES = {"namespace": "test", "canary": "podinfo", "primary": "podinfo-primary", "__rate_interval": "1m",
             "__interval": "15s", "__range": "1h", "datasource": "prometheus"}
# What may stand in an expression besides metric selectors: functions, aggregations, keywords.
PROMQL_WORDS = {"sum", "max", "min", "avg", "rate", "irate", "increase", "histogram_quantile", "by", "without", "on",
                "ignoring", "and", "or", "unless", "label_values", "count"}


def load():
    with open(DASHBOARD) as handle:
        return json.load(handle)


def substitute(expr):
    def value(match):
        name = match.group(1) or match.group(2)
        assert name in VARIABLES, "unknown dashboard variable $%s in %s" % (name, expr)
        return VARIABLES[name]
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", value, expr)


def expressions(dashboard):
    """Every PromQL expression: the panels' targets and the query variables' label_values() selectors."""
    found = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            found.append(("panel %s %s" % (panel["id"], target["refId"]), target["expr"]))
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]["query"]
            match = re.match(r"^label_values\((.*), *(\w+)\)$", query)
            assert match, query
            found.append(("variable %s" % variable["name"], match.group(1)))
    return found


def metric_names(expr):
    """The metric names of ``expr``: every word left once label matchers, ranges, grouping labels and PromQL's own
    words are taken out."""
    rest = re.sub(r"\{[^}]*\}", " ", expr)  # label matchers out
    rest = re.sub(r"\[[^\]]*\]", " ", rest)  # range durations out
    rest = re.sub(r"\b(by|without|on|ignoring) *\([^)]*\)", " ", rest)  # grouping label lists out
    return [word for word in re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", rest) if word not in PROMQL_WORDS]


def test_it_is_a_grafana_dashboard():
    dashboard = load()
    assert dashboard["uid"] == "progressive-delivery" and dashboard["title"]
    assert isinstance(dashboard["schemaVersion"], int) and dashboard["schemaVersion"] >= 36
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert panel["type"] and panel["title"] and set(panel["gridPos"]) == {"h", "w", "x", "y"}
        if panel["type"] != "row":
            assert panel["targets"], panel["title"]
            assert all(t["expr"] and t["refId"] for t in panel["targets"])
    names = [v["name"] for v in dashboard["templating"]["list"]]
    assert {"namespace", "canary", "primary"} <= set(names)


def test_the_panels_cover_the_canary_against_the_primary_and_the_rollouts_own_metrics():
    exprs = [expr for _where, expr in expressions(load())]
    joined = "\n".join(exprs)
    for workload in ("$canary", "$primary"):
        assert any("istio_requests_total" in e and 'destination_workload="%s"' % workload in e for e in exprs)
        assert any("istio_request_duration_milliseconds_bucket" in e and 'destination_workload="%s"' % workload in e
                   and "histogram_quantile(0.99" in e for e in exprs)
    for name in ("flagger_canary_status", "flagger_canary_weight", "flagger_canary_duration_seconds_sum", "flagger_canary_total"):
        assert name + "{" in joined, name


def test_only_pushed_or_istio_metrics_are_named():
    assert metric_names('max by (workload) (flagger_canary_weight{workload=~"a|b"}) / sum(rate(x_total[1m]))') == [
        "flagger_canary_weight", "x_total"]
    for where, expr in expressions(load()):
        for name in metric_names(substitute(expr)):
            assert name in set(mp.SERIES_NAMES) | ISTIO_METRICS, "%s names %s, which nothing exports" % (where, name)


def test_every_expression_parses_with_promtool(tmp_path):
    promtool = shutil.which("promtool")
    # Not a skip: the check is the point (scripts/bootstrap.sh installs Debian's prometheus, which has promtool).
    assert promtool, "promtool is not installed: run scripts/bootstrap.sh"
    found = expressions(load())
    # promtool parses each rule's expr with Prometheus' own parser; one recording rule per expression.
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": "dashboard:expr_%d" % i, "expr": substitute(expr)} for i, (_where, expr) in enumerate(found)]}]}
    path = tmp_path / "rules.json"  # JSON is YAML: promtool reads it
    path.write_text(json.dumps(rules))
    out = subprocess.run([promtool, "check", "rules", str(path)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stdout
    assert "SUCCESS: %d rules found" % len(found) in out.stdout, out.stdout


@pytest.mark.parametrize("broken", ["sum(rate(istio_requests_total{a=\"b\"}[1m])", "flagger_canary_status{name=}"])
def test_promtool_rejects_a_broken_expression(tmp_path, broken):
    # The check above can fail: promtool does reject what Prometheus would.
    path = tmp_path / "rules.json"
    path.write_text(json.dumps({"groups": [{"name": "x", "rules": [{"record": "x:y", "expr": broken}]}]}))
    out = subprocess.run(["promtool", "check", "rules", str(path)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60, check=False)
    assert out.returncode != 0, out.stdout
