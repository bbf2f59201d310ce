"""An Argo Rollouts Rollout becomes the rollout role's variables with Argo's steps; what is not carried over is
named in the warnings."""

import copy

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.progressive.delivery.plugins.filter.migrate import argo_rollout_vars
from ansible_collections.progressive.delivery.plugins.module_utils.migrate import argo

from test_migrate_common import fixture, validate_as_the_role_does

OWN_SERVICES = ("the rollout role creates and routes to its own Services <apex>-canary and <apex>-primary "
                "(apex: rollout_service.name); not migrated")
OWN_REPLICAS = "the rollout role scales the canary to the primary's replicas (or rollout_canary_replicas); not migrated"
ON_THE_DEPLOYMENT = "not migrated: the rollout role rolls out a Deployment, which carries this"
CANARY = "spec.strategy.canary"


def test_istio_host_level_steps_and_the_prometheus_analysis():
    result = argo_rollout_vars(fixture("argo-istio-host-rollout.yaml"), fixture("argo-success-rate-template.yaml"))
    service = "rollouts-demo-canary.default.svc.cluster.local"
    query = ('sum(irate(\n  istio_requests_total{reporter="source",destination_service=~"%s",response_code!~"5.*"}[5m]\n)) /\n'
             'sum(irate(\n  istio_requests_total{reporter="source",destination_service=~"%s"}[5m]\n))\n' % (service, service))
    assert result["vars"] == {
        "rollout_target": "rollouts-demo",
        "rollout_namespace": "default",
        "rollout_strategy": "steps",
        "rollout_progress_deadline_seconds": 300,
        "rollout_scale_down_delay": 45,
        "rollout_service": {"name": "rollouts-demo-vsvc", "adopt": True},
        "rollout_prometheus": {"url": "http://prometheus.example.com:9090"},
        "rollout_analysis": {
            "steps": [{"set_weight": 20}, {"pause": {}}, {"set_weight": 40}, {"pause": {"duration": 10}},
                      {"set_weight": 60}, {"pause": {"duration": "1m"}}, {"set_weight": 80}, {"pause": {"duration": "2m"}}],
            "metrics": [{"name": "success-rate", "query": query, "threshold_range": {"min": 0.95}, "interval": "5m"}],
            "interval": "5m",
            # Argo's failureLimit 3 (the others at Argo's defaults), and its total count kept by the threshold
            "failure_limit": 3,
            "inconclusive_limit": 0,
            "consecutive_error_limit": 4,
            "threshold": 4,
        },
    }
    assert result["warnings"] == [
        CANARY + ".canaryService: " + OWN_SERVICES,
        CANARY + ".stableService: " + OWN_SERVICES,
        CANARY + ".trafficRouting.istio.virtualService.routes: the rollout role writes its own routes into the adopted "
                 "VirtualService; not migrated",
    ]


def test_the_istio_rollout_passes_the_roles_validation_as_argos_steps():
    settings = validate_as_the_role_does(argo.rollout_vars(fixture("argo-istio-host-rollout.yaml"),
                                                           fixture("argo-success-rate-template.yaml"))["vars"])
    assert settings["strategy"] == "steps"
    assert settings["schedule"] == [20, 40, 60, 80]
    # each pause holds the step before it, rounded up to whole 5m intervals
    assert [step.get("pause") for step in settings["steps"]] == [
        {"indefinite": True}, {"duration": 10, "seconds": 10.0, "intervals": 1},
        {"duration": "1m", "seconds": 60.0, "intervals": 1}, {"duration": "2m", "seconds": 120.0, "intervals": 1}]
    assert settings["limits"] == {"failure_limit": 3, "inconclusive_limit": 0, "consecutive_error_limit": 4}
    assert settings["service"]["adopt"] is True


def test_the_gateway_api_rollout_of_seed_002():
    result = argo.rollout_vars(fixture("argo-gatewayapi-rollout.yaml"), namespace="default")
    assert result["vars"] == {
        "rollout_target": "web",
        "rollout_namespace": "default",
        "rollout_strategy": "steps",
        "rollout_analysis": {"steps": [{"set_weight": 50}, {"pause": {}}, {"set_weight": 100}], "metrics": []},
    }
    assert result["warnings"] == [
        "spec.workloadRef.scaleDown: not supported by the rollout role; not migrated",
        "spec.minReadySeconds: " + ON_THE_DEPLOYMENT,
        "spec.replicas: " + ON_THE_DEPLOYMENT,
        "spec.revisionHistoryLimit: " + ON_THE_DEPLOYMENT,
        "spec.selector: " + ON_THE_DEPLOYMENT,
        CANARY + ".canaryService: " + OWN_SERVICES,
        CANARY + ".maxSurge: " + OWN_REPLICAS,
        CANARY + ".maxUnavailable: " + OWN_REPLICAS,
        CANARY + ".stableService: " + OWN_SERVICES,
        CANARY + ".trafficRouting.plugins.argoproj-labs/gatewayAPI: the rollout role routes with Istio only (no router for "
                 "this plugin yet, Gateway API included); not migrated",
    ]
    settings = validate_as_the_role_does(result["vars"])
    assert (settings["schedule"], settings["steps"][0]["pause"], settings["metrics"]) == ([50, 100], {"indefinite": True}, [])


