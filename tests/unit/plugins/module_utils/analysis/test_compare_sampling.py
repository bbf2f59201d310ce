"""Building and running a canary-versus-primary comparison with a fake range-query client (no network)."""

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils.analysis import providers, sampling
from ansible_collections.progressive.delivery.plugins.module_utils.analysis.compare import CompareConfigError
from ansible_collections.progressive.delivery.plugins.module_utils.analysis.prometheus import PrometheusAPIError, QueryResult


def params(**kwargs):
    base = dict(provider="istio", target="podinfo", namespace="test", window="1m", step="10s", interval=None, end="1000",
                variables={}, confidence=0.98, min_samples=5, thresholds={"pass": 95, "marginal": 75}, on_no_data="fail",
                metrics=[{"name": "request-duration"}, {"name": "request-success-rate"}])
    base.update(kwargs)
    return base


def matrix(*series):
    return QueryResult("matrix", [{"metric": labels, "values": [[1000 - 10 * i, str(v)] for i, v in enumerate(values)]}
                                  for labels, values in series])


class FakeClient(object):
    """Answers a range query by the first key found in it; records every call."""

    def __init__(self, answers):
        self.answers = answers
        self.calls = []

    def query_range(self, expr, start=None, end=None, step=None, window=None):
        self.calls.append({"expr": expr, "start": start, "end": end, "step": step})
        for key, answer in self.answers.items():
            if key in expr:
                if isinstance(answer, Exception):
                    raise answer
                return answer
        return QueryResult("matrix", [])


CANARY = 'destination_workload=~"podinfo"'
PRIMARY = 'destination_workload=~"podinfo-primary"'


def test_builtins_render_each_side_with_its_workload_and_the_same_range():
    comparison = sampling.build_comparison(params())
    client = FakeClient({PRIMARY: matrix(({}, [1, 2, 3, 4, 5, 6, 7])), CANARY: matrix(({}, [1, 2, 3, 4, 5, 6, 7]))})
    report = sampling.run_comparison(client, comparison)
    assert [c["start"] for c in client.calls] == [940.0] * 4 and [c["end"] for c in client.calls] == [1000.0] * 4
    assert [c["step"] for c in client.calls] == ["10s"] * 4
    assert "[10s]" in client.calls[0]["expr"]                      # interval defaults to step
    assert report["verdict"] == "Pass" and report["score"] == 100.0
    duration = report["metrics"][0]
    assert duration["template"] == "request-duration" and duration["direction"] == "increase"
    assert report["metrics"][1]["direction"] == "decrease"
    assert duration["canary"]["values"] == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
    assert report["window"] == {"start": 940.0, "end": 1000.0, "window": "1m", "step": "10s"}
    assert (report["canary_workload"], report["primary_workload"]) == ("podinfo", "podinfo-primary")
    assert duration["message"].startswith("request duration canary 4.00ms vs primary 4.00ms (medians): Pass - no significant")


def test_missing_primary_series_is_nodata():
    client = FakeClient({PRIMARY: QueryResult("matrix", []), CANARY: matrix(({}, [1, 2, 3, 4, 5, 6]))})
    report = sampling.run_comparison(client, sampling.build_comparison(params(metrics=[{"name": "request-duration"}])))
    metric = report["metrics"][0]
    assert metric["classification"] == "NoData" and metric["primary"]["values"] is None and metric["primary"]["series"] is False
    assert report["verdict"] == "Fail" and sampling.summary(report).startswith("canary versus primary: Fail, score 0")
    assert "request duration: NoData - the primary has no series" in sampling.summary(report)


def test_nan_samples_are_dropped():
    client = FakeClient({PRIMARY: matrix(({}, [1, 2, 3, 4, 5, 6])), CANARY: matrix(({}, ["NaN", 1, 2, 3, 4, 5, 6]))})
    report = sampling.run_comparison(client, sampling.build_comparison(params(metrics=[{"name": "request-duration"}])))
    assert report["metrics"][0]["canary"]["dropped"] == 1 and report["metrics"][0]["canary"]["samples"] == 6


def test_several_series_and_query_errors_name_the_metric_and_side():
    client = FakeClient({PRIMARY: matrix(({"pod": "a"}, [1]), ({"pod": "b"}, [2])), CANARY: matrix(({}, [1]))})
    with pytest.raises(sampling.CompareError, match=r'metric request-duration \(primary\): the query returned 2 series .*\{pod="a"\}'):
        sampling.run_comparison(client, sampling.build_comparison(params(metrics=[{"name": "request-duration"}])))
    client = FakeClient({CANARY: PrometheusAPIError("Prometheus rejected the query (bad_data): parse error")})
    with pytest.raises(sampling.CompareError, match=r"metric request-duration \(canary\): Prometheus rejected"):
        sampling.run_comparison(client, sampling.build_comparison(params(metrics=[{"name": "request-duration"}])))


