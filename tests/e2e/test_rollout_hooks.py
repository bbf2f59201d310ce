"""Flagger's webhooks, the manual gates and the alerts in the rollout role, on the real lab: every hook point's effect
on the phase and the weights, against real HTTP receivers on 127.0.0.1 (REFERENCE.md section 4)."""

import subprocess
import threading
import time

import pytest

from tests.mesh import wait_for
from tests.modules.receiver import Receiver

from .conftest import finish, kill_group, wait_for_line


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


class WeightWatch(object):
    """Reads the VirtualService's canary weight every 0.2 s while a run goes on: the most traffic the canary ever had."""

    def __init__(self, canary):
        self.canary, self.highest, self.running = canary, 0, True
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()

    def _watch(self):
        while self.running:
            try:
                self.highest = max(self.highest, self.canary.weights().get("podinfo-canary", 0))
            except Exception:  # noqa: BLE001 - a read racing a write is read again
                pass
            time.sleep(0.2)

    def stop(self):
        self.running = False
        self.thread.join(timeout=5)
        return self.highest


def test_confirm_promotion_gate_holds_until_the_gate_playbook_opens_it_even_across_a_killed_runner(canary):
    canary.release("6.0.1")
    settings = {"rollout_gates": ["promotion"], "rollout_analysis": {"interval": "2s", "step_weights": [50]}}
    first = canary.start(**settings)
    try:
        wait_for_line(first, "waiting for promotion approval")
        # the line is printed, then recorded with the interval
        # an interval of these runs costs 5-10 s of CPU on a loaded runner: two need more than 30 s (CI rehearsal)
        wait_for(lambda: canary.status()["phase"] == "WaitingPromotion", timeout=90)
        held = canary.status()
        assert held["phase"] == "WaitingPromotion" and held["canary_weight"] == 50
        assert canary.image("podinfo-primary").endswith(":6.0.0")
        # the metrics keep being checked while the gate holds
        wait_for(lambda: canary.status()["iterations"] > held["iterations"] + 1, timeout=90)
        assert canary.status()["phase"] == "WaitingPromotion"
    finally:
        kill_group(first)

    # a new runner (the operator takes the dead one's lock) resumes waiting on the same gate
    second = canary.start(rollout_lock_force=True, **settings)
    try:
        wait_for_line(second, "Resuming the analysis of podinfo.%s at canary weight 50" % canary.namespace)
        wait_for_line(second, "waiting for promotion approval")
        assert canary.image("podinfo-primary").endswith(":6.0.0")
        rc, out = canary.run("gate", rollout_gate="promotion", rollout_gate_action="open")
        assert rc == 0 and "Gate promotion of podinfo.%s is open" % canary.namespace in out, out
        output = finish(second, 180)
    finally:
        kill_group(second)
    assert second.returncode == 0, output
    assert "Promotion completed! Scaling down podinfo.%s" % canary.namespace in output
    assert canary.status()["phase"] == "Succeeded"
    assert canary.image("podinfo-primary").endswith(":6.0.1")


def test_a_failing_pre_rollout_check_rolls_back_before_any_traffic(canary, receiver):
    canary.release("6.0.1")
    hooks = [{"name": "acceptance-test", "type": "pre-rollout", "url": receiver.url + "/500",
              "metadata": {"type": "bash", "cmd": "curl -sf http://podinfo-canary:9898/readyz"}}]
    watch = WeightWatch(canary)
    try:
        rc, out = canary.run(rollout_webhooks=hooks, rollout_analysis={"interval": "2s", "threshold": 2})
    finally:
        highest = watch.stop()
    assert rc != 0, out
    assert "Halt podinfo.%s advancement pre-rollout check acceptance-test failed status 500" % canary.namespace in out
    assert "failed checks threshold reached 2" in canary.status()["reason"]
    assert highest == 0, "the canary got %d%% of the traffic" % highest
    assert not [e for e in canary.events() if e.startswith("Advance ")]
    assert canary.status()["phase"] == "Failed" and canary.weights()["podinfo-canary"] == 0
    calls = receiver.calls("/500")
    assert len(calls) == 2  # once at the opening, once more an interval later: the threshold
    body = calls[0]["body"]
    assert (body["name"], body["namespace"], body["phase"]) == ("podinfo", canary.namespace, "Progressing")
    assert body["checksum"] == canary.status()["last_applied_hash"]
    assert body["metadata"] == {"type": "bash", "cmd": "curl -sf http://podinfo-canary:9898/readyz"}


