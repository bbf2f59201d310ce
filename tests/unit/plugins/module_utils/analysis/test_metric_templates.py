"""analysis/templates.py: metric templates (Flagger's MetricTemplate + templateRef/templateVariables, Argo's
AnalysisTemplate args) resolved into the metric entries checks.build_checks accepts; every bad input names
the field and the fix; Secret credentials merged in and returned for masking."""

import base64

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils.analysis import checks, templates as mt
from ansible_collections.progressive.delivery.plugins.module_utils.analysis.prometheus import QueryResult

SW_QUERY = ('query q($duration: Duration!) { m: readMetricsValues(condition: {name: "service_apdex", entity: {scope: Service, '
            'serviceName: "$service_name", normal: true}}, duration: $duration) { values { values { value isEmptyValue } } } }')
TEMPLATES = {
    "error-rate": {"provider": {"type": "prometheus"}, "variables": {"code": "5.."},
                   "query": 'sum(rate(http_requests_total{app="$target",status=~"$code"}[$interval]))'},
    "json-errors": {"provider": {"type": "web", "address": "http://metrics.test:8080", "secret_ref": {"name": "web-creds"}},
                    "web": {"url": "/api/errors?app=$target&route=$route", "json_path": "data.errorRate"}, "variables": {"route": None}},
    "apdex": {"provider": {"type": "skywalking", "secret_ref": {"name": "oap"}, "insecure_skip_verify": True},
              "skywalking": {"aggregate": "min", "interval": "3m"}, "query": SW_QUERY, "variables": {"service_name": None}},
}


def template_set(extra=()):
    return mt.TemplateSet(mt.parse_templates(TEMPLATES, "rollout_metric_templates") + list(extra))


def resolve(spec, index=0, tset=None, strict=True):
    return mt.resolve_metric(spec, index, tset or template_set(), "test", field="metrics", strict=strict)


def secret(**data):
    return {"metadata": {"name": "s", "namespace": "test"},
            "data": dict((k, base64.b64encode(v.encode()).decode()) for k, v in data.items())}


def test_a_prometheus_template_becomes_a_query_with_its_variables_and_renders_escaped():
    entry, template = resolve({"name": "errors", "template_ref": {"name": "error-rate"}, "template_variables": {"code": '4.."'},
                               "threshold_range": {"max": 1}})
    assert template["type"] == "prometheus"
    assert entry == {"name": "errors", "query": TEMPLATES["error-rate"]["query"], "variables": {"code": '4.."'}, "threshold_range": {"max": 1}}
    built = checks.build_checks("istio", [entry], "1m")

    class Client(object):
        asked = []

        def query(self, promql):
            self.asked.append(promql)
            return QueryResult("vector", [{"metric": {}, "value": [0, "0.5"]}])

    report = checks.run_checks(Client(), built, checks.template_variables("istio", "podinfo", "test", "1m"))
    assert report["passed"], report
    # the template's variable is escaped for its place (a regex matcher) like a builtin one
    assert Client.asked == ['sum(rate(http_requests_total{app="podinfo",status=~"4\\\\.\\\\.\\""}[1m]))']


def test_template_defaults_apply_and_a_metric_keeps_its_own_interval():
    entry, template = resolve({"name": "errors", "template_ref": "error-rate", "interval": "2m"})
    assert template["origin"] == "rollout_metric_templates.error-rate"
    assert entry["variables"] == {"code": "5.."} and entry["interval"] == "2m"


def test_a_web_template_joins_the_address_and_takes_the_token_of_its_secret():
    entry, template = resolve({"name": "e", "template_ref": {"name": "json-errors"}, "template_variables": {"route": "/api"}})
    entry, connection, secrets = mt.apply_secret(entry, template, mt.decode_secret(secret(token="s3cr3t")), "metrics[0] (e)", "test")
    assert connection is None
    assert entry["web"]["url"] == "http://metrics.test:8080/api/errors?app=$target&route=$route"
    assert entry["web"]["headers"] == {"Authorization": "Bearer s3cr3t"} and entry["web"]["validate_certs"] is True
    assert "s3cr3t" in secrets and "Bearer s3cr3t" in secrets
    built = checks.build_checks("istio", [entry], "1m")
    assert built[0].source == "web" and built[0].variables == {"route": "/api"}