def test_the_skywalking_rollout_of_seed_003_is_warned_as_an_unsupported_provider():
    result = argo.rollout_vars(fixture("argo-skywalking-rollout.yaml"), [fixture("argo-skywalking-template.yaml")], "bookinfo")
    weights = [10, 20, 40, 60, 80]
    assert result["vars"] == {
        "rollout_target": "reviews",
        "rollout_namespace": "bookinfo",
        "rollout_strategy": "steps",
        "rollout_service": {"name": "reviews", "adopt": True},
        "rollout_analysis": {"steps": [step for weight in weights for step in ({"set_weight": weight}, {"pause": {"duration": "10m"}})],
                             "metrics": []},
    }
    assert result["warnings"] == [
        "spec.replicas: " + ON_THE_DEPLOYMENT,
        "spec.selector: " + ON_THE_DEPLOYMENT,
        CANARY + ".canaryMetadata: not supported by the rollout role; not migrated",
        CANARY + ".stableMetadata: not supported by the rollout role; not migrated",
        CANARY + ".trafficRouting.istio.destinationRule: subset-level routing (the DestinationRule's subsets) is not taken by "
                 "the rollout role yet, which routes host-level; not migrated",
        CANARY + ".analysis.startingStep: the rollout role checks the metrics from the first step; not migrated",
        "AnalysisTemplate apdex spec.metrics[0].provider.skywalking: the rollout role queries Prometheus only (this provider is "
        "not supported yet); metric apdex not migrated",
    ]
    assert validate_as_the_role_does(result["vars"])["schedule"] == weights


def test_header_and_mirror_routes_pass_as_argo_writes_them_and_other_steps_are_warned():
    result = argo.rollout_vars(fixture("argo-header-mirror-rollout.yaml"))
    header_match = [{"headerName": "Custom-Header1", "headerValue": {"exact": "Mozilla"}}]
    mirror_match = [{"method": {"exact": "GET"}, "path": {"prefix": "/"}}]
    assert result["vars"]["rollout_analysis"] == {"metrics": [], "steps": [
        {"set_weight": 10},
        {"set_header_route": {"name": "header-route-1", "match": header_match}},
        {"set_mirror_route": {"name": "mirror-route", "percentage": 35, "match": mirror_match}},
        {"pause": {"duration": "30s"}},
        {"set_header_route": {"name": "header-route-1"}},
        {"set_mirror_route": {"name": "mirror-route"}},
        {"set_weight": 50},
    ]}
    assert result["vars"]["rollout_service"] == {"name": "rollouts-demo-vsvc1", "adopt": True}
    assert result["warnings"] == [
        CANARY + ".canaryService: " + OWN_SERVICES,
        CANARY + ".stableService: " + OWN_SERVICES,
        CANARY + ".trafficRouting.managedRoutes: the rollout role names the routes it writes itself; not migrated",
        CANARY + ".trafficRouting.istio.virtualServices[0].routes: the rollout role writes its own routes into the adopted "
                 "VirtualService; not migrated",
        CANARY + ".trafficRouting.istio.virtualServices[1]: the rollout role routes one VirtualService (rollouts-demo-vsvc1); "
                 "not migrated",
        CANARY + ".steps[3].experiment: not supported by the rollout role; not migrated",
        CANARY + ".steps[4].setCanaryScale: not supported by the rollout role; not migrated",
    ]
    steps = validate_as_the_role_does(result["vars"])["steps"]
    # Argo's header match becomes Istio's, the mirror's path Istio's uri; the routes are removed again without a match
    assert steps[1]["match"] == [{"headers": {"custom-header1": {"exact": "Mozilla"}}}]
    assert (steps[2]["mirror_match"], steps[2]["mirror_weight"]) == ([{"method": {"exact": "GET"}, "uri": {"prefix": "/"}}], 35)
    assert "match" not in steps[-1] and "mirror" not in steps[-1] and steps[-1]["weight"] == 50


def test_a_rollout_without_steps_goes_to_full_weight_as_argo_does():
    rollout = fixture("argo-gatewayapi-rollout.yaml")
    del rollout["spec"]["strategy"]["canary"]["steps"]
    assert argo.rollout_vars(rollout, namespace="default")["vars"]["rollout_analysis"]["steps"] == [{"set_weight": 100}]


