# -*- coding: utf-8 -*-
# Copyright: progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Run a module of this collection inside the worker that runs its task.

A module task on the controller normally costs a new Python process: AnsiballZ builds a zip, a fresh
interpreter starts and imports the kubernetes client stack again (about 1 s of CPU, docs/testing.md), for
work that takes milliseconds. When the module would run on this very machine with this very interpreter
anyway (local connection, no become, not async, no task environment, the controller's Python), the module's
``main()`` runs in the worker instead, with the same arguments, the same serialization and the same result
processing as ``ActionBase._execute_module``. Any other task takes the ordinary path, so the two can only
differ in where the same code runs.

The worker is a fork of the playbook process for one task (its loop items included) and exits without
``atexit``; so what a module leaves behind for its process exit (kubernetes' temporary certificate files)
is cleaned after every run here, and kubernetes.core's client cache, which points at those files, is cleared.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import io
import json
import os
import sys
import traceback
from collections.abc import Sequence

from ansible import __version__ as ansible_version
from ansible import constants as C
from ansible.module_utils import basic
from ansible.module_utils.common.json import Direction, get_module_encoder
from ansible.module_utils.common.text.converters import to_bytes
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action.normal import ActionModule as NormalAction
from ansible.utils.display import Display
from ansible.vars.clean import remove_internal_keys

display = Display()

SWITCH = "progressive_delivery_in_process"
"""The variable that turns this off (``false``): every module task then runs as its own process."""

VERIFIED_ANSIBLE = ("2", "19")
"""The ansible-core release whose module runner this mirrors; any other runs modules as processes."""

# ansible_collections.<namespace>.<name>: the collection this file belongs to, so that only its own modules
# (whose code and cleanup are known here) ever run in the worker.
COLLECTION_PACKAGE = __name__.rsplit(".plugins.", 1)[0]
COLLECTION_NAME = COLLECTION_PACKAGE[len("ansible_collections."):]

# ansible-core's own default for a module without metadata (executor/module_common.py); ours declare none.
SERIALIZATION_PROFILE = "legacy"


def is_verified_release(release):
    """Whether an ansible-core version is the release whose module runner this mirrors."""
    return tuple(release.split(".")[:2]) == VERIFIED_ANSIBLE


def module_import_name(resolved_action):
    """The Python import name of a module of this collection, or None for any other action."""
    namespace, dot, short_name = (resolved_action or "").rpartition(".")
    if not dot or namespace != COLLECTION_NAME or not short_name.isidentifier():
        return None
    return "%s.plugins.modules.%s" % (COLLECTION_PACKAGE, short_name)


def reason_to_run_as_process(*, enabled, ansible_release, transport, become, async_seconds, environment,
                             keep_remote_files, interpreter, controller_python, import_name):
    """Why a task must run its module as a process (a short phrase), or None when it may run in the worker."""
    if not enabled:
        return "%s is false" % SWITCH
    if not is_verified_release(ansible_release):
        return "ansible-core %s is not %s" % (ansible_release, ".".join(VERIFIED_ANSIBLE))
    if import_name is None:
        return "not a module of %s" % COLLECTION_NAME
    if transport != "local":
        return "the connection is %s, not local" % transport
    if become:
        return "the task uses become"
    if async_seconds:
        return "the task is async"
    if any(environment or []):
        return "the task sets an environment"
    if keep_remote_files:
        return "ANSIBLE_KEEP_REMOTE_FILES keeps the module files"
    if not interpreter or not same_python(interpreter, controller_python):
        return "the module's Python (%s) is not the controller's (%s)" % (interpreter or "discovered", controller_python)
    return None


def same_python(interpreter, controller_python):
    """Whether a module interpreter is the controller's: the same program in the same directory.

    A virtual environment's python is a link to the system's; only its directory tells their packages apart.
    """
    def where(path):
        return os.path.realpath(os.path.dirname(path)), os.path.realpath(path)
    return where(interpreter) == where(controller_python)


@contextlib.contextmanager
def _exit_callbacks_run_at_the_end():
    """Collect what the module registers for its process exit, and run it when the module returns."""
    collected = []
    register = atexit.register

    def collect(func, *args, **kwargs):
        collected.append((func, args, kwargs))
        return func

    atexit.register = collect
    try:
        yield
    finally:
        atexit.register = register
        for func, args, kwargs in reversed(collected):
            try:
                func(*args, **kwargs)
            except Exception as ex:  # pylint: disable=broad-exception-caught
                # a cleanup that fails must not turn the module's answer into a failure
                display.vvv("in-process cleanup %r failed: %s" % (func, ex))


def _forget_cached_clients():
    """kubernetes.core caches API clients per configuration; theirs point at the temporary files just removed."""
    client_module = sys.modules.get("ansible_collections.kubernetes.core.plugins.module_utils.k8s.client")
    pool = getattr(client_module, "_pool", None)
    if isinstance(pool, dict):
        pool.clear()


def run_module_main(import_name, module_args, profile=SERIALIZATION_PROFILE):
    """Run one module's main() here with AnsiballZ's inputs; return its exit status and what it printed."""
    encoder = get_module_encoder(profile, Direction.CONTROLLER_TO_MODULE)
    params = to_bytes(json.dumps({"ANSIBLE_MODULE_ARGS": module_args}, cls=encoder))
    saved_params = (basic._ANSIBLE_ARGS, basic._ANSIBLE_PROFILE)  # pylint: disable=protected-access
    printed = io.StringIO()
    status = 0
    try:
        basic._ANSIBLE_ARGS, basic._ANSIBLE_PROFILE = params, profile  # pylint: disable=protected-access
        with _exit_callbacks_run_at_the_end(), contextlib.redirect_stdout(printed):
            try:
                importlib.import_module(import_name).main()
                # as AnsiballZ: a module must print its result and exit
                raise RuntimeError("New-style module did not handle its own exit.")
            except SystemExit as ex:
                status = ex.code if isinstance(ex.code, int) else (0 if ex.code is None else 1)
            except Exception as ex:  # pylint: disable=broad-exception-caught
                # what AnsiballZ reports for a module that raised: failed, with the traceback
                status = 1
                printed.seek(0)
                printed.truncate()
                printed.write(json.dumps({
                    "failed": True,
                    "msg": "%s raised %s: %s" % (import_name.rsplit(".", 1)[-1], type(ex).__name__, ex),
                    "exception": traceback.format_exc(),
                }))
    finally:
        basic._ANSIBLE_ARGS, basic._ANSIBLE_PROFILE = saved_params  # pylint: disable=protected-access
        _forget_cached_clients()
    return status, printed.getvalue()


def preload(import_name):
    """Import a module of this collection where its action plugin is loaded, ahead of any worker.

    The strategy loads an action plugin's class in the playbook process, to read its BYPASS_HOST_LOOP, before
    it forks a worker for the task; what that process has imported, every worker then has without cost (the
    kubernetes client stack is most of a module task's CPU). A module that cannot be imported here fails later,
    in its task, with its own message.
    """
    if not is_verified_release(ansible_version) or import_name in sys.modules:
        return
    try:
        importlib.import_module(import_name)
    except Exception as ex:  # pylint: disable=broad-exception-caught
        display.vvv("%s is imported by its task instead: %s" % (import_name, ex))


class InProcessModuleAction(NormalAction):
    """The ``normal`` action, whose module runs in the worker when it would run here anyway.

    A subclass in plugins/action/<module>.py is the action of the module of the same name, which it preloads.
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        preload(module_import_name("%s.%s" % (COLLECTION_NAME, cls.__module__.rsplit(".", 1)[-1])))

    def _reason_to_run_as_process(self, task_vars):
        interpreter = task_vars.get("ansible_python_interpreter")
        if interpreter is not None:
            interpreter = self._templar.template(interpreter)
        return reason_to_run_as_process(
            enabled=boolean(self._templar.template(task_vars.get(SWITCH, True)), strict=False),
            ansible_release=ansible_version,
            transport=getattr(self._connection, "transport", None),
            become=self._play_context.become,
            async_seconds=self._task.async_val,
            environment=self._task.environment,
            keep_remote_files=C.DEFAULT_KEEP_REMOTE_FILES,
            interpreter=interpreter,
            controller_python=sys.executable,
            import_name=module_import_name(self._task.resolved_action),
        )

    def _execute_module(self, module_name=None, module_args=None, tmp=None, task_vars=None, persist_files=False,
                        delete_remote_tmp=None, wrap_async=False, ignore_unknown_opts=False):
        task_vars = {} if task_vars is None else task_vars
        reason = None if module_name is None else "another module than the task's"
        reason = reason or ("the task is async" if wrap_async else None) or self._reason_to_run_as_process(task_vars)
        if reason:
            display.vvv("%s runs as a module process: %s" % (self._task.action, reason), host=self._play_context.remote_addr)
            return super()._execute_module(
                module_name=module_name, module_args=module_args, tmp=tmp, task_vars=task_vars,
                persist_files=persist_files, delete_remote_tmp=delete_remote_tmp, wrap_async=wrap_async,
                ignore_unknown_opts=ignore_unknown_opts)

        module_name = self._task.action
        module_args = self._task.args if module_args is None else module_args
        self._update_module_args(module_name, module_args, task_vars, ignore_unknown_opts=ignore_unknown_opts)
        display.vvv("%s runs in the worker" % module_name, host=self._play_context.remote_addr)
        status, printed = run_module_main(module_import_name(self._task.resolved_action), module_args)
        data = self._parse_returned_data({"rc": status, "stdout": printed, "stderr": ""}, SERIALIZATION_PROFILE)
        return self._as_execute_module_returns(data)

    def _as_execute_module_returns(self, data):
        """The result processing of ActionBase._execute_module after the module's output is parsed."""
        if data.pop("_ansible_suppress_tmpdir_delete", False):
            self._cleanup_remote_tmp = False
        if "results" in data and (not isinstance(data["results"], Sequence) or isinstance(data["results"], str)):
            data["ansible_module_results"] = data.pop("results")
            display.warning("Found internal 'results' key in module return, renamed to 'ansible_module_results'.")
        remove_internal_keys(data)
        for stream in ("stdout", "stderr"):
            if stream in data and "%s_lines" % stream not in data:
                data["%s_lines" % stream] = (data.get(stream) or "").splitlines()
        return data