def test_a_skywalking_template_takes_address_and_basic_credentials_from_its_secret():
    entry, template = resolve({"name": "apdex", "template_ref": {"name": "apdex"}, "template_variables": {"service_name": "canary|r|b|-"}})
    data = mt.decode_secret(secret(address="http://oap.sw:12800", username="u", password="p"))
    entry, connection, secrets = mt.apply_secret(entry, template, data, "metrics[0] (apdex)", "test")
    assert connection is None    # only a Prometheus template gives a Prometheus connection
    options = entry["skywalking"]
    assert options["address"] == "http://oap.sw:12800" and options["validate_certs"] is False and options["aggregate"] == "min"
    assert options["headers"]["Authorization"] == "Basic " + base64.b64encode(b"u:p").decode()
    assert "p" in secrets and options["headers"]["Authorization"] in secrets
    built = checks.build_checks("istio", [entry], "1m")
    assert built[0].source_options["url"] == "http://oap.sw:12800/graphql" and built[0].source_options["interval"] == "3m"


def test_a_reference_to_a_template_that_does_not_exist_lists_the_known_ones():
    with pytest.raises(mt.MetricTemplateError) as err:
        resolve({"name": "x", "template_ref": {"name": "eror-rate"}}, index=2)
    assert str(err.value).startswith("metrics[2] (x): metrics[2].template_ref names the metric template eror-rate, which does not exist "
                                     "(known templates: apdex, error-rate, json-errors)")
    assert resolve({"name": "x", "template_ref": {"name": "elsewhere"}}, strict=False) == (None, None)


def test_a_namespaced_reference_finds_only_that_namespace_and_an_unnamespaced_one_the_task_namespace():
    cm = {"metadata": {"name": "shared", "namespace": "ops"},
          "data": {"ops-rate.yaml": "provider: {type: prometheus}\nquery: vector(1)\n", "README": "not a template"}}
    found = mt.templates_from_configmap(cm, "metric_template_configmaps[0]")
    assert [(t["namespace"], t["name"]) for t in found] == [("ops", "ops-rate")]
    tset = template_set(found)
    assert resolve({"name": "x", "template_ref": {"name": "ops-rate", "namespace": "ops"}}, tset=tset)[1]["name"] == "ops-rate"
    with pytest.raises(mt.MetricTemplateError, match="which does not exist .*ops/ops-rate"):
        resolve({"name": "x", "template_ref": {"name": "ops-rate"}}, tset=tset)


@pytest.mark.parametrize("source", [{"query": "vector(1)"}, {"web": {"url": "http://x.test"}}, {"template": "request-duration"}])
def test_two_providers_for_one_metric(source):
    spec = dict({"name": "x", "template_ref": {"name": "error-rate"}}, **source)
    with pytest.raises(mt.MetricTemplateError) as err:
        resolve(spec, index=1)
    key = list(source)[0]
    assert str(err.value) == ("metrics[1] (x): give one metrics source, not metrics[1].template_ref and metrics[1].%s: the template "
                              "defines the source; remove metrics[1].%s" % (key, key))


def test_a_template_variable_missing_or_unknown_is_named():
    with pytest.raises(mt.MetricTemplateError) as err:
        resolve({"name": "apdex", "template_ref": {"name": "apdex"}})
    assert str(err.value) == ("metrics[0] (apdex): template apdex needs the variable service_name: set "
                              "metrics[0].template_variables.service_name")
    with pytest.raises(mt.MetricTemplateError) as err:
        resolve({"name": "apdex", "template_ref": {"name": "apdex"}, "template_variables": {"service_name": "s", "servce": "t"}})
    assert "metrics[0].template_variables.servce is not a variable of template apdex (its variables: service_name)" in str(err.value)