def test_custom_query_and_explicit_primary():
    comparison = sampling.build_comparison(params(primary="podinfo-v1", metrics=[
        {"name": "rate", "query": 'sum(rate(x{w="$target",n="$namespace"}[$interval]))', "interval": "30s", "critical": True,
         "weight": 2, "confidence": 0.9, "effect_size": {"measure": "hodges_lehmann", "allowed_increase": 3, "allowed_decrease": None}}]))
    client = FakeClient({'w="podinfo-v1"': matrix(({}, [1, 2, 3, 4, 5])), 'w="podinfo"': matrix(({}, [1, 2, 3, 4, 5]))})
    report = sampling.run_comparison(client, comparison)
    metric = report["metrics"][0]
    assert metric["queries"] == {"canary": 'sum(rate(x{w="podinfo",n="test"}[30s]))', "primary": 'sum(rate(x{w="podinfo-v1",n="test"}[30s]))'}
    assert (metric["direction"], metric["critical"], metric["weight"], metric["confidence"]) == ("either", True, 2.0, 0.9)
    assert metric["effect_size"] == {"measure": "hodges_lehmann", "allowed_increase": 3.0, "allowed_decrease": 0.0}


def test_end_defaults_to_now():
    client = FakeClient({})
    report = sampling.run_comparison(client, sampling.build_comparison(params(end=None, metrics=[{"name": "request-duration"}])), now=5000.0)
    assert report["window"]["end"] == 5000.0 and report["window"]["start"] == 4940.0


@pytest.mark.parametrize("kwargs,message", [
    (dict(confidence=0), "confidence 0 is outside (0, 1)"),
    (dict(thresholds={"pass": 10, "marginal": 20}), "thresholds.pass (10) is below thresholds.marginal (20)"),
    (dict(metrics=[{"name": "request-duration", "direction": "up"}]), "metrics[0] (request-duration).direction 'up' is not known"),
    (dict(metrics=[{"name": "request-duration", "weight": -1}]), "metrics[0] (request-duration).weight -1 is negative"),
    (dict(metrics=[{"name": "request-duration", "confidence": 2}]), "metrics[0] (request-duration).confidence 2 is outside (0, 1)"),
    (dict(metrics=[]), "metrics is empty"),
    (dict(metrics=[{"name": "a", "query": "x"}, {"name": "a", "query": "y"}]), "metrics[1].name 'a' is used twice"),
    (dict(metrics=[{"name": "a", "query": "x", "template": "request-duration"}]), "give either query or template, not both"),
    (dict(metrics=[{"query": "x"}]), "metrics[0].name is required"),
    (dict(provider="envoy"), "'request-duration' is not a builtin envoy comparison metric (builtins: none)"),
    (dict(provider="linkerd"), "unknown metrics provider 'linkerd'"),
    (dict(step="10 s"), "step '10 s' is not a Prometheus duration"),
    (dict(window="5s", step="10s"), "window 5s is shorter than step 10s"),
    (dict(window="2h", step="1s"), "gives 7201 samples per side, more than the 1000 judged: use a longer step"),
    (dict(end="soon"), "end 'soon' is neither a Unix timestamp nor an RFC 3339 time"),
    (dict(primary="podinfo"), "primary 'podinfo' is the target itself"),
    (dict(target=None), "target is required"),
    (dict(min_samples=0), "min_samples must be a whole number of samples, 1 or more"),
    (dict(on_no_data="ignore"), "on_no_data must be one of fail, pass, skip"),
    (dict(metrics=[{"name": "request-duration", "effect_size": {"measure": "hodges_lehmann", "allowed_increase": -1}}]),
     "metrics[0] (request-duration).effect_size.allowed_increase -1 is negative"),
])
def test_bad_options(kwargs, message):
    with pytest.raises(CompareConfigError) as err:
        sampling.build_comparison(params(**kwargs))
    assert message in str(err.value)


def test_compare_templates_per_provider():
    istio = providers.compare_templates("istio")
    assert sorted(istio) == ["request-duration", "request-success-rate"]
    assert (istio["request-duration"].direction, istio["request-success-rate"].direction) == ("increase", "decrease")
    assert istio["request-duration"].query == providers.builtin_templates("istio")["request-duration"].query
    assert providers.compare_templates("envoy") == {}
    with pytest.raises(KeyError, match="unknown metrics provider"):
        providers.compare_templates("nope")
