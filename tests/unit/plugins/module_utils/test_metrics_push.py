"""The rollout's metrics as text: Flagger's names, labels, types and phase encoding; the group's URL."""

import datetime

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils import metrics_push as mp


def samples(text):
    """``{(name, frozenset(labels)): value}`` of a small, well-formed exposition (no spaces in label values)."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        series, value = line.rsplit(" ", 1)
        name, _brace, labels = series.partition("{")
        pairs = frozenset(tuple(p.split("=", 1)) for p in labels.rstrip("}").split(",")) if labels else frozenset()
        out[(name, frozenset((k, v.strip('"')) for k, v in pairs))] = float(value)
    return out


@pytest.mark.parametrize("phase, value", [("Progressing", 0), ("Failed", 2), ("Succeeded", 1), ("Initialized", 1),
                                          ("Waiting", 1), ("WaitingPromotion", 1), ("Promoting", 1), ("Finalising", 1)])
def test_the_phase_is_encoded_as_flagger_does(phase, value):
    assert mp.status_value(phase) == value
    text = mp.render("podinfo", "test", phase)
    assert samples(text) == {("flagger_canary_status", frozenset({("name", "podinfo"), ("namespace", "test")})): value}


def test_the_weight_has_one_series_for_the_primary_and_one_for_the_canary():
    got = samples(mp.render("podinfo", "test", "Progressing", canary_weight=30))
    assert got[("flagger_canary_weight", frozenset({("workload", "podinfo-primary"), ("namespace", "test")}))] == 70
    assert got[("flagger_canary_weight", frozenset({("workload", "podinfo"), ("namespace", "test")}))] == 30


def test_the_duration_is_a_histogram_with_flaggers_buckets_and_one_observation():
    text = mp.render("podinfo", "test", "Succeeded", duration_seconds=7.25)
    assert "# TYPE flagger_canary_duration_seconds histogram" in text
    got = samples(text)
    labels = {("name", "podinfo"), ("namespace", "test")}
    assert got[("flagger_canary_duration_seconds_sum", frozenset(labels))] == 7.25
    assert got[("flagger_canary_duration_seconds_count", frozenset(labels))] == 1
    buckets = {dict(k[1])["le"]: v for k, v in got.items() if k[0] == "flagger_canary_duration_seconds_bucket"}
    assert buckets["5"] == 0 and buckets["10"] == 1 and buckets["+Inf"] == 1
    assert len(buckets) == len(mp.DEFAULT_BUCKETS) + 1
    # cumulative: never decreasing with le
    ordered = [buckets[k] for k in sorted(buckets, key=lambda le: float(le.replace("+Inf", "inf")))]
    assert ordered == sorted(ordered)


def test_the_total_is_per_namespace_and_optional_metrics_are_left_out():
    got = samples(mp.render("podinfo", "test", "Progressing", canary_total=4))
    assert got[("flagger_canary_total", frozenset({("namespace", "test")}))] == 4
    assert "flagger_canary_weight" not in mp.render("podinfo", "test", "Progressing")
    assert "duration" not in mp.render("podinfo", "test", "Progressing")


def test_every_name_rendered_is_a_known_series():
    text = mp.render("podinfo", "test", "Progressing", 10, 1.0, 1)
    assert {key[0] for key in samples(text)} == set(mp.SERIES_NAMES)


def test_label_values_are_escaped():
    text = mp.render('a"b\\c', "test", "Progressing")
    assert 'name="a\\"b\\\\c"' in text


def test_the_group_url_carries_job_namespace_and_name():
    assert mp.push_url("http://pg:9091/", "progressive-delivery", "test", "podinfo") == \
        "http://pg:9091/metrics/job/progressive-delivery/namespace/test/name/podinfo"
    # a slash cannot move the canary into another group
    assert mp.push_url("http://pg:9091", "j", "test", "a/b").endswith("/name/a%2Fb")


def test_the_duration_from_started_at():
    now = datetime.datetime(2026, 12, 1, 17, 0, 0, tzinfo=datetime.timezone.utc)
    assert mp.duration_from("2026-12-01T16:58:30Z", now) == 90
    assert mp.duration_from("2026-12-01T17:58:30+01:00", now) == 90
    assert mp.duration_from("2026-12-01T16:58:30", now) == 90
    assert mp.duration_from("2026-12-01T17:00:10Z", now) == 0  # a clock ahead never gives a negative duration
    with pytest.raises(mp.MetricsPushError) as err:
        mp.duration_from("yesterday", now)
    assert err.value.field == "started_at"


BASE = dict(url="http://pg:9091", job="progressive-delivery", target="podinfo", namespace="test", canary_weight=10,
            duration_seconds=1.0, canary_total=None, url_username=None, url_password=None, bearer_token=None)


@pytest.mark.parametrize("change, field", [
    ({"url": "ftp://pg"}, "url"), ({"url": "pg:9091"}, "url"), ({"url": "http://u:p@pg:9091"}, "url"),
    ({"canary_weight": 101}, "canary_weight"), ({"canary_weight": -1}, "canary_weight"),
    ({"duration_seconds": -1.0}, "duration_seconds"), ({"duration_seconds": float("nan")}, "duration_seconds"),
    ({"target": ""}, "target"), ({"job": ""}, "job"), ({"canary_total": -2}, "canary_total"),
    ({"url_password": "x"}, "url_username"), ({"bearer_token": "t", "url_username": "u"}, "bearer_token"),
])
def test_bad_options_name_the_field(change, field):
    with pytest.raises(mp.MetricsPushError) as err:
        mp.validate(dict(BASE, **change))
    assert err.value.field == field


def test_the_answer_is_one_line_cut_and_masked():
    text = "line one\nsecret-token here " + "x" * 500
    excerpt = mp.answer_excerpt(text, ["secret-token"], limit=40)
    assert "\n" not in excerpt and "secret-token" not in excerpt and excerpt.endswith("more characters)")
    assert mp.answer_excerpt("") == "(empty body)"


def test_promtool_parses_the_text_and_finds_nothing_but_flaggers_own_name():
    import shutil
    import subprocess
    promtool = shutil.which("promtool")
    assert promtool, "promtool is not installed: run scripts/bootstrap.sh"
    text = mp.render("podinfo", "test", "Progressing", 30, 12.5, 3)
    out = subprocess.run([promtool, "check", "metrics"], input=text, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         timeout=60, check=False)
    # The one lint is Flagger's choice, kept so its dashboards and alerts match: a gauge named *_total.
    assert out.stdout.strip() == 'flagger_canary_total non-counter metrics should not have "_total" suffix', out.stdout
    broken = subprocess.run([promtool, "check", "metrics"], input=text.replace(" 30\n", " thirty\n"), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, timeout=60, check=False)
    assert "parsing error" in broken.stdout