def test_a_secret_missing_or_lacking_its_keys():
    entry, template = resolve({"name": "apdex", "template_ref": {"name": "apdex"}, "template_variables": {"service_name": "s"}})
    with pytest.raises(mt.MetricTemplateError) as err:
        mt.apply_secret(entry, template, None, "metrics[0] (apdex)", "test")
    assert str(err.value) == ("metrics[0] (apdex): Secret test/oap (provider.secret_ref of template apdex, rollout_metric_templates.apdex) "
                              "does not exist; create it with one or more of the keys address, token, username, password, headers")
    with pytest.raises(mt.MetricTemplateError, match="lacks the keys of a metrics provider: .* \\(it has apikey\\)"):
        mt.apply_secret(entry, template, {"apikey": "x"}, "metrics[0] (apdex)", "test")
    with pytest.raises(mt.MetricTemplateError, match="has the key username but lacks the key password"):
        mt.apply_secret(entry, template, {"username": "u", "address": "http://oap:12800"}, "metrics[0] (apdex)", "test")
    with pytest.raises(mt.MetricTemplateError) as err:
        mt.apply_secret(entry, template, {"address": "oap-secret-host:12800"}, "metrics[0] (apdex)", "test")
    assert "the key address must be an http:// or https:// URL" in str(err.value) and "oap-secret-host" not in str(err.value)
    with pytest.raises(mt.MetricTemplateError, match="template apdex has no provider.address and its Secret lacks the key address"):
        mt.apply_secret(entry, template, {"token": "t"}, "metrics[0] (apdex)", "test")


@pytest.mark.parametrize("spec, words", [
    ({"provider": {"type": "graphite"}, "query": "x"}, "rollout_metric_templates.t.provider.type must be one of prometheus, web, skywalking"),
    ({"provider": {"type": "prometheus"}}, "rollout_metric_templates.t.query is required for provider.type prometheus"),
    ({"provider": {"type": "prometheus", "address": "prometheus:9090"}, "query": "x"}, "provider.address must be an http:// or https:// URL"),
    ({"provider": {"type": "web"}, "query": "x"}, "query is not used by provider.type web"),
    ({"provider": {"type": "prometheus"}, "query": "x", "web": {"url": "/x"}}, "web is for provider.type web"),
    ({"provider": {"type": "prometheus", "secret_ref": {}}, "query": "x"}, "provider.secret_ref.name is required"),
    ({"provider": {"type": "prometheus"}, "query": "x", "variables": {"target": "y"}}, "variables.target: target is a builtin variable"),
    ({"provider": {"type": "prometheus"}, "query": "x", "templateRef": 1}, "unknown key(s) templateRef"),
])
def test_bad_templates_name_the_field(spec, words):
    with pytest.raises(mt.MetricTemplateError) as err:
        mt.parse_templates({"t": spec}, "rollout_metric_templates")
    assert words in str(err.value)


def test_a_template_defined_twice_names_both_places():
    cm = {"metadata": {"name": "shared", "namespace": None}, "data": {"apdex.yaml": "provider: {type: prometheus}\nquery: vector(1)\n"}}
    with pytest.raises(mt.MetricTemplateError, match="template apdex is defined twice, in rollout_metric_templates.apdex and in ConfigMap"):
        template_set(mt.templates_from_configmap(cm, "metric_template_configmaps[0]"))


def test_configmap_yaml_errors_name_the_key():
    cm = {"metadata": {"name": "shared", "namespace": "ops"}, "data": {"bad.yaml": "provider: [\n"}}
    with pytest.raises(mt.MetricTemplateError, match="ConfigMap ops/shared key bad.yaml \\(metric_template_configmaps\\[0\\]\\) is not valid YAML"):
        mt.templates_from_configmap(cm, "metric_template_configmaps[0]")


def test_one_round_asks_one_prometheus():
    assert mt.prometheus_connection([("metrics[0] (a)", {"url": "http://p:9090", "bearer_token": "t"})], {"url": None})["bearer_token"] == "t"
    assert mt.prometheus_connection([("metrics[0] (a)", None)], {"url": "http://q:9090"}) == {"url": "http://q:9090"}
    with pytest.raises(mt.MetricTemplateError) as err:
        mt.prometheus_connection([("metrics[0] (a)", {"url": "http://p:9090"})], {"url": "http://q:9090"})
    assert str(err.value).startswith("metrics[0] (a) asks the Prometheus at http://p:9090, but prometheus.url (rollout_prometheus.url) is "
                                     "http://q:9090")


def test_configmap_refs_default_to_the_task_namespace():
    assert mt.parse_configmap_refs([{"name": "shared"}, "other"], "f", "test") == [
        {"name": "shared", "namespace": "test"}, {"name": "other", "namespace": "test"}]
    with pytest.raises(mt.MetricTemplateError, match="f\\[0\\].name is required"):
        mt.parse_configmap_refs([{"namespace": "x"}], "f", "test")
