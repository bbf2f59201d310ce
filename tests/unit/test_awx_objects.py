"""The AWX objects of files/awx/ (surveys, job templates, the workflow) against what they drive: the role's argument
specs (variables, choices, defaults), the playbooks, and the options of the installed awx.awx modules. Then the
rollout playbook itself without a cluster: a survey answer outside its choices or range fails before anything is
touched, and the rollout artifact of set_stats says so."""

import glob
import json
import os
import subprocess
import sys

import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
AWX = os.path.join(REPO, "files", "awx")
SURVEY_TYPES = {"text", "textarea", "password", "integer", "float", "multiplechoice", "multiselect"}
# Variables a playbook reads itself (not the role's): the survey's flat analysis settings, reconcile's action.
PLAYBOOK_VARIABLES = {
    "playbooks/rollout.yml": {"rollout_analysis_interval", "rollout_analysis_threshold", "rollout_analysis_max_weight",
                              "rollout_analysis_step_weight"},
    "playbooks/reconcile.yml": {"reconcile_action", "reconcile_targets", "reconcile_hosts"},
    "playbooks/fleet.yml": {"fleet_soak_seconds", "fleet_hosts"},
}
# The role's entry point each playbook runs.
ENTRY_POINTS = {"playbooks/rollout.yml": "main", "playbooks/promote.yml": "promote", "playbooks/abort.yml": "abort",
                "playbooks/status.yml": "status", "playbooks/gate.yml": "gate", "playbooks/reconcile.yml": "abort",
                "playbooks/fleet.yml": "main", "playbooks/finalize.yml": "finalize"}


def load(name):
    with open(os.path.join(AWX, name)) as handle:
        return json.load(handle) if name.endswith(".json") else yaml.safe_load(handle)


def specs():
    with open(os.path.join(REPO, "roles", "rollout", "meta", "argument_specs.yml")) as handle:
        return yaml.safe_load(handle)["argument_specs"]


def questions(survey):
    return {question["variable"]: question for question in load(survey)["spec"]}


def awx_module_options(module):
    """The options of an installed awx.awx module (its DOCUMENTATION)."""
    from ansible_collections.awx import awx
    path = os.path.join(os.path.dirname(awx.__file__), "plugins", "modules", module + ".py")
    with open(path) as handle:
        source = handle.read()
    doc = source.split("DOCUMENTATION = ", 1)[1]
    quote = doc[:3]
    return set(yaml.safe_load(doc[3:doc.index(quote, 3)])["options"])


@pytest.mark.parametrize("survey", sorted(os.path.basename(p) for p in glob.glob(os.path.join(AWX, "*-survey.json"))))
def test_a_survey_is_in_awx_import_format(survey):
    spec = load(survey)
    assert set(spec) == {"name", "description", "spec"} and spec["name"] and spec["spec"]
    variables = [question["variable"] for question in spec["spec"]]
    assert len(variables) == len(set(variables)), variables
    for question in spec["spec"]:
        assert {"question_name", "question_description", "variable", "type", "required", "default"} <= set(question), question
        assert question["type"] in SURVEY_TYPES and isinstance(question["required"], bool), question
        if question["type"] in ("multiplechoice", "multiselect"):
            assert isinstance(question["choices"], list) and question["default"] in question["choices"], question
        if question["type"] == "integer" and question["default"] != "":
            assert question["min"] <= question["default"] <= question["max"], question


def test_the_rollout_survey_asks_what_the_role_takes_with_its_defaults_and_choices():
    asked = questions("rollout-survey.json")
    main = specs()["main"]["options"]
    assert {"rollout_target", "rollout_namespace", "rollout_strategy"} <= set(asked)
    assert asked["rollout_target"]["required"] and asked["rollout_namespace"]["required"]
    strategy = main["rollout_strategy"]
    assert asked["rollout_strategy"]["choices"] == strategy["choices"]
    assert asked["rollout_strategy"]["default"] == strategy["default"]
    analysis = main["rollout_analysis"]["options"]
    for key in ("interval", "threshold", "max_weight", "step_weight"):
        question = asked["rollout_analysis_" + key]
        assert question["default"] == analysis[key]["default"], key
        assert question["type"] == ("integer" if analysis[key]["type"] == "int" else "text"), key
    assert asked["rollout_analysis_threshold"]["min"] == 1


def test_the_gate_and_reconcile_surveys_offer_exactly_the_valid_choices():
    from ansible_collections.progressive.delivery.plugins.module_utils.fleet import reconcile
    gate = specs()["gate"]["options"]
    asked = questions("gate-survey.json")
    assert sorted(asked["rollout_gate"]["choices"]) == sorted(gate["rollout_gate"]["choices"])
    assert sorted(asked["rollout_gate_action"]["choices"]) == sorted(gate["rollout_gate_action"]["choices"])
    assert tuple(questions("reconcile-survey.json")["reconcile_action"]["choices"]) == reconcile.ACTIONS


