"""The web source's pure part: options, rendering the request, the answer's status and JSON, and the
JMESPath reduction to one number (the HTTP round trips are in tests/analysis/test_analysis_sources_http.py)."""

import json

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils.analysis.metric_source import (
    SourceAuthError, SourceConfigError, SourceQueryError, SourceResponseError)
from ansible_collections.progressive.delivery.plugins.module_utils.analysis.render import TemplateError
from ansible_collections.progressive.delivery.plugins.module_utils.analysis.results import NoDataError, ResultShapeError
from ansible_collections.progressive.delivery.plugins.module_utils.analysis.sources import _answer, web

DOC = {"data": {"result": [{"metric": {"pod": "a"}, "value": [1, "99.5"]}], "total": 120, "ok": True, "name": "podinfo",
                "latencies": [10, 30, 20], "empty": [], "nan": "NaN"}}


@pytest.mark.parametrize("expression, expected", [
    ("data.total", 120.0),
    ("data.result[0].value[1]", 99.5),          # a number written as a string
    ("data.result[*].value[1]", 99.5),          # a one-element list is its element
    ("max(data.latencies)", 30.0),
    ("avg(data.latencies)", 20.0),
    ("length(data.latencies)", 3.0),
])
def test_json_path_reduces_the_answer_to_one_number(expression, expected):
    assert web.reduce_answer(DOC, expression) == expected


def test_without_json_path_the_whole_answer_must_be_the_number():
    assert web.reduce_answer(42, None) == 42.0
    with pytest.raises(ResultShapeError, match=r"the answer \(no json_path\) gave an object"):
        web.reduce_answer(DOC, None)


@pytest.mark.parametrize("expression", ["data.missing", "data.empty", "data.result[?metric.pod=='b'].value[1]"])
def test_an_expression_that_finds_nothing_is_no_data(expression):
    with pytest.raises(NoDataError) as err:
        web.reduce_answer(DOC, expression)
    assert str(err.value) == "json_path %r found nothing in the answer" % expression


def test_nan_is_no_data():
    with pytest.raises(NoDataError, match="gave NaN"):
        web.reduce_answer(DOC, "data.nan")


@pytest.mark.parametrize("expression, words", [
    ("data.latencies", "gave 3 values where one number was expected"),
    ("data.ok", "gave a boolean where a number was expected"),
    ("data.result[0].metric", "gave an object where a number was expected"),
    ("data.name", "gave the text 'podinfo' where a number was expected"),
])
def test_a_non_number_is_an_error_naming_the_expression(expression, words):
    with pytest.raises(ResultShapeError) as err:
        web.reduce_answer(DOC, expression)
    assert "json_path %r" % expression in str(err.value) and words in str(err.value)


def options(**kw):
    base = {"url": "http://metrics.test/api?app=$target"}
    base.update(kw)
    return base


@pytest.mark.parametrize("given, words", [
    ({"url": None}, "metrics[0].web.url is required"),
    ({"url": "ftp://metrics.test/x"}, "metrics[0].web.url 'ftp://metrics.test/x' must start with http:// or https://"),
    ({"method": "DELETE"}, "metrics[0].web.method 'DELETE' is not one of GET, POST, PUT"),
    ({"body": {"q": 1}}, "metrics[0].web.body is given with method GET"),
    ({"timeout": 0}, "metrics[0].web.timeout must be a positive number of seconds"),
    ({"json_path": "data.["}, "metrics[0].web.json_path 'data.[' is not a JMESPath expression"),
    ({"jsonPath": "data"}, "metrics[0].web: unknown option(s) jsonPath"),
])
def test_options_errors_name_the_field(given, words):
    with pytest.raises(SourceConfigError) as err:
        web.validate_options(options(**given), "metrics[0].web")
    assert words in str(err.value)


def test_url_values_are_percent_encoded_and_body_values_json_escaped():
    source = web.WebSource(web.validate_options(options(
        url="http://metrics.test/api/${target}?ns={{ namespace }}", method="POST",
        body={"filter": 'app="$target"', "window": "$interval"}, headers={"X-Token": "secret"}), "f"), transport=None)
    request = source.render(None, {"target": "pod/info&x=1", "namespace": "a b", "interval": "1m"})
    assert request.url == "http://metrics.test/api/pod%2Finfo%26x%3D1?ns=a%20b"
    assert json.loads(request.body) == {"filter": 'app="pod/info&x=1"', "window": "1m"}
    assert request.headers["Content-Type"] == "application/json" and request.headers["X-Token"] == "secret"
    # What the results show never carries the headers.
    assert source.describe(request) == "POST http://metrics.test/api/pod%2Finfo%26x%3D1?ns=a%20b"


def test_a_string_body_keeps_values_inside_their_json_string():
    source = web.WebSource(web.validate_options(options(method="POST", body='{"app": "$target", "limit": $limit}'), "f"), None)
    request = source.render(None, {"target": 'x", "admin": true, "y": "', "limit": 5})
    assert json.loads(request.body) == {"app": 'x", "admin": true, "y": "', "limit": 5}
    with pytest.raises(TemplateError, match="outside quotes"):
        source.render(None, {"target": "x", "limit": "5, \"admin\": true"})


def test_unknown_placeholders_are_errors():
    source = web.WebSource(web.validate_options(options(url="http://metrics.test/$tagret"), "f"), None)
    with pytest.raises(TemplateError, match="unknown variable 'tagret' in the url"):
        source.render(None, {"target": "podinfo"})


def test_credentials_in_the_url_are_not_shown():
    request = _answer.Request("GET", "https://user:pw@metrics.test:8443/x")
    assert request.describe() == "GET https://metrics.test:8443/x"


@pytest.mark.parametrize("status, body, error, words", [
    (500, b"internal error: db down", SourceQueryError, "answered HTTP 500 for the request: internal error: db down"),
    (404, b"", SourceQueryError, "answered HTTP 404 for the request: (empty body)"),
    (401, b"no token", SourceAuthError, "answered 401 Unauthorized"),
    (403, b"", SourceAuthError, "answered 403 Forbidden"),
    (200, b"<html>login</html>", SourceResponseError, "a body that is not JSON (HTTP 200): <html>login</html>"),
])
def test_answer_statuses_and_bodies_are_typed(status, body, error, words):
    with pytest.raises(error) as err:
        _answer.json_document(_answer.Answer(status, body), "the request", "http://metrics.test/x")
    assert words in str(err.value)


def test_long_bodies_are_cut():
    with pytest.raises(SourceQueryError) as err:
        _answer.json_document(_answer.Answer(502, b"x" * 5000), "the request", "http://metrics.test/x")
    assert str(err.value).endswith("x" * _answer.BODY_LIMIT + "...")
