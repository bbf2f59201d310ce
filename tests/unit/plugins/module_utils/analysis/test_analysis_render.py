"""Rendering of PromQL templates: placeholder forms, escaping by context, refusals."""

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils.analysis import render as r

VARS = {"name": "podinfo", "namespace": "test", "target": "podinfo", "service": "podinfo", "interval": "1m"}


@pytest.mark.parametrize("template", [
    'up{namespace="{{ namespace }}"}',
    'up{namespace="{{namespace}}"}',
    'up{namespace="{{ .namespace }}"}',
    'up{namespace="{{ variables.namespace }}"}',
    'up{namespace="$namespace"}',
    'up{namespace="${namespace}"}',
    'up{namespace="${ namespace }"}',
])
def test_every_placeholder_form_renders_the_same(template):
    assert r.render(template, VARS) == 'up{namespace="test"}'


def test_flagger_istio_success_rate_renders_with_flagger_values_and_a_numerator_of_0_when_all_failed():
    from ansible_collections.progressive.delivery.plugins.module_utils.analysis.providers import builtin_templates
    query = r.render(builtin_templates("istio")["request-success-rate"].query, VARS)
    assert query == (
        '(sum(rate(istio_requests_total{reporter="destination",destination_workload_namespace="test",'
        'destination_workload=~"podinfo",response_code!~"5.*"}[1m])) or on() vector(0))'
        ' / sum(rate(istio_requests_total{reporter="destination",destination_workload_namespace="test",'
        'destination_workload=~"podinfo"}[1m])) * 100')


def test_quote_in_value_cannot_end_the_string():
    evil = 'test"} or vector(1) or up{x="'
    out = r.render('up{namespace="$namespace"}', dict(VARS, namespace=evil))
    assert out == 'up{namespace="test\\"} or vector(1) or up{x=\\""}'


def test_backslash_and_control_characters_are_escaped():
    out = r.render('up{a="$v"}', {"v": 'a\\"\n\t\x01'})
    assert out == 'up{a="a\\\\\\"\\n\\t\\x01"}'


def test_single_quoted_strings_escape_the_single_quote_only():
    assert r.render("up{a='$v'}", {"v": "it's \"x\""}) == "up{a='it\\'s \"x\"'}"


def test_regex_matcher_values_match_literally():
    out = r.render('up{cluster=~"$c"}', {"c": "outbound|9898||podinfo-canary.test.svc"})
    # regex metacharacters escaped for RE2, then the backslashes escaped for the PromQL string
    assert out == 'up{cluster=~"outbound\\\\|9898\\\\|\\\\|podinfo-canary\\\\.test\\\\.svc"}'


def test_negative_regex_matcher_and_spacing_are_recognised():
    assert r.render('up{a !~ "$v"}', {"v": "a.b"}) == 'up{a !~ "a\\\\.b"}'


def test_equality_matcher_does_not_regex_escape():
    assert r.render('up{a="$v"}', {"v": "a.b"}) == 'up{a="a.b"}'


def test_template_text_in_a_regex_string_is_kept():
    assert r.render('up{pod=~"$target-[0-9a-z]+"}', VARS) == 'up{pod=~"podinfo-[0-9a-z]+"}'


def test_raw_string_refuses_a_backtick():
    assert r.render("up{a=`$v`}", {"v": 'x"y\\'}) == 'up{a=`x"y\\`}'
    with pytest.raises(r.TemplateError, match="backtick"):
        r.render("up{a=`$v`}", {"v": "x`y"})


@pytest.mark.parametrize("value", ["5m", "1h30m", "250ms", "0.99", "-1", "1e3", "le", "istio_requests_total", "a:b"])
def test_outside_quotes_single_tokens_are_accepted(value):
    assert r.render("x $v", {"v": value}) == "x " + value


@pytest.mark.parametrize("value", ["1m] or vector(1", "1 + 1", "a b", "", "x{}", "(1)"])
def test_outside_quotes_anything_else_is_refused(value):
    with pytest.raises(r.TemplateError, match="outside quotes"):
        r.render("rate(x[$v])", {"v": value})


def test_unknown_placeholder_names_it_and_the_known_ones():
    with pytest.raises(r.TemplateError) as err:
        r.render('up{namespace="{{ namespcae }}"}', VARS)
    assert "namespcae" in str(err.value) and "namespace" in str(err.value) and "interval" in str(err.value)


def test_dollar_forms_that_are_not_placeholders():
    # $$ is a literal dollar; label_replace's $1 / ${1} and a regex anchor stay as written.
    assert r.render('label_replace(up, "a", "$1-${1}", "b", "(.*)$")', {}) == 'label_replace(up, "a", "$1-${1}", "b", "(.*)$")'
    assert r.render('up{a=~"x$$"}', {}) == 'up{a=~"x$"}'


def test_placeholder_like_text_in_a_comment_is_left_alone():
    assert r.render('up # $unknown "\nor $v', {"v": "1"}) == 'up # $unknown "\nor 1'


def test_escaped_quote_in_the_template_does_not_end_the_string():
    assert r.render('up{a="x\\"$v"}', {"v": '"'}) == 'up{a="x\\"\\""}'


def test_unterminated_string_is_an_error():
    with pytest.raises(r.TemplateError, match="unterminated"):
        r.render('up{a="$v}', {"v": "x"})


@pytest.mark.parametrize("value", [None, True, {"a": 1}, [1]])
def test_non_scalar_values_are_refused(value):
    with pytest.raises(r.TemplateError, match="string or a number"):
        r.render('up{a="$v"}', {"v": value})


def test_numbers_are_rendered_as_numbers():
    assert r.render("histogram_quantile($q, x)", {"q": 0.99}) == "histogram_quantile(0.99, x)"
    assert r.render('x{a="$n"}', {"n": 3}) == 'x{a="3"}'


def test_empty_template_is_an_error():
    with pytest.raises(r.TemplateError, match="empty"):
        r.render("  ", {})


@pytest.mark.parametrize("value,ok", [("1m", True), ("30s", True), ("1h30m", True), ("1 minute", False), ("60", False), ("", False), (None, False)])
def test_check_duration(value, ok):
    if ok:
        assert r.check_duration(value, "interval") == value
    else:
        with pytest.raises(r.TemplateError, match="interval"):
            r.check_duration(value, "interval")
