"""The SkyWalking source's pure part: options, the $duration variable, the GraphQL query's rendering and
the reduction of answers shaped as SkyWalking's query protocol defines them (metric.graphqls: IntValues /
KVInt with isEmptyValue; metrics-v3.graphqls: ExpressionResult / MQEValues / MQEValue, value a string or
null). The HTTP round trips are in tests/analysis/test_analysis_sources_http.py."""

import datetime
import json

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils.analysis.metric_source import SourceConfigError, SourceQueryError
from ansible_collections.progressive.delivery.plugins.module_utils.analysis.render import TemplateError
from ansible_collections.progressive.delivery.plugins.module_utils.analysis.results import NoDataError, ResultShapeError
from ansible_collections.progressive.delivery.plugins.module_utils.analysis.sources import _answer, skywalking

QUERY = ('query q($duration: Duration!) { service_apdex: readMetricsValues(condition: {name: "service_apdex", entity: '
         '{scope: Service, serviceName: "$service", normal: true}}, duration: $duration) { label values { values { value isEmptyValue } } } }')


def read_metrics_values(*values):
    """readMetricsValues' MetricsValues; ``None`` is a point SkyWalking marks empty (value 0, isEmptyValue true)."""
    points = [{"id": str(1700000000000 + 60000 * i), "value": 0 if v is None else v, "isEmptyValue": v is None}
              for i, v in enumerate(values)]
    return {"data": {"service_apdex": {"label": None, "values": {"values": points}}}}


def exec_expression(*series, **kw):
    """execExpression's ExpressionResult: one MQEValues per series, values as strings (null when absent)."""
    results = [{"metric": {"labels": [{"key": "p", "value": str(i)}]},
                "values": [{"id": str(1700000000000 + 60000 * j), "value": None if v is None else str(v), "traceID": None}
                           for j, v in enumerate(values)]} for i, values in enumerate(series)]
    return {"data": {"apdex": {"type": kw.get("type", "TIME_SERIES_VALUES"), "results": results, "error": kw.get("error")}}}


@pytest.mark.parametrize("how, expected", [("mean", 9950.0), ("min", 9900.0), ("max", 10000.0), ("last", 9900.0)])
def test_read_metrics_values_are_reduced_as_documented(how, expected):
    assert skywalking.reduce_answer(read_metrics_values(10000, 9950, 9900), how) == expected


def test_points_marked_empty_are_not_data():
    assert skywalking.reduce_answer(read_metrics_values(None, 9000, None, 9600), "mean") == 9300.0
    with pytest.raises(NoDataError, match="service_apdex has no value in the window"):
        skywalking.reduce_answer(read_metrics_values(None, None, None))


def test_without_is_empty_value_zeros_count():
    # SkyWalking before 9.5 (or a query that does not select isEmptyValue) cannot tell 0 from no data.
    document = {"data": {"m": {"values": {"values": [{"id": "1", "value": 0}, {"id": "2", "value": 10}]}}}}
    assert skywalking.reduce_answer(document, "mean") == 5.0


def test_exec_expression_strings_and_nulls():
    assert skywalking.reduce_answer(exec_expression([None, "98.5", "99.5"]), "mean") == 99.0
    assert skywalking.reduce_answer(exec_expression(["42"], type="SINGLE_VALUE"), "last") == 42.0
    with pytest.raises(NoDataError):
        skywalking.reduce_answer(exec_expression([None, None]))
    with pytest.raises(NoDataError):
        skywalking.reduce_answer(exec_expression())


def test_exec_expression_with_several_series_lists_their_labels():
    with pytest.raises(ResultShapeError, match=r'apdex returned 2 series where one was expected: \{p="0"\}; \{p="1"\}'):
        skywalking.reduce_answer(exec_expression([1], [2]))


def test_exec_expression_error_is_a_query_error():
    with pytest.raises(SourceQueryError, match="Unsupported metric: nope"):
        skywalking.reduce_answer(exec_expression(type="UNKNOWN", error="Unsupported metric: nope"))


def test_graphql_errors_are_query_errors():
    document = {"data": None, "errors": [{"message": "Validation error of type FieldUndefined: Field 'x' in type 'Query' is undefined"}]}
    with pytest.raises(SourceQueryError, match="SkyWalking rejected the query: Validation error of type FieldUndefined"):
        skywalking.reduce_answer(document)


