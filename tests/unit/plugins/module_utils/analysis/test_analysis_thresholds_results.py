"""Threshold ranges and turning query results into one value."""

import math

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils.analysis.prometheus import QueryResult
from ansible_collections.progressive.delivery.plugins.module_utils.analysis.results import (
    NoDataError, ResultShapeError, samples, single_value)
from ansible_collections.progressive.delivery.plugins.module_utils.analysis.thresholds import (
    ThresholdError, ThresholdRange, fmt_number)


@pytest.mark.parametrize("low,high,value,breach", [
    (99, None, 99.0, None),          # min is inclusive
    (99, None, 98.999, "min"),
    (None, 500, 500.0, None),        # max is inclusive
    (None, 500, 500.001, "max"),
    (1, 2, 1.5, None),
    (1, 2, 0.5, "min"),
    (1, 2, 2.5, "max"),
    (None, None, -1e9, None),
    (0, 0, 0.0, None),
    (99, None, float("-inf"), "min"),
    (None, 500, float("inf"), "max"),
])
def test_breach(low, high, value, breach):
    assert ThresholdRange(low, high).breach(value) == breach


def test_min_above_max_is_refused_naming_the_field():
    with pytest.raises(ThresholdError, match=r"metrics\[0\].threshold_range.min \(10\) is greater than .*max \(5\)"):
        ThresholdRange(10, 5, field="metrics[0].threshold_range")


@pytest.mark.parametrize("option,message", [
    ("99", "dictionary"),
    ({"min": "abc"}, "threshold_range.min must be a number"),
    ({"min": True}, "threshold_range.min must be a number"),
    ({"minimum": 1}, "unknown key"),
])
def test_bad_options(option, message):
    with pytest.raises(ThresholdError, match=message):
        ThresholdRange.from_option(option)


def test_from_option_accepts_strings_of_numbers_and_none():
    assert ThresholdRange.from_option({"min": "99.5"}).to_dict() == {"min": 99.5, "max": None}
    assert ThresholdRange.from_option(None).empty


@pytest.mark.parametrize("value,text", [(99, "99"), (99.5, "99.5"), (0.001, "0.001"), (1e21, "1e+21"), (-3, "-3")])
def test_fmt_number_like_go_v(value, text):
    assert fmt_number(value) == text


def test_single_value_of_a_scalar_and_a_one_series_vector():
    assert single_value(QueryResult("scalar", [1.0, "42.5"])) == 42.5
    assert single_value(QueryResult("vector", [{"metric": {}, "value": [1.0, "80"]}])) == 80.0


def test_empty_vector_and_nan_are_no_data():
    with pytest.raises(NoDataError) as err:
        single_value(QueryResult("vector", []))
    assert err.value.reason == "empty"
    with pytest.raises(NoDataError) as err:
        single_value(QueryResult("vector", [{"metric": {}, "value": [1.0, "NaN"]}]))
    assert err.value.reason == "nan"
    with pytest.raises(NoDataError):
        single_value(QueryResult("scalar", [1.0, "NaN"]))


def test_infinities_are_values():
    assert single_value(QueryResult("vector", [{"metric": {}, "value": [1.0, "+Inf"]}])) == float("inf")


def test_several_series_is_an_error_listing_their_labels():
    result = QueryResult("vector", [
        {"metric": {"destination_workload": "podinfo"}, "value": [1.0, "99"]},
        {"metric": {"destination_workload": "podinfo-primary", "__name__": "x"}, "value": [1.0, "50"]},
    ])
    with pytest.raises(ResultShapeError) as err:
        single_value(result)
    text = str(err.value)
    assert "2 series" in text
    assert '{destination_workload="podinfo"} = 99' in text
    assert 'x{destination_workload="podinfo-primary"} = 50' in text


def test_matrix_and_string_are_shape_errors():
    with pytest.raises(ResultShapeError, match="range vector"):
        single_value(QueryResult("matrix", [{"metric": {}, "values": [[1, "1"]]}]))
    with pytest.raises(ResultShapeError, match="string"):
        single_value(QueryResult("string", [1, "x"]))


def test_non_numeric_sample_is_a_shape_error():
    with pytest.raises(ResultShapeError, match="not a number"):
        single_value(QueryResult("vector", [{"metric": {}, "value": [1.0, "abc"]}]))


def test_samples_keep_labels_and_convert_values():
    out = samples(QueryResult("vector", [{"metric": {"a": "1"}, "value": [10.5, "NaN"]}, {"metric": {"a": "2"}, "value": [10.5, "3"]}]))
    assert out[1] == {"metric": {"a": "2"}, "value": 3.0, "timestamp": 10.5}
    assert math.isnan(out[0]["value"])
    assert samples(QueryResult("scalar", [2.0, "7"])) == [{"metric": {}, "value": 7.0, "timestamp": 2.0}]
    assert samples(QueryResult("matrix", [{"metric": {"a": "1"}, "values": [[1, "2"], [2, "3"]]}])) == [
        {"metric": {"a": "1"}, "values": [[1.0, 2.0], [2.0, 3.0]]}]
