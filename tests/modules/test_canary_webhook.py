"""canary_webhook against real HTTP receivers on 127.0.0.1: a recording server of our own (every status,
timeouts, retries, secrets) and Flagger's own load tester (its gate and rollback API, its command runner)."""

import contextlib
import io
import json
import os
import socket
import subprocess
import time

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.progressive.delivery.plugins.modules import canary_webhook

TOKEN = "tok-9f8e7d6c5b4a"
API_KEY = "key-0a1b2c3d4e5f"


def run(args, check=False):
    module_args = dict(args, target="podinfo", namespace="test", _ansible_check_mode=check)
    stdout = io.StringIO()
    with patch_module_args(module_args), contextlib.redirect_stdout(stdout):
        with pytest.raises(SystemExit):
            canary_webhook.main()
    return json.loads(stdout.getvalue())


def test_payload_headers_and_status_rule(receiver):
    hooks = [{"name": "ok", "type": "rollout", "url": receiver.url + "/202", "metadata": {"cmd": "hey -z 10s"}, "bearer_token": TOKEN,
              "headers": {"X-Api-Key": API_KEY}},
             {"name": "no-content", "type": "rollout", "url": receiver.url + "/204"},
             {"name": "not-now", "type": "pre-rollout", "url": receiver.url + "/200"}]
    result = run({"webhooks": hooks, "type": "rollout", "phase": "Progressing", "checksum": "7d9c"})
    assert not result.get("failed"), result
    assert [h["name"] for h in result["hooks"]] == ["ok", "no-content"]  # only the hooks of the type asked for
    assert [r["path"] for r in receiver.requests] == ["/202", "/204"]
    first = receiver.requests[0]
    assert first["body"] == {"name": "podinfo", "namespace": "test", "phase": "Progressing", "checksum": "7d9c", "metadata": {"cmd": "hey -z 10s"}}
    assert first["headers"]["Authorization"] == "Bearer " + TOKEN and first["headers"]["X-Api-Key"] == API_KEY
    assert first["headers"]["Content-Type"] == "application/json"
    # Flagger: a status above 202 fails, 204 included
    assert [h["passed"] for h in result["hooks"]] == [True, False] and result["passed"] is False
    assert result["failed_hooks"] == ["no-content"] and result["hooks"][1]["status"] == 204
    assert result["message"].startswith("Halt podinfo.test advancement external check no-content failed status 204")
    assert TOKEN not in json.dumps(result) and API_KEY not in json.dumps(result)
    assert result["changed"] is False


def test_a_500_with_a_body_is_the_reason_with_secrets_redacted(receiver):
    hooks = [{"name": "acceptance", "type": "pre-rollout", "url": receiver.url + "/500", "bearer_token": TOKEN}]
    result = run({"webhooks": hooks, "type": "pre-rollout"})
    [hook] = result["hooks"]
    assert hook["status"] == 500 and hook["passed"] is False
    assert hook["message"] == "status 500: refused: the token Bearer ******** is not allowed here"
    assert result["message"] == "Halt podinfo.test advancement pre-rollout check acceptance failed status 500: refused: the token Bearer ******** is not allowed here"
    assert TOKEN not in json.dumps(result)


def test_timeout_and_retries(receiver):
    started = time.monotonic()
    result = run({"webhooks": [{"name": "slow", "type": "confirm-rollout", "url": receiver.url + "/200/3", "timeout": "500ms", "retries": 1}],
                  "type": "confirm-rollout"})
    elapsed = time.monotonic() - started
    [hook] = result["hooks"]
    assert hook["passed"] is False and hook["status"] is None and hook["attempts"] == 2
    assert hook["message"] == "no answer within the timeout of 0.5 s"
    assert result["message"] == "Halt podinfo.test advancement waiting for approval slow"
    assert elapsed < 2.9  # two 0.5 s attempts and the 1 s pause, never the receiver's 3 s
    assert len(receiver.requests) == 2


def test_retries_stop_at_the_first_pass(receiver):
    result = run({"webhooks": [{"name": "ok", "url": receiver.url + "/200", "retries": 3}], "type": "rollout"})
    assert result["hooks"][0]["attempts"] == 1 and result["passed"] is True and len(receiver.requests) == 1


def test_connection_refused_is_a_failed_hook_not_a_crash():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = run({"webhooks": [{"name": "gone", "type": "confirm-promotion", "url": "http://127.0.0.1:%d/" % port}], "type": "confirm-promotion"})
    assert not result.get("failed"), result
    assert result["passed"] is False and result["hooks"][0]["message"] == "connection refused by the receiver"


def test_event_hook_carries_the_event(receiver):
    result = run({"webhooks": [{"name": "chat", "type": "event", "url": receiver.url + "/200"}], "type": "event",
                  "phase": "Failed", "event": {"text": "Canary failed! Scaling down podinfo.test", "type": "Warning"}})
    assert result["passed"] is True
    metadata = receiver.requests[0]["body"]["metadata"]
    assert metadata["eventMessage"] == "Canary failed! Scaling down podinfo.test" and metadata["eventType"] == "Warning"
    assert abs(int(metadata["timestamp"]) - time.time() * 1000) < 60000


def test_check_mode_calls_nothing(receiver):
    result = run({"webhooks": [{"name": "load", "url": receiver.url + "/500"}], "type": "rollout"}, check=True)
    assert result["passed"] is True and result["hooks"][0]["called"] is False and receiver.requests == []


