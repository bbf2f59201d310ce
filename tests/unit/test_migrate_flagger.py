"""A Flagger Canary becomes the rollout role's variables; what is not carried over is named in the warnings."""

import copy

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.progressive.delivery.plugins.filter.migrate import flagger_canary_vars
from ansible_collections.progressive.delivery.plugins.module_utils.migrate import flagger

from test_migrate_common import fixture, validate_as_the_role_does

TEAMS = {"flagger/on-call-msteams": {"type": "msteams", "address": "https://outlook.office.com/webhook/on-call"}}
LOAD_TESTER = "http://flagger-loadtester.test/"


def test_the_tutorial_canary_is_carried_over_whole():
    result = flagger_canary_vars(fixture("flagger-tutorial-canary.yaml"))
    assert result["warnings"] == []
    assert result["vars"] == {
        "rollout_target": "podinfo",
        "rollout_namespace": "test",
        "rollout_autoscaler": "podinfo",
        "rollout_progress_deadline_seconds": 60,
        "rollout_strategy": "canary",
        "rollout_service": {
            "port": 9898,
            "target_port": 9898,
            "gateways": ["public-gateway.istio-system.svc.cluster.local"],
            "hosts": ["app.example.com"],
            "traffic_policy": {"tls": {"mode": "DISABLE"}},
            "retries": {"attempts": 3, "perTryTimeout": "1s", "retryOn": "gateway-error,connect-failure,refused-stream"},
        },
        "rollout_analysis": {
            "interval": "1m",
            "threshold": 5,
            "max_weight": 50,
            "step_weight": 10,
            "metrics": [
                {"name": "request-success-rate", "threshold_range": {"min": 99}, "interval": "1m"},
                {"name": "request-duration", "threshold_range": {"max": 500}, "interval": "30s"},
            ],
        },
        "rollout_webhooks": [
            {"name": "acceptance-test", "type": "pre-rollout", "url": LOAD_TESTER, "timeout": "30s",
             "metadata": {"type": "bash", "cmd": "curl -sd 'test' http://podinfo-canary:9898/token | grep token"}},
            {"name": "load-test", "type": "rollout", "url": LOAD_TESTER, "timeout": "5s",
             "metadata": {"cmd": "hey -z 1m -q 10 -c 2 http://podinfo-canary.test:9898/"}},
        ],
    }


def test_the_tutorial_canary_passes_the_roles_validation_with_flaggers_schedule():
    migrated = flagger_canary_vars(fixture("flagger-tutorial-canary.yaml"))["vars"]
    settings = validate_as_the_role_does(migrated)
    assert (settings["strategy"], settings["schedule"], settings["threshold"]) == ("canary", [10, 20, 30, 40, 50], 5)
    assert [metric["name"] for metric in settings["metrics"]] == ["request-success-rate", "request-duration"]
    assert settings["progress_deadline_seconds"] == 60