def test_a_rollback_webhook_aborts_mid_analysis(canary, receiver):
    canary.release("6.0.1")
    hooks = [{"name": "stop-button", "type": "rollback", "url": receiver.url + "/answer/stop"}]
    run = canary.start(rollout_webhooks=hooks, rollout_analysis={"interval": "2s", "step_weights": [20, 40, 60, 80]})
    try:
        wait_for_line(run, "canary weight 40")
        receiver.answers["stop"] = 200
        output = finish(run, 120)
    finally:
        kill_group(run)
    assert run.returncode != 0
    assert "Rolling back podinfo.%s manual webhook invoked (stop-button)" % canary.namespace in output
    status = canary.status()
    assert status["phase"] == "Failed" and status["reason"] == "manual webhook invoked (stop-button)"
    assert canary.weights() == {"podinfo-primary": 100, "podinfo-canary": 0}
    assert canary.image("podinfo-primary").endswith(":6.0.0")


def test_confirm_rollout_then_confirm_traffic_increase_then_post_rollout_and_event_hooks(canary, receiver):
    canary.release("6.0.1")
    hooks = [{"name": "may-start", "type": "confirm-rollout", "url": receiver.url + "/answer/start"},
             {"name": "may-grow", "type": "confirm-traffic-increase", "url": receiver.url + "/answer/grow"},
             {"name": "events", "type": "event", "url": receiver.url + "/202"},
             {"name": "tell-cd", "type": "post-rollout", "url": receiver.url + "/500"}]
    run = canary.start(rollout_webhooks=hooks, rollout_analysis={"interval": "2s", "step_weights": [50]})
    try:
        wait_for_line(run, "Halt podinfo.%s advancement waiting for approval may-start" % canary.namespace)
        wait_for(lambda: len(receiver.calls("/answer/start")) >= 3, timeout=30)
        # confirm-rollout holds everything: phase Waiting, the canary not scaled up, no traffic
        assert canary.status()["phase"] == "Waiting"
        assert canary.replicas("podinfo") == 0 and canary.weights()["podinfo-canary"] == 0
        receiver.answers["start"] = 200

        wait_for_line(run, "Halt podinfo.%s advancement waiting for traffic increase approval may-grow" % canary.namespace)
        wait_for(lambda: len(receiver.calls("/answer/grow")) >= 3, timeout=30)
        # the canary runs, but the weight holds at 0 until the increase is confirmed
        assert canary.replicas("podinfo") == 1 and canary.weights()["podinfo-canary"] == 0
        assert canary.status()["phase"] == "Progressing" and canary.status()["failed_checks"] == 0
        receiver.answers["grow"] = 200
        output = finish(run, 180)
    finally:
        kill_group(run)
    assert run.returncode == 0, output
    # post-rollout is reported, nothing is undone
    assert "Post-rollout hook tell-cd failed status 500" in output
    assert canary.status()["phase"] == "Succeeded" and canary.image("podinfo-primary").endswith(":6.0.1")
    assert len(receiver.calls("/500")) == 1 and receiver.calls("/500")[0]["body"]["phase"] == "Succeeded"
    # every event reached the event hook with Flagger's metadata
    told = [call["body"]["metadata"] for call in receiver.calls("/202")]
    messages = [meta["eventMessage"] for meta in told]
    assert messages[0] == "Halt podinfo.%s advancement waiting for approval may-start" % canary.namespace
    assert "Promotion completed! Scaling down podinfo.%s" % canary.namespace in messages
    assert all(meta["eventType"] in ("Normal", "Warning") and meta["timestamp"].isdigit() for meta in told)
    now_ms = time.time() * 1000
    assert all(now_ms - 600000 < int(meta["timestamp"]) <= now_ms for meta in told)


