"""Alerts in plain Python: validation, who hears which severity, and each provider's documented shape."""

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils import alerts as al


def alert(**overrides):
    base = {"name": "team", "provider": "slack", "url": "https://hooks.example/services/T0/B0/s3cr3t"}
    base.update(overrides)
    return base


EVENT = al.event("podinfo", "test", "Canary failed! Scaling down podinfo.test", "error", "Failed",
                 {"Failed checks": "2", "Revision": "7d9c5f"}, timestamp=1700000000123)


@pytest.mark.parametrize("alerts, field, words", [
    ([alert(provider="pager")], "alerts[0].provider", "is not an alert provider; use one of discord, gchat, generic, msteams, rocket, slack"),
    ([alert(url=None)], "alerts[0].url", "url is required: the slack incoming webhook URL"),
    ([alert(url="hooks.example/x")], "alerts[0].url", "must be an http:// or https:// URL"),
    ([alert(severity="critical")], "alerts[0].severity", "must be one of info, warn, error"),
    ([alert(), alert()], "alerts[1].name", "used twice"),
    ([alert(name=None)], "alerts[0].name", "name is required"),
    ({"name": "x"}, "alerts", "must be a list"),
])
def test_bad_alerts_name_the_field(alerts, field, words):
    with pytest.raises(al.AlertError) as error:
        al.validate(alerts)
    assert error.value.field == field and words in error.value.message
    assert "s3cr3t" not in error.value.message


@pytest.mark.parametrize("text, event_type, severity", [
    ("New revision detected! Scaling up podinfo.test", "Normal", "info"),
    ("Advance podinfo.test canary weight 20", "Normal", "info"),
    ("Halt podinfo.test advancement request success rate 80.00% < 99%", "Warning", "warn"),
    ("Rolling back podinfo.test failed checks threshold reached 2", "Warning", "error"),
    ("Canary failed! Scaling down podinfo.test", "Warning", "error"),
])
def test_events_are_ranked_as_flagger_ranks_them(text, event_type, severity):
    assert al.severity_of(text, event_type) == severity


def test_severity_filter_is_flaggers():
    alerts = al.validate([alert(name="all"), alert(name="halts", severity="warn"), alert(name="rollbacks", severity="error")])
    assert [a["name"] for a in al.recipients(alerts, "info")] == ["all"]
    assert [a["name"] for a in al.recipients(alerts, "warn")] == ["all", "halts"]
    assert [a["name"] for a in al.recipients(alerts, "error")] == ["all", "halts", "rollbacks"]
    with pytest.raises(al.AlertError) as error:
        al.recipients(alerts, "fatal")
    assert error.value.field == "event.severity"


def test_slack_and_rocket_message():
    [slack] = al.validate([alert(channel="#deployments")])
    body = al.build(slack, EVENT)
    assert body == {
        "username": "progressive.delivery", "text": "", "channel": "#deployments",
        "attachments": [{"color": "danger", "author_name": "podinfo.test", "text": "Canary failed! Scaling down podinfo.test",
                         "mrkdwn_in": ["text"], "fields": [{"title": "Failed checks", "value": "2", "short": True},
                                                           {"title": "Revision", "value": "7d9c5f", "short": True}]}]}
    [rocket] = al.validate([alert(provider="rocket")])
    assert al.build(rocket, EVENT)["attachments"] == body["attachments"] and "channel" not in al.build(rocket, EVENT)


def test_teams_message_card():
    [teams] = al.validate([alert(provider="msteams")])
    body = al.build(teams, EVENT)
    assert body["@type"] == "MessageCard" and body["@context"] == "http://schema.org/extensions"
    assert body["themeColor"] == "D70000" and body["summary"] == "podinfo.test: Canary failed! Scaling down podinfo.test"
    assert body["sections"] == [{"activityTitle": "podinfo.test", "activitySubtitle": "Canary failed! Scaling down podinfo.test",
                                 "facts": [{"name": "Failed checks", "value": "2"}, {"name": "Revision", "value": "7d9c5f"}]}]


def test_discord_embed_gchat_text_and_generic():
    [discord, gchat, generic] = al.validate([alert(name="d", provider="discord"), alert(name="g", provider="gchat"),
                                             alert(name="j", provider="generic")])
    embed = al.build(discord, EVENT)["embeds"][0]
    assert embed["title"] == "podinfo.test" and embed["color"] == 0xE74C3C and embed["fields"][0] == {"name": "Failed checks", "value": "2", "inline": True}
    assert al.build(gchat, EVENT) == {"text": "*podinfo.test*\nCanary failed! Scaling down podinfo.test\nFailed checks: 2\nRevision: 7d9c5f"}
    assert al.build(generic, EVENT) == {"name": "podinfo", "namespace": "test", "phase": "Failed", "severity": "error",
                                        "message": "Canary failed! Scaling down podinfo.test",
                                        "metadata": {"Failed checks": "2", "Revision": "7d9c5f"}, "timestamp": 1700000000123}