def test_an_ab_test_with_templates_alerts_and_unsupported_fields():
    result = flagger.canary_vars(fixture("flagger-ab-canary.yaml"), [fixture("flagger-metric-template.yaml")], TEAMS)
    variables = result["vars"]
    assert variables["rollout_strategy"] == "ab_testing"
    assert variables["rollout_service"] == {"port": 80, "target_port": 9898, "timeout": "5s"}
    analysis = dict(variables["rollout_analysis"])
    not_found = analysis.pop("metrics")[1]
    assert analysis == {
        "interval": "10s",
        "threshold": 10,
        "iterations": 10,
        "match": [{"headers": {"x-canary": {"regex": ".*insider.*"}}},
                  {"headers": {"cookie": {"regex": "^(.*?;)?(canary=always)(;.*)?$"}}}],
        "session_affinity": {"cookie_name": "flagger-cookie", "max_age": 21600},
    }
    assert [m["name"] for m in variables["rollout_analysis"]["metrics"]] == ["request-success-rate", "404s percentage"]
    # the template's query, with Flagger's placeholders in the form Jinja leaves alone and the template variable written in
    assert set(not_found) == {"name", "threshold_range", "interval", "query"}
    assert (not_found["threshold_range"], not_found["interval"]) == ({"max": 5}, "1m")
    assert "{{" not in not_found["query"] and 'response_code!="404"' in not_found["query"]
    assert not_found["query"].count('destination_workload_namespace="${namespace}"') == 2
    assert not_found["query"].count("[${interval}]") == 2
    assert variables["rollout_prometheus"] == {"url": "http://prometheus.istio-system:9090"}
    assert variables["rollout_webhooks"] == [
        {"name": "load-test", "type": "rollout", "url": LOAD_TESTER, "timeout": "5s",
         "metadata": {"cmd": "hey -z 1m -q 10 -c 2 -H 'Cookie: canary=always' http://abtest.test/"}},
        {"name": "gate", "type": "confirm-promotion", "url": LOAD_TESTER + "gate/check"},
        {"name": "announce", "type": "event", "url": "http://event-recorder.test/"},
    ]
    assert variables["rollout_alerts"] == [
        {"name": "on-call", "provider": "msteams", "url": "https://outlook.office.com/webhook/on-call", "severity": "error"}]
    assert result["warnings"] == [
        "spec.service.portDiscovery: not supported by the rollout role; not migrated",
        "spec.service.match: not supported by the rollout role; not migrated",
        "spec.service.rewrite: not supported by the rollout role; not migrated",
        "spec.analysis.metrics[2].templateRef: MetricTemplate test/latency was not given: pass its manifest to the filter "
        "(metric_templates=...) to migrate its query; not migrated",
        "spec.analysis.primaryReadyThreshold: not supported by the rollout role; not migrated",
        "spec.analysis.webhooks[2].muteAlert: not supported by the rollout role; not migrated",
        "spec.analysis.alerts[1].providerRef: AlertProvider test/dev-slack is unresolved: give it to the filter "
        "(alert_providers={'dev-slack': {provider: slack, url: ...}}); not migrated",
    ]


def test_the_ab_test_passes_the_roles_validation():
    migrated = flagger.canary_vars(fixture("flagger-ab-canary.yaml"), [fixture("flagger-metric-template.yaml")], TEAMS)["vars"]
    settings = validate_as_the_role_does(migrated)
    assert settings["strategy"] == "ab_testing"
    assert [step.get("iteration") for step in settings["steps"]] == list(range(11))
    assert settings["steps"][0]["session_affinity"]["cookie_name"] == "flagger-cookie"
    assert settings["prometheus"] == {"url": "http://prometheus.istio-system:9090"}


def test_templates_and_providers_left_out_are_warned_and_not_migrated():
    result = flagger.canary_vars(fixture("flagger-ab-canary.yaml"))
    assert [m["name"] for m in result["vars"]["rollout_analysis"]["metrics"]] == ["request-success-rate"]
    assert "rollout_alerts" not in result["vars"] and "rollout_prometheus" not in result["vars"]
    assert [w.split(":")[0] for w in result["warnings"] if "templateRef" in w or "providerRef" in w] == [
        "spec.analysis.metrics[1].templateRef", "spec.analysis.metrics[2].templateRef",
        "spec.analysis.alerts[0].providerRef", "spec.analysis.alerts[1].providerRef"]
    assert "MetricTemplate istio-system/not-found-percentage was not given" in result["warnings"][3]


def test_a_slack_provider_by_name_keeps_its_channel_and_the_default_severity():
    providers = {"dev-slack": {"provider": "slack", "url": "https://hooks.slack.com/services/x", "channel": "#dev"}}
    alerts = flagger.canary_vars(fixture("flagger-ab-canary.yaml"), alert_providers=providers)["vars"]["rollout_alerts"]
    assert alerts == [{"name": "dev team", "provider": "slack", "url": "https://hooks.slack.com/services/x", "severity": "info",
                       "channel": "#dev"}]


