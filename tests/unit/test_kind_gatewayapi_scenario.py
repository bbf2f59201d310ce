"""The kind + Gateway API scenario (molecule/kind-gatewayapi), checked statically (no Docker here): the Gateway API
CRDs pinned to a release Istio's pinned version implements, Istio without an ingress gateway Deployment (istiod deploys
one per Gateway of class istio), the rollout role on the user's HTTPRoute, every playbook parsing and lint clean,
and the same analysis windows as molecule/kind against Istio's Prometheus addon."""

import os
import re
import shutil
import subprocess

import pytest
import yaml

from ansible_collections.progressive.delivery.plugins.module_utils.analysis import checks, schedule, settings

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MOLECULE = os.path.join(REPO, "molecule")
SCENARIO = os.path.join(MOLECULE, "kind-gatewayapi")

# The Gateway API minor each Istio minor implements (its standard channel), from Istio's release notes and docs:
# the docs of Istio 1.23 install v1.1, Istio 1.24 added v1.2.
ISTIO_GATEWAY_API = {"1.23": "1.1", "1.24": "1.2"}


def load(*parts):
    with open(os.path.join(MOLECULE, *parts)) as handle:
        return yaml.safe_load(handle)


def text(*parts):
    with open(os.path.join(MOLECULE, *parts)) as handle:
        return handle.read()


def variables():
    return load("kind-gatewayapi", "vars", "main.yml")


def render(value, names):
    """The scenario's own {{ name }} references in a string, substituted from its variables."""
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda match: str(names[match.group(1)]), value)


def tasks_of(playbook):
    """Every task of a playbook, with the tasks of its import_tasks files (paths relative to the playbook)."""
    directory = os.path.dirname(os.path.join(MOLECULE, playbook))
    found = []
    for play in load(playbook):
        for task in play.get("tasks", []):
            imported = task.get("ansible.builtin.import_tasks")
            if imported:
                path = os.path.normpath(os.path.join(directory, imported))
                with open(path) as handle:
                    found.extend(yaml.safe_load(handle))
            else:
                found.append(task)
    return found


def steps_with_playbooks(name):
    directory = os.path.join(MOLECULE, name)
    scenario = load(name, "molecule.yml")
    playbooks = scenario["provisioner"]["playbooks"]
    steps = []
    for step in scenario["scenario"]["test_sequence"]:
        action, _space, argument = step.partition(" ")
        playbook = argument or playbooks.get(action)
        steps.append((action, os.path.normpath(os.path.join(directory, playbook)) if playbook else None))
    return steps


def scenario_files():
    """Every playbook and task file the scenario runs, its own and those it reuses by relative path."""
    files = {playbook for _action, playbook in steps_with_playbooks("kind-gatewayapi") if playbook}
    for playbook in list(files):
        directory = os.path.dirname(playbook)
        with open(playbook) as handle:
            for play in yaml.safe_load(handle):
                if "ansible.builtin.import_playbook" in play:
                    files.add(os.path.normpath(os.path.join(directory, play["ansible.builtin.import_playbook"])))
                for task in play.get("tasks", []):
                    if "ansible.builtin.import_tasks" in task:
                        files.add(os.path.normpath(os.path.join(directory, task["ansible.builtin.import_tasks"])))
    return sorted(files)


def test_the_gateway_api_crds_are_the_standard_channel_of_a_pinned_release_istio_implements():
    names = variables()
    version = names["kind_gateway_api_version"]
    match = re.match(r"^v(\d+\.\d+)\.\d+$", version)
    assert match, "not a pinned release: %r" % version
    istio_minor = ".".join(names["kind_istio_version"].split(".")[:2])
    assert ISTIO_GATEWAY_API[istio_minor] == match.group(1), (istio_minor, version)
    url = render(names["kind_gateway_api_crds"], names)
    assert url == "https://github.com/kubernetes-sigs/gateway-api/releases/download/%s/standard-install.yaml" % version
    # the release's asset, not a branch, "latest" or the experimental channel
    assert "latest" not in url and "experimental" not in url and "raw.githubusercontent" not in url


