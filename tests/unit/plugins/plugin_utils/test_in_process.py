"""The in-process module runner: when a task may run its module in the worker, and what one run leaves behind."""

import json
import sys

import pytest
from ansible.module_utils import basic

from ansible_collections.progressive.delivery.plugins.plugin_utils import in_process
from tests.unit.plugins.plugin_utils import sample_module

SAMPLE = sample_module.__name__
LOCAL = dict(enabled=True, ansible_release="2.19.14", transport="local", become=False, async_seconds=0,
             environment=[], keep_remote_files=False, interpreter=sys.executable, controller_python=sys.executable,
             import_name="ansible_collections.progressive.delivery.plugins.modules.canary_route")


def test_a_module_of_the_collection_on_the_controller_runs_in_the_worker():
    assert in_process.reason_to_run_as_process(**LOCAL) is None


@pytest.mark.parametrize("change, reason", [
    (dict(enabled=False), "progressive_delivery_in_process is false"),
    (dict(ansible_release="2.20.1"), "ansible-core 2.20.1 is not 2.19"),
    (dict(import_name=None), "not a module of progressive.delivery"),
    (dict(transport="ssh"), "the connection is ssh, not local"),
    (dict(become=True), "the task uses become"),
    (dict(async_seconds=30), "the task is async"),
    (dict(environment=[{"HTTPS_PROXY": "http://proxy:3128"}]), "the task sets an environment"),
    (dict(keep_remote_files=True), "ANSIBLE_KEEP_REMOTE_FILES keeps the module files"),
    (dict(interpreter=None), "the module's Python (discovered) is not the controller's"),
    (dict(interpreter="/usr/bin/python3"), "the module's Python (/usr/bin/python3) is not the controller's"),
])
def test_every_other_task_runs_its_module_as_a_process_and_says_why(change, reason):
    assert in_process.reason_to_run_as_process(**{**LOCAL, **change}).startswith(reason)


def test_an_empty_task_environment_is_no_environment():
    assert in_process.reason_to_run_as_process(**{**LOCAL, "environment": [{}]}) is None


def test_a_virtual_environment_is_not_the_python_it_links_to(tmp_path):
    venv_bin = tmp_path / "venv" / "bin"
    venv_bin.mkdir(parents=True)
    (venv_bin / "python").symlink_to(sys.executable)
    (venv_bin / "python3").symlink_to(venv_bin / "python")
    assert in_process.same_python(str(venv_bin / "python3"), str(venv_bin / "python"))
    assert not in_process.same_python(str(venv_bin / "python"), sys.executable)


@pytest.mark.parametrize("action, name", [
    ("progressive.delivery.canary_wait", "ansible_collections.progressive.delivery.plugins.modules.canary_wait"),
    ("kubernetes.core.k8s_info", None),
    ("canary_wait", None),
    ("progressive.delivery.not-a-name", None),
    (None, None),
])
def test_only_the_collections_own_modules_have_an_import_name(action, name):
    assert in_process.module_import_name(action) == name


def _run(**params):
    status, printed = in_process.run_module_main(SAMPLE, dict(dict(word="hello"), **params))
    return status, json.loads(printed)


def test_the_module_answers_as_it_would_to_ansiballz():
    status, result = _run(secret="s3cr3t", _ansible_check_mode=False)
    assert status == 0 and result["changed"] is True and result["echoed"] == "hello"
    assert result["invocation"]["module_args"]["secret"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
    assert result["secret"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"


def test_check_mode_reaches_the_module():
    assert _run(_ansible_check_mode=True)[1]["changed"] is False


def test_a_failed_module_and_bad_arguments_fail_with_their_message():
    assert _run(outcome="fail") == (1, {"failed": True, "msg": "refused hello", "invocation": {
        "module_args": {"word": "hello", "outcome": "fail", "secret": None}}})
    status, result = _run(outcome="maybe")
    assert status == 1 and "value of outcome must be one of: exit, fail, raise, return, got: maybe" in result["msg"]


def test_a_module_that_raises_fails_with_the_exception_and_its_traceback():
    status, result = _run(outcome="raise")
    assert status == 1 and result["failed"] is True
    assert result["msg"] == "sample_module raised ValueError: cannot echo hello"
    assert "Traceback" in result["exception"] and "cannot echo hello" in result["exception"]


def test_a_module_that_returns_without_an_answer_fails_as_under_ansiballz():
    status, result = _run(outcome="return")
    assert status == 1 and "did not handle its own exit" in result["msg"]


@pytest.mark.parametrize("outcome", ["exit", "fail", "raise"])
def test_the_exit_callbacks_run_when_the_module_returns_and_nothing_is_left_registered(outcome, monkeypatch):
    registered = []
    monkeypatch.setattr(in_process.atexit, "register", lambda func, *a, **k: registered.append(func))
    register = in_process.atexit.register
    del sample_module.CLEANED[:]
    _run(word=outcome, outcome=outcome)
    assert sample_module.CLEANED == [outcome] and registered == []
    assert in_process.atexit.register is register


def test_the_arguments_of_one_run_are_not_seen_by_the_next():
    before = (basic._ANSIBLE_ARGS, basic._ANSIBLE_PROFILE)  # pylint: disable=protected-access
    _run(word="first")
    assert (basic._ANSIBLE_ARGS, basic._ANSIBLE_PROFILE) == before  # pylint: disable=protected-access
    assert _run(word="second")[1]["echoed"] == "second"


def test_kubernetes_cores_cached_clients_are_forgotten(monkeypatch):
    from ansible_collections.kubernetes.core.plugins.module_utils.k8s import client

    monkeypatch.setattr(client, "_pool", {"digest": object()})
    _run()
    assert client._pool == {}  # pylint: disable=protected-access