def test_a_provider_the_role_cannot_post_to_is_warned():
    providers = {"dev-slack": {"provider": "pagerduty", "url": "https://events.pagerduty.com/x"}}
    warnings = flagger.canary_vars(fixture("flagger-ab-canary.yaml"), alert_providers=providers)["warnings"]
    assert warnings[-1].startswith("spec.analysis.alerts[1].providerRef: AlertProvider dev-slack is of type 'pagerduty'; "
                                   "the rollout role posts to discord, gchat, generic, msteams, rocket, slack")


def test_flaggers_defaults_are_written_where_the_roles_differ():
    canary = {"apiVersion": "flagger.app/v1beta1", "kind": "Canary", "metadata": {"name": "podinfo", "namespace": "test"},
              "spec": {"targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"}, "analysis": {"stepWeight": 25}}}
    result = flagger.canary_vars(canary)
    assert result == {"vars": {"rollout_target": "podinfo", "rollout_namespace": "test", "rollout_strategy": "canary",
                               "rollout_analysis": {"step_weight": 25, "max_weight": 100, "threshold": 1, "metrics": []}},
                      "warnings": []}
    settings = validate_as_the_role_does(result["vars"])
    assert (settings["schedule"], settings["threshold"], settings["metrics"]) == ([25, 50, 75, 100], 1, [])


def test_blue_green_with_mirroring_and_a_template_of_another_provider():
    canary = fixture("flagger-tutorial-canary.yaml")
    analysis = canary["spec"]["analysis"]
    for key in ("maxWeight", "stepWeight"):
        del analysis[key]
    analysis.update(iterations=10, mirror=True, mirrorWeight=20)
    analysis["metrics"].append({"name": "errors", "templateRef": {"name": "errors"}, "thresholdRange": {"max": 1}})
    datadog = {"apiVersion": "flagger.app/v1beta1", "kind": "MetricTemplate", "metadata": {"name": "errors", "namespace": "test"},
               "spec": {"provider": {"type": "datadog", "secretRef": {"name": "datadog"}}, "query": "sum:errors{*}"}}
    result = flagger.canary_vars(canary, datadog)
    analysis = result["vars"]["rollout_analysis"]
    assert result["vars"]["rollout_strategy"] == "blue_green_mirroring"
    assert (analysis["iterations"], analysis["mirror"], analysis["mirror_weight"]) == (10, True, 20)
    assert "max_weight" not in analysis  # Blue/Green has no weights to default
    assert result["warnings"] == ["spec.analysis.metrics[2].templateRef: MetricTemplate test/errors uses the datadog provider; "
                                  "the rollout role queries Prometheus only; not migrated"]
    assert validate_as_the_role_does(result["vars"])["strategy"] == "blue_green_mirroring"


def test_the_namespace_argument_wins_and_fills_a_canary_without_one():
    canary = fixture("flagger-tutorial-canary.yaml")
    del canary["metadata"]["namespace"]
    assert flagger.canary_vars(canary, namespace="prod")["vars"]["rollout_namespace"] == "prod"
    with pytest.raises(AnsibleFilterError, match=r"flagger_canary_vars: metadata\.namespace is missing from the Canary: add it "
                                                 r"to the manifest, or give the namespace to the filter \(namespace='test'\)"):
        flagger_canary_vars(canary)


