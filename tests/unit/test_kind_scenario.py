"""The kind scenario, checked statically (no Docker here): its analysis must work against Istio's
Prometheus addon (a 15 s scrape), on a node image Istio's pinned release supports."""

import os
import re

import yaml

from ansible_collections.progressive.delivery.plugins.module_utils.analysis import checks, schedule, settings

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KIND = os.path.join(REPO, "molecule", "kind")


def kind_vars():
    with open(os.path.join(KIND, "vars", "main.yml")) as handle:
        return yaml.safe_load(handle)


def test_every_metric_window_holds_two_scrapes_of_istios_prometheus():
    variables = kind_vars()
    analysis = variables["rollout_analysis"]
    validated = settings.validate({"target": variables["rollout_target"], "namespace": variables["rollout_namespace"],
                                   "analysis": dict(analysis, provider="istio", on_no_data="fail"),
                                   "prometheus": {"url": "http://127.0.0.1:19090"}, "load": {}})
    scrape = variables["kind_scrape_interval_seconds"]
    assert scrape == 15  # samples/addons/prometheus.yaml of Istio 1.24: scrape_interval 15s
    built = checks.build_checks("istio", validated["metrics"], validated["metric_interval"])
    assert built, "the scenario has no metrics"
    for check in built:
        window = schedule.duration_seconds(check.interval, check.name)
        assert window >= 2 * scrape, "%s queries a %s window: rate() over fewer than two %d s scrapes reads no data" % (
            check.name, check.interval, scrape)


def test_the_node_image_is_pinned_to_a_kubernetes_istio_supports():
    variables = kind_vars()
    minor = int(re.match(r"^kindest/node:v1\.(\d+)\.\d+$", variables["kind_node_image"]).group(1))
    istio_minor = int(variables["kind_istio_version"].split(".")[1])
    assert istio_minor == 24 and 28 <= minor <= 31  # Istio 1.24's support matrix: Kubernetes 1.28 - 1.31
    with open(os.path.join(KIND, "create.yml")) as handle:
        create = handle.read()
    # the cluster and Istio's download are shared with molecule/kind-gatewayapi
    assert "ansible.builtin.import_tasks: tasks/cluster.yml" in create
    with open(os.path.join(KIND, "tasks", "cluster.yml")) as handle:
        create += handle.read()
    assert "--image {{ kind_node_image }}" in create
    assert "linux-amd64.tar.gz" not in create and "uname -m" in create


def scenario(name):
    with open(os.path.join(REPO, "molecule", name, "molecule.yml")) as handle:
        return yaml.safe_load(handle)


def scenario_vars(name):
    with open(os.path.join(REPO, "molecule", name, "vars", "main.yml")) as handle:
        return yaml.safe_load(handle)


def steps_with_playbooks(name):
    """The test sequence with each step's playbook resolved to a path in the repository."""
    directory = os.path.join(REPO, "molecule", name)
    playbooks = scenario(name)["provisioner"]["playbooks"]
    steps = []
    for step in scenario(name)["scenario"]["test_sequence"]:
        action, _space, argument = step.partition(" ")
        playbook = argument or playbooks.get(action)
        steps.append((action, os.path.normpath(os.path.join(directory, playbook)) if playbook else None))
    return steps


def test_kind_runs_the_lab_scenarios_playbooks_in_the_same_order():
    lab = [step for step in steps_with_playbooks("lab") if step[0] not in ("create", "destroy")]
    kind = [step for step in steps_with_playbooks("kind") if step[0] not in ("create", "destroy")]
    assert kind == lab
    for _action, playbook in kind:
        assert playbook is None or os.path.isfile(playbook), playbook


def test_both_scenarios_run_the_ab_testing_step_with_the_same_variables():
    lab_ab = os.path.join(REPO, "molecule", "lab", "ab_testing.yml")
    lab_verify_ab = os.path.join(REPO, "molecule", "lab", "verify_ab_testing.yml")
    for name in ("lab", "kind"):
        steps = steps_with_playbooks(name)
        assert ("side_effect", lab_ab) in steps, name
        assert ("verify", lab_verify_ab) in steps, name
        assert steps.index(("verify", lab_verify_ab)) == steps.index(("side_effect", lab_ab)) + 1, name
    lab, kind = scenario_vars("lab"), scenario_vars("kind")
    ab_names = ["lab_ab_release", "lab_ab_analysis", "lab_ab_load_headers"]
    for variables in (lab, kind):
        assert [name for name in variables if name.startswith("lab_ab_")] == ab_names
    for name in ab_names:
        assert kind[name] == lab[name], name
    # iterations + match is Flagger's A/B testing; an interval here would make the step's timing differ
    analysis = lab["lab_ab_analysis"]
    assert set(analysis) == {"iterations", "match"} and 2 <= analysis["iterations"] <= 3
    header = analysis["match"][0]["headers"]
    assert lab["lab_ab_load_headers"] == {key: value["exact"] for key, value in header.items()}


def test_the_ab_testing_step_is_ab_testing_for_the_role():
    for name in ("lab", "kind"):
        variables = scenario_vars(name)
        analysis = dict(variables["rollout_analysis"], **variables["lab_ab_analysis"])
        validated = settings.validate({"target": variables["rollout_target"], "namespace": variables["rollout_namespace"],
                                       "analysis": dict(analysis, provider="istio", on_no_data="fail"),
                                       "prometheus": {"url": "http://127.0.0.1:19090"}, "load": {}})
        assert validated["strategy"] == "ab_testing", name