def test_conditions_become_inclusive_threshold_ranges():
    template = fixture("argo-success-rate-template.yaml")
    metric = template["spec"]["metrics"][0]
    metric.update(successCondition="result[0] >= 0.9 && result[0] <= 1", failureCondition="result[0] < 0.95", failureLimit=1)
    template["spec"]["metrics"].append({"name": "latency", "interval": "1m", "successCondition": "result[0] < 500",
                                        "provider": {"prometheus": {"query": "histogram_quantile(0.99, x)"}}})
    result = argo.rollout_vars(fixture("argo-istio-host-rollout.yaml"), template)
    analysis = result["vars"]["rollout_analysis"]
    assert [m["threshold_range"] for m in analysis["metrics"]] == [{"min": 0.95, "max": 1}, {"max": 500}]
    # the tick is the smallest metric interval; the limits the smallest of the metrics' (latency's failureLimit is Argo's 0)
    assert (analysis["interval"], analysis["failure_limit"], analysis["threshold"]) == ("1m", 0, 1)
    assert result["warnings"][3:] == [
        "AnalysisTemplate success-rate spec.metrics[1].successCondition: 'result[0] < 500': the rollout role's threshold_range "
        "is inclusive, so the value 500 itself passes",
        CANARY + ".analysis: the metrics' failureLimit differ (1, 0): the rollout role has one, the smallest was taken",
    ]


def test_conditions_and_args_the_role_cannot_read_are_warned():
    template = fixture("argo-success-rate-template.yaml")
    template["spec"]["metrics"][0].update(successCondition="len(result) == 0 || result[0] >= 0.95", count=5)
    rollout = fixture("argo-istio-host-rollout.yaml")
    rollout["spec"]["strategy"]["canary"]["analysis"]["args"] = [
        {"name": "service-name", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}}]
    warnings = argo.rollout_vars(rollout, template)["warnings"][3:]
    assert warnings == [
        CANARY + ".analysis.args[0].valueFrom: a value taken from the cluster at run time is not migrated",
        "AnalysisTemplate success-rate spec.metrics[0].count: not supported by the rollout role; not migrated",
        "AnalysisTemplate success-rate spec.metrics[0].provider.prometheus.query: the placeholders args.service-name have no "
        "value (give the args a value); metric success-rate not migrated",
    ]
    rollout["spec"]["strategy"]["canary"]["analysis"]["args"] = [{"name": "service-name", "value": "web"}]
    result = argo.rollout_vars(rollout, template)
    assert result["vars"]["rollout_analysis"]["metrics"] == []
    assert result["warnings"][-1] == (
        "AnalysisTemplate success-rate spec.metrics[0].successCondition: 'len(result) == 0 || result[0] >= 0.95' is not a "
        "comparison of the query's value with a number (such as result[0] >= 0.95); metric success-rate not migrated")


def test_a_template_left_out_is_warned():
    result = argo.rollout_vars(fixture("argo-istio-host-rollout.yaml"))
    assert result["vars"]["rollout_analysis"]["metrics"] == [] and "failure_limit" not in result["vars"]["rollout_analysis"]
    assert result["warnings"][-1] == (CANARY + ".analysis.templates[0]: AnalysisTemplate success-rate was not given: pass its "
                                      "manifest to the filter (analysis_templates=...) to migrate its metrics; not migrated")


def test_an_inline_pod_template_targets_a_deployment_of_the_rollouts_name():
    rollout = fixture("argo-gatewayapi-rollout.yaml")
    del rollout["spec"]["workloadRef"]
    rollout["spec"]["template"] = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "web:1"}]}}
    result = argo.rollout_vars(rollout, namespace="default")
    assert result["vars"]["rollout_target"] == "rollout-canary"
    assert result["warnings"][0] == ("spec.template: the rollout role rolls out a Deployment: create the Deployment rollout-canary "
                                     "with this pod template (rollout_target is the Rollout's name)")


@pytest.mark.parametrize("change, message", [
    (lambda r: r.update(kind="Deployment"), r"expected an Argo Rollouts Rollout \(apiVersion argoproj\.io/\.\.\., kind Rollout\)"),
    (lambda r: r["spec"].pop("workloadRef"), r"spec\.workloadRef\.name \(or spec\.template and metadata\.name\) is required"),
    (lambda r: r["spec"]["workloadRef"].pop("name"), r"spec\.workloadRef\.name is required: the name of the Deployment"),
    (lambda r: r["spec"].update(strategy={"blueGreen": {"activeService": "web"}}),
     r"spec\.strategy\.canary is required: only Argo's canary strategy is migrated \(got blueGreen\)"),
    (lambda r: r["metadata"].pop("namespace"), r"metadata\.namespace is missing from the Rollout"),
    (lambda r: r["spec"]["strategy"]["canary"]["analysis"]["templates"][0].update(templateName=None),
     r"spec\.strategy\.canary\.analysis\.templates\[0\]\.templateName is required"),
])
def test_invalid_rollouts_fail_naming_the_field(change, message):
    rollout = copy.deepcopy(fixture("argo-istio-host-rollout.yaml"))
    change(rollout)
    with pytest.raises(AnsibleFilterError, match="argo_rollout_vars: " + message):
        argo_rollout_vars(rollout)


def test_a_metric_interval_that_is_no_duration_fails_naming_it():
    template = fixture("argo-success-rate-template.yaml")
    template["spec"]["metrics"][0]["interval"] = "5 minutes"
    with pytest.raises(AnsibleFilterError, match=r"argo_rollout_vars: AnalysisTemplate success-rate spec\.metrics\[0\]\.interval "
                                                 r"must be a duration such as 30s, 1m or 1m30s, got '5 minutes'"):
        argo_rollout_vars(fixture("argo-istio-host-rollout.yaml"), template)