@pytest.mark.parametrize("change, message", [
    (lambda c: c.update(kind="Deployment"), r"expected a Flagger Canary \(apiVersion flagger\.app/\.\.\., kind Canary\), got "
                                            r"apiVersion 'flagger\.app/v1beta1', kind 'Deployment'; give the Canary's manifest"),
    (lambda c: c.update(apiVersion="flagger.app/v1alpha3"), r"apiVersion flagger\.app/v1alpha3: only flagger\.app/v1beta1 Canaries "
                                                            r"are migrated; convert it first"),
    (lambda c: c["spec"]["targetRef"].pop("name"), r"spec\.targetRef\.name is required: the name of the Deployment to roll out"),
    (lambda c: c["spec"].pop("targetRef"), r"spec\.targetRef\.name is required"),
    (lambda c: c["spec"]["targetRef"].update(kind="DaemonSet"), r"spec\.targetRef\.kind DaemonSet: the rollout role rolls out "
                                                                r"Deployments only"),
    (lambda c: c["spec"]["analysis"]["webhooks"][1].pop("url"), r"spec\.analysis\.webhooks\[1\]\.url is required"),
    (lambda c: c["spec"]["analysis"]["webhooks"][1].update(type="pre-deploy"),
     r"spec\.analysis\.webhooks\[1\]\.type 'pre-deploy' is not one of Flagger's webhook types"),
    (lambda c: c["spec"]["analysis"].update(match=[{"headers": {"x-canary": {"exact": "1"}}}]),
     r"spec\.analysis: match needs iterations"),
])
def test_invalid_canaries_fail_naming_the_field(change, message):
    canary = copy.deepcopy(fixture("flagger-tutorial-canary.yaml"))
    change(canary)
    with pytest.raises(AnsibleFilterError, match="flagger_canary_vars: " + message):
        flagger_canary_vars(canary)


def test_something_that_is_not_a_manifest_fails_with_an_example():
    with pytest.raises(AnsibleFilterError, match=r"expected a Flagger Canary manifest \(a mapping, for example the result of "
                                                 r"from_yaml\), got 'kind: Canary'"):
        flagger_canary_vars("kind: Canary")


def test_the_migrated_query_survives_ansibles_templating_from_a_vars_file():
    """Migrated variables saved to a vars file are templated when loaded (-e @file): a query kept with Flagger's
    {{ namespace }} would be rendered there, with the play's variables, before the role ever sees it."""
    import yaml
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar, trust_as_template

    migrated = flagger.canary_vars(fixture("flagger-ab-canary.yaml"), fixture("flagger-metric-template.yaml"))["vars"]
    query = yaml.safe_load(yaml.safe_dump(migrated))["rollout_analysis"]["metrics"][1]["query"]
    play_variables = {"namespace": "the play's namespace", "target": "x", "interval": "1m", "variables": {"code": "500"}}
    templar = Templar(loader=DataLoader(), variables=play_variables)
    assert templar.template(trust_as_template(query)) == migrated["rollout_analysis"]["metrics"][1]["query"]
    flagger_form = fixture("flagger-metric-template.yaml")["spec"]["query"]
    assert "the play's namespace" in templar.template(trust_as_template(flagger_form))  # what the rewrite avoids


def test_the_tutorial_service_passes_the_istio_routers_checks():
    """canary_init checks the route's options before it writes anything; the migrated ones pass them."""
    from ansible_collections.progressive.delivery.plugins.module_utils.routing import istio

    service = flagger_canary_vars(fixture("flagger-tutorial-canary.yaml"))["vars"]["rollout_service"]
    assert istio.validate_gateways(service["gateways"], "rollout_service.gateways") == service["gateways"]
    istio.validate_hosts(service["hosts"], "rollout_service.hosts")
    istio.validate_http_retry(service["retries"], "rollout_service.retries")
    istio.validate_traffic_policy(service["traffic_policy"], "rollout_service.traffic_policy")


def test_a_template_variable_the_canary_does_not_set_is_warned():
    canary = fixture("flagger-ab-canary.yaml")
    del canary["spec"]["analysis"]["metrics"][1]["templateVariables"]
    result = flagger.canary_vars(canary, fixture("flagger-metric-template.yaml"))
    assert [m["name"] for m in result["vars"]["rollout_analysis"]["metrics"]] == ["request-success-rate"]
    assert result["warnings"][3] == ("spec.analysis.metrics[1]: the query's placeholders variables.code are not template "
                                     "variables the role knows; not migrated")