def test_every_job_template_runs_a_playbook_of_the_collection_with_variables_it_reads():
    templates = load("job-templates.yml")["job_templates"]
    names = [template["name"] for template in templates]
    assert len(names) == len(set(names))
    options = awx_module_options("job_template")
    for template in templates:
        assert os.path.isfile(os.path.join(REPO, template["playbook"])), template
        assert template["job_type"] in ("run", "check")
        own = {"name", "description", "playbook", "job_type", "survey", "inventory"}
        assert set(template) - own <= options, set(template) - own - options
        if "survey" in template:
            entry = specs()[ENTRY_POINTS[template["playbook"]]]["options"]
            known = set(entry) | PLAYBOOK_VARIABLES.get(template["playbook"], set())
            assert set(questions(template["survey"])) <= known, (template["name"], set(questions(template["survey"])) - known)
    played = {template["playbook"] for template in templates}
    shipped = {"playbooks/" + os.path.basename(p) for p in glob.glob(os.path.join(REPO, "playbooks", "*.yml"))}
    assert played == shipped - {"playbooks/awx_setup.yml"}
    plans = [t for t in templates if t["playbook"] == "playbooks/rollout.yml" and t["job_type"] == "check"]
    assert len(plans) == 1 and plans[0]["diff_mode"] is True


def test_the_workflow_goes_staging_approval_production():
    workflow = load("workflow.yml")["workflow"]
    nodes = {node["identifier"]: node for node in workflow["nodes"]}
    templates = {template["name"] for template in load("job-templates.yml")["job_templates"]}
    for node in nodes.values():
        assert ("job_template" in node) != ("approval" in node), node
        assert node.get("job_template", next(iter(templates))) in templates, node
        for child in node.get("success_nodes", []) + node.get("failure_nodes", []):
            assert child in nodes, child
    staging, approval, production = nodes["staging"], nodes["approve-production"], nodes["production"]
    assert staging["success_nodes"] == ["approve-production"] and "failure_nodes" not in staging
    assert approval["success_nodes"] == ["production"] and approval["approval"]["timeout"] > 0
    assert staging["extra_data"]["rollout_context"] != production["extra_data"]["rollout_context"]
    rollout = [t for t in load("job-templates.yml")["job_templates"] if t["name"] == staging["job_template"]][0]
    assert rollout["ask_variables_on_launch"], "the nodes' extra_data needs ask_variables_on_launch"
    assert load(workflow["survey"]) == load("rollout-survey.json")


def test_awx_setup_uses_only_installed_awx_modules_and_their_options():
    with open(os.path.join(REPO, "playbooks", "awx_setup.yml")) as handle:
        play = yaml.safe_load(handle)[0]
    used = 0
    for task in play["tasks"]:
        for key, args in task.items():
            if key.startswith("awx.awx."):
                used += 1
                assert set(args) <= awx_module_options(key.split(".")[-1]), (key, set(args))
    assert used >= 8


def run_rollout(tmp_path, *extra):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, ".build", "collections"),
               ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json", ANSIBLE_SHOW_CUSTOM_STATS="1",
               ANSIBLE_PYTHON_INTERPRETER=sys.executable,
               ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"), HOME=str(tmp_path), K8S_AUTH_KUBECONFIG=str(tmp_path / "no-kubeconfig"))
    env.pop("K8S_AUTH_HOST", None)
    command = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "progressive.delivery.rollout",
               "-e", "rollout_target=podinfo", "-e", "rollout_namespace=test"]
    for value in extra:
        command += ["-e", value]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, cwd=str(tmp_path), check=False)
    return result.returncode, json.loads(result.stdout), result.stdout


@pytest.mark.parametrize("answer, message", [
    ("rollout_strategy=rolling", "rollout_strategy"),
    ("rollout_analysis_threshold=0", "rollout_analysis.threshold must be at least 1, got 0"),
])
def test_a_bad_survey_answer_fails_before_anything_and_is_published(tmp_path, answer, message):
    rc, run, out = run_rollout(tmp_path, answer)
    assert rc != 0 and message in out, out
    stats = run["global_custom_stats"]["rollout"]
    assert stats["result"] == "failed to start" and stats["target"] == "podinfo", stats
    tasks = [task["task"]["name"] for play in run["plays"] for task in play["tasks"]]
    assert tasks[-1] == "Publish the result for AWX workflows", tasks


def test_survey_settings_that_lose_against_rollout_analysis_fail_naming_both(tmp_path):
    rc, run, out = run_rollout(tmp_path, "rollout_analysis_threshold=3", json.dumps({"rollout_analysis": {"threshold": 2}}))
    assert rc != 0 and "rollout_analysis_threshold is 3 but rollout_analysis" in out and "says 2" in out, out
    assert "global_custom_stats" not in run or "rollout" not in run["global_custom_stats"]
