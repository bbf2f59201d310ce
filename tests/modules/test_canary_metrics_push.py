"""canary_metrics_push against a real Prometheus Pushgateway (the Debian ``prometheus-pushgateway`` binary) on
127.0.0.1: what it holds after a push (names, labels, values), a push replacing the previous one, one group per
canary, a phase change, an unreachable gateway warning (failing with fail_on_error), secrets never shown."""

import contextlib
import io
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.progressive.delivery.plugins.modules import canary_metrics_push

BINARY = "prometheus-pushgateway"


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def pushgateway(tmp_path):
    """One real Pushgateway per test, in memory only (no persistence file), on a free port."""
    binary = shutil.which(BINARY)
    # Not a skip: without the binary this suite would prove nothing (scripts/bootstrap.sh installs it).
    assert binary, "%s is not installed: run scripts/bootstrap.sh (apt-get install prometheus-pushgateway)" % BINARY
    port = _free_port()
    url = "http://127.0.0.1:%d" % port
    log = open(str(tmp_path / "pushgateway.log"), "w")
    process = subprocess.Popen([binary, "--web.listen-address=127.0.0.1:%d" % port, "--persistence.file="],
                               stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while True:
        try:
            with urllib.request.urlopen(url + "/-/ready", timeout=1) as answer:
                if answer.status == 200:
                    break
        except OSError:
            pass
        assert process.poll() is None and time.monotonic() < deadline, (tmp_path / "pushgateway.log").read_text()
        time.sleep(0.1)
    yield url
    process.terminate()
    process.wait(10)
    log.close()


_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def scrape(url):
    """The Pushgateway's /metrics as ``{name: [(labels, value)]}`` for the flagger_* series."""
    with urllib.request.urlopen(url + "/metrics", timeout=5) as answer:
        text = answer.read().decode()
    series = {}
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(("flagger_", "push_time_seconds")):
            continue
        match = _SAMPLE.match(line)
        assert match, line
        labels = dict(_LABEL.findall(match.group(2) or ""))
        series.setdefault(match.group(1), []).append((labels, float(match.group(3))))
    return series


def value(series, metric, **labels):
    found = [v for got, v in series.get(metric, []) if all(got.get(k) == w for k, w in labels.items())]
    assert len(found) == 1, (metric, labels, series.get(metric))
    return found[0]


def run(args, check=False):
    stdout = io.StringIO()
    with patch_module_args(dict(args, _ansible_check_mode=check)), contextlib.redirect_stdout(stdout):
        with pytest.raises(SystemExit):
            canary_metrics_push.main()
    return json.loads(stdout.getvalue())


def test_a_push_holds_flaggers_series_in_the_canarys_group(pushgateway):
    result = run({"url": pushgateway, "target": "podinfo", "namespace": "test", "phase": "Progressing",
                  "canary_weight": 20, "duration_seconds": 42.5, "canary_total": 2})
    assert not result.get("failed"), result
    assert result["pushed"] is True and result["changed"] is True and result["status"] in (200, 202)
    assert result["url"] == pushgateway + "/metrics/job/progressive-delivery/namespace/test/name/podinfo"
    got = scrape(pushgateway)
    group = dict(job="progressive-delivery", namespace="test", name="podinfo")
    assert value(got, "flagger_canary_status", **group) == 0
    assert value(got, "flagger_canary_weight", workload="podinfo-primary", **group) == 80
    assert value(got, "flagger_canary_weight", workload="podinfo", **group) == 20
    assert value(got, "flagger_canary_duration_seconds_sum", **group) == 42.5
    assert value(got, "flagger_canary_duration_seconds_count", **group) == 1
    assert value(got, "flagger_canary_duration_seconds_bucket", le="10", **group) == 0
    assert value(got, "flagger_canary_duration_seconds_bucket", le="+Inf", **group) == 1
    assert value(got, "flagger_canary_total", **group) == 2
    assert set(got) >= {"flagger_canary_status", "flagger_canary_weight", "flagger_canary_duration_seconds_bucket",
                        "flagger_canary_duration_seconds_sum", "flagger_canary_duration_seconds_count", "flagger_canary_total"}


def test_a_second_push_replaces_the_first_and_a_phase_change_shows(pushgateway):
    args = {"url": pushgateway, "target": "podinfo", "namespace": "test", "canary_weight": 40, "duration_seconds": 100}
    assert run(dict(args, phase="Progressing"))["pushed"]
    # PUT replaces the whole group: a push without the weight leaves no weight series behind
    assert run(dict(args, phase="Failed", canary_weight=None, duration_seconds=130))["pushed"]
    got = scrape(pushgateway)
    assert value(got, "flagger_canary_status", name="podinfo") == 2
    assert "flagger_canary_weight" not in got
    assert value(got, "flagger_canary_duration_seconds_sum", name="podinfo") == 130
    assert len(got["push_time_seconds"]) == 1
    assert run(dict(args, phase="Succeeded", canary_weight=0))["pushed"]
    got = scrape(pushgateway)
    assert value(got, "flagger_canary_status", name="podinfo") == 1
    assert value(got, "flagger_canary_weight", workload="podinfo-primary") == 100


def test_two_canaries_keep_separate_groups(pushgateway):
    assert run({"url": pushgateway, "target": "podinfo", "namespace": "test", "phase": "Progressing", "canary_weight": 10})["pushed"]
    assert run({"url": pushgateway, "target": "backend", "namespace": "test", "phase": "Failed", "canary_weight": 0})["pushed"]
    assert run({"url": pushgateway, "target": "podinfo", "namespace": "prod", "phase": "Succeeded", "canary_weight": 0})["pushed"]
    got = scrape(pushgateway)
    assert value(got, "flagger_canary_status", name="podinfo", namespace="test") == 0
    assert value(got, "flagger_canary_status", name="backend", namespace="test") == 2
    assert value(got, "flagger_canary_status", name="podinfo", namespace="prod") == 1
    assert value(got, "flagger_canary_weight", workload="podinfo", namespace="test") == 10
    assert len(got["push_time_seconds"]) == 3


def test_started_at_gives_the_duration(pushgateway):
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 120))
    result = run({"url": pushgateway, "target": "podinfo", "namespace": "test", "phase": "Progressing", "started_at": started})
    assert 119 <= result["duration_seconds"] <= 130, result
    assert 119 <= value(scrape(pushgateway), "flagger_canary_duration_seconds_sum", name="podinfo") <= 130