@pytest.mark.parametrize("webhooks, kind, field, words", [
    ([{"name": "x", "url": "ftp://host/"}], "rollout", "webhooks[0].url", "must be an http:// or https:// URL"),
    ([{"name": "x", "url": "http://127.0.0.1:9/", "timeout": 0}], "rollout", "webhooks[0].timeout", "more than 0 seconds"),
    ([{"name": "x", "url": "http://127.0.0.1:9/"}, {"name": "x", "url": "http://127.0.0.1:9/"}], "rollout", "webhooks[1].name", "used twice"),
    ([{"name": "x", "url": "http://127.0.0.1:9/", "type": "event"}], "event", "event", "event is required"),
])
def test_bad_input_names_the_field_and_posts_nothing(receiver, webhooks, kind, field, words):
    result = run({"webhooks": webhooks, "type": kind})
    assert result["failed"] is True and result["field"] == field and words in result["msg"], result
    assert receiver.requests == []


def test_an_unknown_type_is_refused_by_its_choices():
    result = run({"webhooks": [{"name": "x", "url": "http://127.0.0.1:9/", "type": "pre-flight"}], "type": "rollout"})
    assert result["failed"] is True and "pre-flight" in result["msg"] and "confirm-rollout" in result["msg"]


# Flagger's own load tester -------------------------------------------------------------------------

def _loadtester_binary():
    cache = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "progressive-delivery")
    with open(os.path.join(cache, "lab-binaries.json")) as handle:
        manifest = json.load(handle)
    binary = manifest["binaries"].get("loadtester")
    assert binary, "scripts/build_lab_binaries.sh did not build Flagger's load tester: %s" % manifest.get("errors")
    return binary


@pytest.fixture(scope="module")
def loadtester(tmp_path_factory):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = open(tmp_path_factory.mktemp("loadtester") / "loadtester.log", "w")
    process = subprocess.Popen([_loadtester_binary(), "-port", str(port), "-log-level", "info", "-timeout", "30s"],
                               stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 15
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            assert time.monotonic() < deadline and process.poll() is None, "the load tester did not start"
            time.sleep(0.1)
    yield "http://127.0.0.1:%d" % port
    process.terminate()
    process.wait(timeout=10)
    log.close()


def test_flagger_load_tester_gate_holds_until_approved(loadtester):
    gate = [{"name": "promotion-gate", "type": "confirm-promotion", "url": loadtester + "/gate/check"}]
    closed = run({"webhooks": gate, "type": "confirm-promotion"})
    assert closed["passed"] is False and closed["hooks"][0]["status"] == 403
    assert closed["message"] == "Halt podinfo.test advancement waiting for promotion approval promotion-gate"
    opened = run({"webhooks": [{"name": "open", "type": "rollout", "url": loadtester + "/gate/open"}], "type": "rollout"})
    assert opened["passed"] is True
    assert run({"webhooks": gate, "type": "confirm-promotion"})["passed"] is True
    run({"webhooks": [{"name": "close", "type": "rollout", "url": loadtester + "/gate/close"}], "type": "rollout"})
    assert run({"webhooks": gate, "type": "confirm-promotion"})["passed"] is False


def test_flagger_load_tester_rollback_endpoint(loadtester):
    hook = [{"name": "rollback", "type": "rollback", "url": loadtester + "/rollback/check"}]
    assert run({"webhooks": hook, "type": "rollback"})["rollback"] is False
    run({"webhooks": [{"name": "ask", "type": "rollout", "url": loadtester + "/rollback/open"}], "type": "rollout"})
    asked = run({"webhooks": hook, "type": "rollback"})
    assert asked["rollback"] is True and asked["message"] == "Rolling back podinfo.test manual webhook invoked"
    run({"webhooks": [{"name": "done", "type": "rollout", "url": loadtester + "/rollback/close"}], "type": "rollout"})


def test_flagger_load_tester_runs_the_acceptance_command(loadtester):
    good = run({"webhooks": [{"name": "acceptance", "type": "pre-rollout", "url": loadtester + "/", "timeout": "20s",
                              "metadata": {"type": "bash", "cmd": "test 2 -gt 1"}}], "type": "pre-rollout"})
    assert good["passed"] is True and good["message"] == "Pre-rollout check acceptance passed"
    bad = run({"webhooks": [{"name": "acceptance", "type": "pre-rollout", "url": loadtester + "/", "timeout": "20s",
                             "metadata": {"type": "bash", "cmd": "exit 3"}}], "type": "pre-rollout"})
    assert bad["passed"] is False and bad["hooks"][0]["status"] == 500
    assert "exit status 3" in bad["hooks"][0]["message"]


def test_secrets_never_appear_in_verbose_playbook_output(receiver, tmp_path):
    import sys
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    playbook = tmp_path / "hooks.yml"
    playbook.write_text("""
- hosts: localhost
  gather_facts: false
  tasks:
    - name: A failing gate with a token, a secret header and a password in the URL
      progressive.delivery.canary_webhook:
        type: confirm-promotion
        target: podinfo
        namespace: test
        webhooks:
          - name: gate
            type: confirm-promotion
            url: "%s"
            bearer_token: "%s"
            headers:
              X-Api-Key: "%s"
      register: gate
    - name: Show what a playbook can gate on
      ansible.builtin.debug:
        var: gate
""" % (receiver.url.replace("http://", "http://ops:pa55-w0rd@") + "/403", TOKEN, API_KEY))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(repo, ".build", "collections"), ANSIBLE_PYTHON_INTERPRETER=sys.executable,
               ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_INVENTORY_UNPARSED_WARNING="false", ANSIBLE_NOCOLOR="1")
    out = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-vvv", str(playbook)], env=env, cwd=str(tmp_path),
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120).stdout
    assert "Halt podinfo.test advancement waiting for promotion approval gate" in out, out
    assert receiver.requests and receiver.requests[0]["headers"]["Authorization"] == "Bearer " + TOKEN
    for secret in (TOKEN, API_KEY, "pa55-w0rd", receiver.url):
        assert secret not in out
