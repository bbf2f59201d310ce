"""What the migration tests share: the fixtures, and the role's own merge and validation of the variables."""

import os

import pytest
import yaml

from ansible_collections.progressive.delivery.plugins.module_utils.analysis import settings

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "fixtures", "migrate")
ROLE = os.path.join(os.path.dirname(os.path.dirname(HERE)), "roles", "rollout")
# A Prometheus for the migrated metrics to be checked against: Flagger's comes from its installation, not the Canary.
PROMETHEUS = {"url": "http://prometheus.istio-system:9090"}


def fixture(name):
    with open(os.path.join(FIXTURES, name)) as handle:
        return yaml.safe_load(handle)


def _role_file(*parts):
    with open(os.path.join(ROLE, *parts)) as handle:
        return yaml.safe_load(handle)


def validate_as_the_role_does(migrated):
    """The role's settings for the migrated variables: merged over the role's defaults the way tasks/prepare.yml
    merges them (``combine``: the user's keys over the defaults, one level), then settings.validate()."""
    defaults, internal = _role_file("defaults", "main.yml"), _role_file("vars", "main.yml")
    variables = dict(defaults, **migrated)
    if not variables.get("rollout_prometheus"):
        variables["rollout_prometheus"] = PROMETHEUS
    return settings.validate({
        "entry": "main",
        "target": variables["rollout_target"],
        "namespace": variables["rollout_namespace"],
        "kubeconfig": variables["rollout_kubeconfig"],
        "strategy": variables["rollout_strategy"],
        "analysis": dict(internal["__rollout_analysis_defaults"], **variables["rollout_analysis"]),
        "service": dict(internal["__rollout_service_defaults"], **variables["rollout_service"]),
        "load": dict(internal["__rollout_load_defaults"], **variables["rollout_load"]),
        "prometheus": variables["rollout_prometheus"],
        "progress_deadline_seconds": variables["rollout_progress_deadline_seconds"],
        "canary_replicas": variables["rollout_canary_replicas"],
        "scale_down_delay": variables["rollout_scale_down_delay"],
        "lock_ttl": variables["rollout_lock_ttl"],
    })


# The shared readers ---------------------------------------------------------------------------------

def test_placeholders_become_dollar_form_that_jinja_leaves_alone():
    from ansible_collections.progressive.delivery.plugins.module_utils.migrate._common import placeholders_to_dollar

    query, left = placeholders_to_dollar('rate(x{ns="{{ namespace }}",w=~"{{target}}",c="{{ variables.code }}"}[{{ interval }}])',
                                         lambda name: "404" if name == "variables.code" else None)
    assert (query, left) == ('rate(x{ns="${namespace}",w=~"${target}",c="404"}[${interval}])', [])
    query, left = placeholders_to_dollar('x{s="{{ args.service-name }}"}', lambda name: "web" if name == "args.service-name" else None)
    assert (query, left) == ('x{s="web"}', [])
    assert placeholders_to_dollar('x{s="{{ args.other-name }}"}')[1] == ["args.other-name"]
    # Flagger's ingress and an unset template variable are not filled in by the role's metric check
    assert placeholders_to_dollar('x{i="{{ ingress }}",c="{{ variables.code }}",t="{{ target }}"}') == (
        'x{i="{{ ingress }}",c="{{ variables.code }}",t="${target}"}', ["ingress", "variables.code"])


def test_extra_manifests_must_be_of_the_expected_kind():
    from ansible_collections.progressive.delivery.plugins.module_utils.migrate._common import MigrationError, by_name

    assert by_name(None, ("MetricTemplate",), "metric_templates", "test") == {}
    single = {"kind": "MetricTemplate", "metadata": {"name": "latency"}}
    assert by_name(single, ("MetricTemplate",), "metric_templates", "test") == {("test", "latency"): single}
    with pytest.raises(MigrationError, match=r"metric_templates\[0\] must be a MetricTemplate manifest, got kind 'Canary'"):
        by_name([{"kind": "Canary"}], ("MetricTemplate",), "metric_templates", "test")
    with pytest.raises(MigrationError, match=r"metric_templates\[0\]\.metadata\.name is required"):
        by_name([{"kind": "MetricTemplate", "metadata": {}}], ("MetricTemplate",), "metric_templates", "test")


@pytest.mark.parametrize("expression, manifest, target", [
    ("{{ manifest | progressive.delivery.flagger_canary_vars }}", "flagger-tutorial-canary.yaml", "podinfo"),
    ("{{ manifest | progressive.delivery.argo_rollout_vars(namespace='default') }}", "argo-gatewayapi-rollout.yaml", "web"),
])
def test_the_filters_are_found_by_their_names_in_a_template(expression, manifest, target):
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar, trust_as_template

    templar = Templar(loader=DataLoader(), variables={"manifest": fixture(manifest)})
    result = templar.template(trust_as_template(expression))
    assert (result["vars"]["rollout_target"], set(result)) == (target, {"vars", "warnings"})


def test_a_filter_error_reaches_the_play_with_the_field_and_the_fix():
    from ansible.errors import AnsibleError
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar, trust_as_template

    templar = Templar(loader=DataLoader(), variables={"manifest": {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
                                                                   "metadata": {"name": "web", "namespace": "default"},
                                                                   "spec": {"strategy": {"canary": {}}}}})
    with pytest.raises(AnsibleError, match=r"argo_rollout_vars: spec\.workloadRef\.name \(or spec\.template and metadata\.name\) "
                                           r"is required: the rollout role rolls out a Deployment; set workloadRef"):
        templar.template(trust_as_template("{{ manifest | progressive.delivery.argo_rollout_vars }}"))