def test_check_mode_renders_and_pushes_nothing(pushgateway):
    result = run({"url": pushgateway, "target": "podinfo", "namespace": "test", "phase": "Progressing", "canary_weight": 5},
                 check=True)
    assert result["pushed"] is False and result["changed"] is False and result["status"] is None
    assert 'flagger_canary_weight{workload="podinfo",namespace="test"} 5' in result["text"]
    assert "flagger_canary_status" not in scrape(pushgateway)


def test_an_unreachable_gateway_warns_and_fails_only_with_fail_on_error():
    dead = "http://127.0.0.1:%d" % _free_port()
    args = {"url": dead, "target": "podinfo", "namespace": "test", "phase": "Progressing"}
    result = run(args)
    assert not result.get("failed") and result["pushed"] is False and result["changed"] is False
    assert "connection refused" in result["error"] and dead + "/metrics/job/" in result["error"]
    failed = run(dict(args, fail_on_error=True))
    assert failed["failed"] is True and "connection refused" in failed["msg"]


def test_a_refused_push_quotes_the_status_and_the_answer(pushgateway):
    # The Pushgateway rejects a job path without a job value (404) - a real error answer.
    result = run({"url": pushgateway + "/nothing-here", "target": "podinfo", "namespace": "test", "phase": "Progressing",
                  "fail_on_error": True})
    assert result["failed"] is True and "status 404" in result["msg"], result


def test_bad_options_fail_before_pushing(pushgateway):
    result = run({"url": pushgateway, "target": "podinfo", "namespace": "test", "phase": "Progressing", "canary_weight": 120})
    assert result["failed"] is True and result["field"] == "canary_weight" and "nothing was pushed" in result["msg"]
    result = run({"url": pushgateway, "target": "podinfo", "namespace": "test", "phase": "Running"})
    assert result["failed"] is True and "Running" in result["msg"]
    assert "flagger_canary_status" not in scrape(pushgateway)


def test_secrets_never_appear_in_verbose_output(pushgateway, tmp_path):
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    dead = "http://127.0.0.1:%d" % _free_port()
    playbook = tmp_path / "push.yml"
    playbook.write_text("""
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Push with a bearer token
      progressive.delivery.canary_metrics_push:
        url: "%s"
        target: podinfo
        namespace: test
        phase: Progressing
        canary_weight: 30
        bearer_token: XXXXtokenXXXX
      register: pushed
    - name: Push with basic auth to a gateway that is down
      progressive.delivery.canary_metrics_push:
        url: "%s"
        target: podinfo
        namespace: test
        phase: Progressing
        url_username: rollout
        url_password: XXXXpasswordXXXX
      register: down
    - name: Show them
      ansible.builtin.debug:
        var: item
      loop: ["{{ pushed }}", "{{ down }}"]
""" % (pushgateway, dead))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(repo, ".build", "collections"), ANSIBLE_PYTHON_INTERPRETER=sys.executable,
               ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_INVENTORY_UNPARSED_WARNING="false", ANSIBLE_NOCOLOR="1")
    out = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-vvv", str(playbook)], env=env,
                         cwd=str(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120).stdout
    assert "failed=0" in out and "metrics were not pushed" in out, out
    assert value(scrape(pushgateway), "flagger_canary_weight", workload="podinfo") == 30
    assert "XXXXtokenXXXX" not in out and "XXXXpasswordXXXX" not in out