def test_create_installs_the_crds_then_istio_minimal_then_a_gateway_of_class_istio():
    names = variables()
    tasks = tasks_of("kind-gatewayapi/create.yml")
    modules = [next(key for key in task if "." in key and key != "ansible.builtin.import_tasks") for task in tasks]
    download = next(i for i, task in enumerate(tasks) if "ansible.builtin.get_url" in task)
    assert tasks[download]["ansible.builtin.get_url"]["url"] == "{{ kind_gateway_api_crds }}"
    install_crds = next(i for i, task in enumerate(tasks) if "kubernetes.core.k8s" in task
                        and "gateway-api" in task["kubernetes.core.k8s"].get("src", ""))
    assert tasks[install_crds]["kubernetes.core.k8s"]["src"] == tasks[download]["ansible.builtin.get_url"]["dest"]
    istioctl = [i for i, task in enumerate(tasks) if "istioctl install" in str(task.get("ansible.builtin.command", ""))]
    assert len(istioctl) == 1 and download < install_crds < istioctl[0]
    command = tasks[istioctl[0]]["ansible.builtin.command"]["cmd"]
    assert "--set profile=minimal" in command and "ingressGateways" not in command and "profile=demo" not in command
    # molecule/kind's cluster (pinned node image, per-architecture Istio) and Prometheus addon, not copies
    assert "kind create cluster" in str(tasks) and "--image {{ kind_node_image }}" in str(tasks)
    assert "samples/addons/prometheus.yaml" in str(tasks)
    assert text("kind-gatewayapi", "create.yml").count("../kind/tasks/") == 2
    gateways = [task["kubernetes.core.k8s"]["definition"] for task in tasks if "kubernetes.core.k8s" in task
                and task["kubernetes.core.k8s"].get("definition", {}).get("kind") == "Gateway"]
    assert len(gateways) == 1
    gateway = gateways[0]
    assert gateway["apiVersion"] == "gateway.networking.k8s.io/v1" and gateway["spec"]["gatewayClassName"] == "istio"
    listener = gateway["spec"]["listeners"][0]
    assert listener["name"] == "{{ kind_gateway.listener }}" and listener["port"] == 80
    assert listener["allowedRoutes"]["namespaces"]["from"] == "All"  # the HTTPRoute is in another namespace
    node_ports = [task["kubernetes.core.k8s"]["definition"] for task in tasks if "kubernetes.core.k8s" in task
                  and task["kubernetes.core.k8s"].get("definition", {}).get("spec", {}).get("type") == "NodePort"]
    service = next(item for item in node_ports if item["metadata"]["namespace"] == "{{ kind_gateway.namespace }}")
    assert service["spec"]["selector"] == {"gateway.networking.k8s.io/gateway-name": "{{ kind_gateway.name }}"}
    assert service["spec"]["ports"][0]["nodePort"] == 30080  # kind's extraPortMappings (molecule/kind/tasks/cluster.yml)
    assert "30080" in text("kind", "tasks", "cluster.yml")
    assert "networking.istio.io/v1beta1" not in str(tasks), "an Istio Gateway in the Gateway API scenario"
    assert modules.index("kubernetes.core.k8s_info") > install_crds  # the CRDs are waited for


def test_the_role_shifts_the_users_httproute():
    names = variables()
    assert names["rollout_router"] == "gatewayapi"
    assert names["rollout_http_route"] == {"name": names["rollout_target"], "namespace": names["rollout_namespace"]}
    # the user's route: no created-HTTPRoute settings, and the Istio ones are refused with router gatewayapi
    assert not set(names["rollout_service"]) & {"gateway_refs", "hosts", "gateways"}
    assert "rollout_virtual_service" not in names
    route_tasks = [task["kubernetes.core.k8s"]["definition"] for task in tasks_of("kind-gatewayapi/prepare.yml")
                   if "kubernetes.core.k8s" in task and task["kubernetes.core.k8s"]["definition"]["kind"] == "HTTPRoute"]
    assert len(route_tasks) == 1
    route = route_tasks[0]
    assert route["apiVersion"] == "gateway.networking.k8s.io/v1"
    assert route["metadata"] == {"name": "{{ rollout_http_route.name }}", "namespace": "{{ rollout_http_route.namespace }}"}
    assert route["spec"]["parentRefs"] == [{"name": "{{ kind_gateway.name }}", "namespace": "{{ kind_gateway.namespace }}",
                                            "sectionName": "{{ kind_gateway.listener }}"}]
    assert route["spec"]["hostnames"] == ["{{ lab_http_route_host }}"]
    assert names["rollout_load"]["host"] == "{{ lab_http_route_host }}"  # the load goes through the route
    assert len(route["spec"]["rules"]) == 1
    refs = route["spec"]["rules"][0]["backendRefs"]
    assert [(ref["name"], ref["weight"]) for ref in refs] == [
        ("{{ rollout_target }}-primary", 100), ("{{ rollout_target }}-canary", 0)]
    assert all(ref["port"] == "{{ rollout_service.port }}" for ref in refs)
    # the route exists before molecule/lab's prepare initializes the canary on it
    plays = load("kind-gatewayapi", "prepare.yml")
    imports = [i for i, play in enumerate(plays) if play.get("ansible.builtin.import_playbook") == "../lab/prepare.yml"]
    assert imports == [1]