def test_labeled_values_need_one_label():
    one = {"data": {"m": [{"label": "p99", "values": {"values": [{"id": "1", "value": 300, "isEmptyValue": False}]}}]}}
    assert skywalking.reduce_answer(one) == 300.0
    two = {"data": {"m": [{"label": "p50", "values": {"values": []}}, {"label": "p99", "values": {"values": []}}]}}
    with pytest.raises(ResultShapeError, match="2 labelled series"):
        skywalking.reduce_answer(two)


def test_one_field_per_query():
    document = {"data": {"a": {"values": {"values": []}}, "b": {"values": {"values": []}}}}
    with pytest.raises(ResultShapeError, match=r"the query selects 2 fields \(a, b\)"):
        skywalking.reduce_answer(document)


def test_duration_covers_the_interval_in_utc_minutes():
    now = datetime.datetime(2026, 12, 1, 9, 5, 30, tzinfo=datetime.timezone.utc)
    assert skywalking.duration_variable(now, 180) == {"start": "2026-12-01 0902", "end": "2026-12-01 0905", "step": "MINUTE"}
    assert skywalking.duration_variable(now, 30)["start"] == "2026-12-01 0904"      # at least one minute


def test_graphql_url():
    assert skywalking.graphql_url("http://oap:12800") == "http://oap:12800/graphql"
    assert skywalking.graphql_url("http://oap:12800/graphql/") == "http://oap:12800/graphql"


@pytest.mark.parametrize("given, words", [
    ({"address": None}, "metrics[1].skywalking.address is required"),
    ({"address": "oap:12800"}, "metrics[1].skywalking.address is required: the OAP server's http:// or https:// URL"),
    ({"query": ""}, "metrics[1].skywalking.query is required"),
    ({"query": "{ version }"}, "metrics[1].skywalking.query does not use $duration"),
    ({"interval": "3 minutes"}, "metrics[1].skywalking.interval '3 minutes' is not a duration"),
    ({"aggregate": "median"}, "metrics[1].skywalking.aggregate 'median' is not one of mean, min, max, last"),
    ({"timeout": -1}, "metrics[1].skywalking.timeout must be a positive number"),
])
def test_options_errors_name_the_field(given, words):
    options = {"address": "http://oap:12800", "query": QUERY}
    options.update(given)
    with pytest.raises(SourceConfigError) as err:
        skywalking.validate_options(options, "metrics[1].skywalking")
    assert words in str(err.value)


class Recorder(object):
    def __init__(self, answer):
        self.answer = answer
        self.requests = []

    def __call__(self, request):
        self.requests.append(request)
        return _answer.Answer(200, json.dumps(self.answer))


def test_the_query_is_posted_with_duration_and_values_escaped():
    transport = Recorder(read_metrics_values(9800, 9900))
    now = datetime.datetime(2026, 12, 1, 10, 0, tzinfo=datetime.timezone.utc)
    source = skywalking.SkyWalkingSource(skywalking.validate_options({"address": "http://oap:12800", "query": QUERY, "interval": "3m"}, "f"),
                                         transport, "1m", clock=lambda: now)
    query = source.render(None, {"service": 'canary|reviews|bookinfo|cp-cluster-1|-"}', "interval": "1m"})
    assert source.run_query(query) == 9850.0
    request = transport.requests[0]
    assert (request.method, request.url) == ("POST", "http://oap:12800/graphql")
    sent = json.loads(request.body)
    assert sent["variables"] == {"duration": {"start": "2026-12-01 0957", "end": "2026-12-01 1000", "step": "MINUTE"}}
    # The value stays inside its GraphQL string; the GraphQL variable $duration is left alone.
    assert 'serviceName: "canary|reviews|bookinfo|cp-cluster-1|-\\"}"' in sent["query"] and "duration: $duration" in sent["query"]


def test_a_placeholder_outside_quotes_must_be_a_name_or_number():
    source = skywalking.SkyWalkingSource(skywalking.validate_options(
        {"address": "http://oap:12800", "query": QUERY.replace('"$service"', "$service")}, "f"), None, "1m")
    with pytest.raises(TemplateError, match="outside quotes in the skywalking query"):
        source.render(None, {"service": "a|b", "interval": "1m"})
