"""canary_notify against a real HTTP receiver on 127.0.0.1: severities, each provider's body as received,
a receiver that fails never failing the task, secrets never shown."""

import contextlib
import io
import json
import os
import subprocess
import sys

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.progressive.delivery.plugins.modules import canary_notify


def run(args, check=False):
    module_args = dict(args, target="podinfo", namespace="test", _ansible_check_mode=check)
    stdout = io.StringIO()
    with patch_module_args(module_args), contextlib.redirect_stdout(stdout):
        with pytest.raises(SystemExit):
            canary_notify.main()
    return json.loads(stdout.getvalue())


def test_each_event_reaches_the_alerts_of_its_severity(receiver):
    alerts = [{"name": "all", "provider": "slack", "url": receiver.url + "/200/0/all"},
              {"name": "halts", "provider": "msteams", "url": receiver.url + "/200/0/halts", "severity": "warn"},
              {"name": "pages", "provider": "discord", "url": receiver.url + "/204/0/pages", "severity": "error"}]
    info = run({"alerts": alerts, "text": "Advance podinfo.test canary weight 10"})
    assert info["delivered"] == ["all"] and info["skipped"] == ["halts", "pages"] and info["changed"] is True
    error = run({"alerts": alerts, "text": "Canary failed! Scaling down podinfo.test", "severity": "error", "phase": "Failed",
                 "fields": {"Failed checks": 2}})
    assert error["delivered"] == ["all", "halts", "pages"] and error["undelivered"] == []
    bodies = {r["path"].rsplit("/", 1)[1]: r["body"] for r in receiver.requests[1:]}
    assert bodies["all"]["attachments"][0]["color"] == "danger" and bodies["all"]["attachments"][0]["fields"] == [
        {"title": "Failed checks", "value": "2", "short": True}]
    assert bodies["halts"]["@type"] == "MessageCard" and bodies["halts"]["sections"][0]["facts"] == [{"name": "Failed checks", "value": "2"}]
    assert bodies["pages"]["embeds"][0]["description"] == "Canary failed! Scaling down podinfo.test"
    assert all(r["headers"]["Content-Type"] == "application/json" for r in receiver.requests)


def test_a_failing_receiver_never_fails_the_task(receiver):
    result = run({"alerts": [{"name": "down", "provider": "slack", "url": receiver.url + "/500"},
                             {"name": "slow", "provider": "generic", "url": receiver.url + "/200/3", "timeout": 0.5},
                             {"name": "ok", "provider": "gchat", "url": receiver.url + "/200"}],
                  "text": "Canary failed!", "severity": "error"})
    assert not result.get("failed"), result
    assert result["delivered"] == ["ok"]
    assert [(f["name"], f["status"]) for f in result["undelivered"]] == [("down", 500), ("slow", None)]
    assert result["undelivered"][1]["message"] == "no answer within the timeout of 0.5 s"
    # the warnings themselves are checked through ansible-playbook below (in-process, another test's module may take them)
    assert receiver.url not in json.dumps(result)


def test_check_mode_sends_nothing(receiver):
    result = run({"alerts": [{"name": "team", "provider": "slack", "url": receiver.url + "/200"}], "text": "x"}, check=True)
    assert result["would_deliver"] == ["team"] and result["delivered"] == [] and result["changed"] is False
    assert receiver.requests == []


@pytest.mark.parametrize("alerts, field, words", [
    ([{"name": "x", "provider": "slack", "url": "ftp://hooks/x"}], "alerts[0].url", "http:// or https://"),
    ([{"name": "x", "provider": "slack", "url": "http://127.0.0.1:9/"}, {"name": "x", "provider": "gchat", "url": "http://127.0.0.1:9/"}],
     "alerts[1].name", "used twice"),
])
def test_bad_input_names_the_field_and_sends_nothing(receiver, alerts, field, words):
    result = run({"alerts": alerts, "text": "x"})
    assert result["failed"] is True and result["field"] == field and words in result["msg"]
    assert receiver.requests == []


@pytest.mark.parametrize("alert, words", [
    ({"name": "x", "provider": "pager", "url": "http://127.0.0.1:9/"}, "pager"),
    ({"name": "x", "provider": "slack", "url": "http://127.0.0.1:9/", "severity": "critical"}, "critical"),
    ({"name": "x", "provider": "slack"}, "url"),
])
def test_choices_and_required_are_checked_by_ansible(alert, words):
    result = run({"alerts": [alert], "text": "x"})
    assert result["failed"] is True and words in result["msg"]


def test_the_webhook_url_never_appears_in_verbose_output(receiver, tmp_path):
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    secret_url = receiver.url + "/500/0/T000/B000/XXXXsecretXXXX"
    playbook = tmp_path / "notify.yml"
    playbook.write_text("""
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Alert a receiver that refuses
      progressive.delivery.canary_notify:
        target: podinfo
        namespace: test
        text: Canary failed!
        severity: error
        alerts:
          - name: team
            provider: slack
            url: "%s"
      register: sent
    - name: Show it
      ansible.builtin.debug:
        var: sent
""" % secret_url)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(repo, ".build", "collections"), ANSIBLE_PYTHON_INTERPRETER=sys.executable,
               ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_INVENTORY_UNPARSED_WARNING="false", ANSIBLE_NOCOLOR="1")
    out = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-vvv", str(playbook)], env=env, cwd=str(tmp_path),
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120).stdout
    assert "was not delivered: status 500" in out and receiver.requests, out
    assert "XXXXsecretXXXX" not in out and receiver.url not in out
