"""Flagger's webhook rules in plain Python: validation, payload, pass/fail, outcome per type, redaction."""

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils.analysis import webhooks as wh


def hook(**overrides):
    base = {"name": "gate", "type": "confirm-promotion", "url": "http://127.0.0.1:9/gate/check"}
    base.update(overrides)
    return base


def test_defaults_are_flaggers():
    [normalised] = wh.validate([{"name": "load", "url": "http://loadtester.test/"}])
    assert normalised["type"] == "rollout" and normalised["timeout"] == 10.0 and normalised["retries"] == 0
    assert normalised["metadata"] == {} and normalised["headers"] == {} and normalised["validate_certs"] is True


@pytest.mark.parametrize("value, seconds", [("10s", 10.0), ("500ms", 0.5), ("1m", 60.0), (3, 3.0), ("2.5", 2.5)])
def test_timeouts(value, seconds):
    assert wh.validate([hook(timeout=value)])[0]["timeout"] == seconds


@pytest.mark.parametrize("hooks, field, words", [
    ([hook(type="pre-flight")], "webhooks[0].type", "is not a webhook type; use one of confirm-rollout"),
    ([{"name": "x", "type": "rollout"}], "webhooks[0].url", "url is required"),
    ([hook(url="ftp://host/x")], "webhooks[0].url", "must be an http:// or https:// URL"),
    ([hook(url="loadtester.test/")], "webhooks[0].url", "must be an http:// or https:// URL"),
    ([hook(timeout=0)], "webhooks[0].timeout", "more than 0 seconds"),
    ([hook(timeout="-1s")], "webhooks[0].timeout", "must be a duration"),
    ([hook(timeout="soon")], "webhooks[0].timeout", "must be a duration"),
    ([hook(retries=-1)], "webhooks[0].retries", "0 or more"),
    ([hook(), hook()], "webhooks[1].name", "used twice"),
    ([hook(name="")], "webhooks[0].name", "name is required"),
    ([hook(metadata={"cmd": ["hey"]})], "webhooks[0].metadata.cmd", "must be a string"),
    ([hook(color="red")], "webhooks[0]", "unknown keys color"),
    ("http://x", "webhooks", "must be a list"),
])
def test_bad_webhooks_name_the_field(hooks, field, words):
    with pytest.raises(wh.WebhookError) as error:
        wh.validate(hooks)
    assert error.value.field == field and words in error.value.message


def test_the_url_password_is_not_in_the_error():
    with pytest.raises(wh.WebhookError) as error:
        wh.validate([hook(url="ftp://user:s3cret@host/")])
    assert "s3cret" not in error.value.message


def test_payload_is_flaggers_and_event_metadata_in_milliseconds():
    [plain, event] = wh.validate([hook(metadata={"cmd": "hey -z 1m http://podinfo-canary.test:9898/"}),
                                  {"name": "chat", "type": "event", "url": "http://127.0.0.1:9/"}])
    assert wh.payload(plain, "podinfo", "test", "Progressing", "abc") == {
        "name": "podinfo", "namespace": "test", "phase": "Progressing", "checksum": "abc",
        "metadata": {"cmd": "hey -z 1m http://podinfo-canary.test:9898/"}}
    body = wh.payload(event, "podinfo", "test", "Failed", event={"text": "Canary failed!", "type": "Warning"}, now=1700000000.1234)
    assert body["metadata"] == {"eventMessage": "Canary failed!", "eventType": "Warning", "timestamp": "1700000000123"}


@pytest.mark.parametrize("status, passes", [(200, True), (201, True), (202, True), (203, False), (204, False),
                                            (403, False), (500, False), (None, False), (True, False)])
def test_202_or_lower_passes(status, passes):
    assert wh.answered_pass(status) is passes


def test_outcome_by_type():
    failed = [{"name": "gate", "passed": False, "message": "status 403: Forbidden"}]
    passed = [{"name": "gate", "passed": True}]
    gate = wh.outcome("confirm-promotion", failed, "podinfo", "test")
    assert gate == {"passed": False, "failed_hooks": ["gate"], "failures": ["waiting for promotion approval gate"], "rollback": False,
                    "message": "Halt podinfo.test advancement waiting for promotion approval gate"}
    check = wh.outcome("pre-rollout", failed, "podinfo", "test")
    assert check["message"] == "Halt podinfo.test advancement pre-rollout check gate failed status 403: Forbidden"
    assert check["failures"] == ["pre-rollout check gate failed status 403: Forbidden"]
    assert wh.outcome("post-rollout", failed, "podinfo", "test")["message"] == "Post-rollout hook gate failed status 403: Forbidden"
    assert wh.outcome("pre-rollout", passed, "podinfo", "test")["message"] == "Pre-rollout check gate passed"
    assert wh.outcome("rollout", failed, "podinfo", "test")["message"].startswith("Halt podinfo.test advancement external check gate")
    # a rollback hook that passes asks for the rollback; one that does not is no news
    assert wh.outcome("rollback", passed, "podinfo", "test") == {
        "passed": True, "failed_hooks": [], "failures": [], "rollback": True, "message": "Rolling back podinfo.test manual webhook invoked"}
    assert wh.outcome("rollback", failed, "podinfo", "test")["rollback"] is False
    nothing = {"passed": True, "failed_hooks": [], "failures": [], "rollback": False, "message": ""}
    assert wh.outcome("confirm-rollout", [], "podinfo", "test") == nothing


def test_secrets_are_redacted_and_answers_cut():
    [normalised] = wh.validate([hook(url="https://ops:pa55word@gate.example/x", bearer_token="tok-123456",
                                     headers={"X-Api-Key": "key-abcdef"})])
    secrets = wh.secrets_of(normalised)
    assert wh.redact("posted to https://ops:pa55word@gate.example/x", secrets) == "posted to ********"
    text = wh.redact("denied for tok-123456 / key-abcdef / pa55word " + "x" * 400, secrets)
    assert "tok-123456" not in text and "key-abcdef" not in text and "pa55word" not in text
    assert text.startswith("denied for ******** / ******** / ********") and len(text) == wh.MAX_BODY + 3
    assert wh.mask(normalised["url"]) == "https://gate.example/x"