def test_every_metric_window_holds_two_scrapes_with_the_sidecars_reporting():
    names = variables()
    analysis = names["rollout_analysis"]
    validated = settings.validate({"target": names["rollout_target"], "namespace": names["rollout_namespace"],
                                   "analysis": dict(analysis, provider="istio", on_no_data="fail"),
                                   "prometheus": {"url": "http://127.0.0.1:19091"}, "load": {}})
    scrape = names["kind_scrape_interval_seconds"]
    assert scrape == 15
    built = checks.build_checks("istio", validated["metrics"], validated["metric_interval"])
    assert {check.name for check in built} == {"request-success-rate", "request-duration"}
    for check in built:
        assert schedule.duration_seconds(check.interval, check.name) >= 2 * scrape, check.name
        # reported by the destination's sidecar, not by the gateway (reporter="source")
        assert 'reporter="destination"' in check.template, check.template
    assert names["lab_namespace_labels"] == {"istio-injection": "enabled"}


def test_the_cluster_is_molecule_kinds_on_its_own_name_and_ports():
    gatewayapi, kind = variables(), load("kind", "vars", "main.yml")
    for name in ("kind_istio_version", "kind_node_image", "kind_scrape_interval_seconds", "lab_image", "lab_manifests"):
        assert gatewayapi[name] == kind[name], name
    for name in ("kind_cluster", "kind_ingress_port", "kind_prometheus_port"):
        assert gatewayapi[name] != kind[name], name


def test_the_scenario_runs_the_labs_rollout_and_rollback_with_its_own_checks():
    steps = steps_with_playbooks("kind-gatewayapi")
    lab = os.path.join(MOLECULE, "lab")
    own = os.path.join(MOLECULE, "kind-gatewayapi")
    assert steps == [
        ("destroy", os.path.join(MOLECULE, "kind", "destroy.yml")),
        ("syntax", None),
        ("create", os.path.join(own, "create.yml")),
        ("prepare", os.path.join(own, "prepare.yml")),
        ("converge", os.path.join(lab, "converge.yml")),
        ("idempotence", None),
        ("verify", os.path.join(own, "verify.yml")),
        ("side_effect", os.path.join(lab, "side_effect.yml")),
        ("verify", os.path.join(own, "verify_rolled_back.yml")),
        ("destroy", os.path.join(MOLECULE, "kind", "destroy.yml")),
    ]
    for playbook in scenario_files():
        assert os.path.isfile(playbook), playbook
    # the verify playbooks read the HTTPRoute's weights and ask the Gateway; no VirtualService here
    observe = text("kind-gatewayapi", "tasks", "observe.yml")
    assert "kind: HTTPRoute" in observe and "VirtualService" not in observe
    for name in ("verify.yml", "verify_rolled_back.yml"):
        playbook = text("kind-gatewayapi", name)
        assert "tasks/observe.yml" in playbook and "VirtualService" not in playbook, name
        assert "kind_weights[rollout_target ~ '-primary'] | default(0) == 100" in playbook, name
        assert "kind_weights[rollout_target ~ '-canary'] | default(0) == 0" in playbook, name
    assert "failed checks threshold reached 2" in text("kind-gatewayapi", "verify_rolled_back.yml")
    # destroy reads the running scenario's vars, so it deletes this scenario's cluster
    assert "MOLECULE_SCENARIO_DIRECTORY" in text("kind", "destroy.yml")


def run(argv):
    return subprocess.run(argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600,
                          check=False)


@pytest.mark.parametrize("playbook", [path for path in scenario_files() if not os.path.basename(
    os.path.dirname(path)) == "tasks"], ids=lambda path: os.path.relpath(path, MOLECULE))
def test_every_playbook_parses(playbook):
    if not shutil.which("ansible-playbook"):
        pytest.fail("ansible-playbook is not on PATH (source scripts/env.sh)")
    out = run(["ansible-playbook", "-i", "localhost,", "--syntax-check", playbook])
    assert out.returncode == 0, out.stdout


def test_ansible_lint_production_profile_is_clean():
    if not shutil.which("ansible-lint"):
        pytest.fail("ansible-lint is not on PATH (source scripts/env.sh)")
    files = [os.path.relpath(path, REPO) for path in scenario_files()]
    files.append(os.path.join("molecule", "kind-gatewayapi", "vars", "main.yml"))
    out = run(["ansible-lint", "--profile", "production", "--offline"] + files)
    assert out.returncode == 0, out.stdout