def test_alerts_reach_each_receiver_by_severity_and_no_secret_reaches_the_output(canary, receiver):
    canary.release("6.0.1")
    initialised = len(canary.events())
    alerts = [{"name": "team", "provider": "slack", "url": receiver.url + "/200?token=team-s3cr3t-4711", "severity": "info"},
              {"name": "halts", "provider": "msteams", "url": receiver.url + "/200?token=halts-s3cr3t-4712", "severity": "warn"},
              {"name": "on-call", "provider": "generic", "url": receiver.url + "/202?token=oncall-s3cr3t-4713", "severity": "error"}]
    failing = {"interval": "1s", "threshold": 2,
               "metrics": [{"name": "error-free", "query": "vector(42)", "threshold_range": {"min": 99}}]}
    command = canary.command("rollout", canary.vars(rollout_alerts=alerts, rollout_analysis=failing)) + ["-vvv"]
    result = subprocess.run(command, env=canary.env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300)
    assert result.returncode != 0, result.stdout
    for secret in ("team-s3cr3t-4711", "halts-s3cr3t-4712", "oncall-s3cr3t-4713"):
        assert secret not in result.stdout

    team = [r["body"] for r in receiver.requests if "team-" in r["path"]]
    halts = [r["body"] for r in receiver.requests if "halts-" in r["path"]]
    on_call = [r["body"] for r in receiver.requests if "oncall-" in r["path"]]
    ident = "podinfo.%s" % canary.namespace
    team_texts = [body["attachments"][0]["text"] for body in team]
    # info hears every event: as many messages as Events on the target, in the same order
    assert team_texts == canary.events()[initialised:]
    assert team_texts[0] == "New revision detected! Scaling up %s" % ident
    # warn hears the halts and the rollback, not the progress
    halt_texts = [body["sections"][0]["activitySubtitle"] for body in halts]
    assert halt_texts == [text for text in team_texts if text.startswith(("Halt ", "Rolling back ", "Canary failed!"))]
    assert any(text.startswith("Halt %s advancement" % ident) for text in halt_texts)
    # error hears the rollback only, with its severity
    assert [body["message"] for body in on_call] == ["Rolling back %s failed checks threshold reached 2 (error-free 42.00 < 99)" % ident,
                                                     "Canary failed! Scaling down %s" % ident]
    assert {body["severity"] for body in on_call} == {"error"}


BAD_HOOKS = [
    ({"rollout_webhooks": [{"name": "x", "type": "pre-deploy", "url": "http://127.0.0.1:9/"}]},
     "rollout_webhooks[0].type 'pre-deploy' is not a webhook type"),
    ({"rollout_webhooks": [{"name": "x", "type": "rollout"}]}, "rollout_webhooks[0].url is required"),
    ({"rollout_webhooks": [{"name": "x", "url": "ftp://127.0.0.1/x"}]}, "rollout_webhooks[0].url must be an http:// or https:// URL"),
    ({"rollout_webhooks": [{"name": "x", "url": "http://127.0.0.1:9/", "timeout": 0}]}, "rollout_webhooks[0].timeout"),
    ({"rollout_alerts": [{"name": "chat", "provider": "slack"}]}, "rollout_alerts[0].url is required"),
    ({"rollout_alerts": [{"name": "chat", "provider": "slack", "url": "http://127.0.0.1:9/", "severity": "fatal"}]},
     "rollout_alerts[0].severity must be one of info, warn, error"),
    ({"rollout_gates": ["approval"]}, "rollout_gates[0] 'approval' is not a gate"),
]


def test_bad_webhooks_alerts_and_gates_name_the_variable_and_change_nothing(canary):
    canary.release("6.0.1")
    before = (canary.status(), canary.weights(), canary.replicas("podinfo"))
    for settings, words in BAD_HOOKS:
        rc, out = canary.run(**settings)
        assert rc != 0 and words in out and "nothing was changed in the cluster" in out, (settings, out[-3000:])
        assert (canary.status(), canary.weights(), canary.replicas("podinfo")) == before
