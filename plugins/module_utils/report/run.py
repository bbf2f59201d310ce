# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""canary_report (entry point): read the status (the ``status`` option, else the ConfigMap through the
cluster), build the report and write the HTML page and the JSON file into ``dest``.

A file whose bytes would not change is not written, so a second run reports ``changed=false``; each
file is written to a temporary name beside it and renamed, so a reader never sees half a page.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import tempfile

from ansible_collections.progressive.delivery.plugins.module_utils._errors import CanaryError
from ansible_collections.progressive.delivery.plugins.module_utils.k8s import ClusterError
from ansible_collections.progressive.delivery.plugins.module_utils.report import data as report_data
from ansible_collections.progressive.delivery.plugins.module_utils.report import page
from ansible_collections.progressive.delivery.plugins.module_utils.state import status as st


def file_names(target):
    """The report's file names in ``dest``: ``(<target>-canary-report.html, <target>-canary-report.json)``."""
    return "%s-canary-report.html" % target, "%s-canary-report.json" % target


def read_status(module):
    """The status to report: the ``status`` option, else the one stored in the cluster."""
    params = module.params
    if params["status"] is not None:
        return params["status"]
    name = st.status_name(params["target"])
    configmap = module.cluster.objects("v1", "ConfigMap").get(params["namespace"], name)
    if configmap is None:
        raise CanaryError("%s.%s has no rollout status (ConfigMap %s): run the playbook progressive.delivery.rollout first, "
                          "or give the status option" % (params["target"], params["namespace"], name), field="target")
    return st.decode(configmap)


def _current(path):
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except (IOError, OSError):
        return None


def _write(path, content):
    directory = os.path.dirname(path)
    handle, temporary = tempfile.mkstemp(prefix=".canary-report-", dir=directory)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(content)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def run_report(module):
    """Write the report; with ``fail_on_error`` false every error is a warning and the result says it (``error``)."""
    if module.params.get("fail_on_error", True):
        return _report(module)
    try:
        return _report(module)
    except (CanaryError, ClusterError, st.StatusError, report_data.ReportError, OSError) as exc:
        params = module.params
        html_name, json_name = file_names(params["target"])
        dest = os.path.abspath(os.path.expanduser(params["dest"]))
        message = "the report of %s.%s was not written: %s" % (params["target"], params["namespace"], getattr(exc, "message", None) or exc)
        module.module.warn(message)
        return {"changed": False, "html": os.path.join(dest, html_name), "json": os.path.join(dest, json_name), "written": [],
                "entries": 0, "error": message, "msg": message}


def _report(module):
    params = module.params
    dest = os.path.abspath(os.path.expanduser(params["dest"]))
    if os.path.exists(dest) and not os.path.isdir(dest):
        raise CanaryError("dest %s exists and is not a directory: give the directory to write the report into" % dest, field="dest")
    try:
        built = report_data.report_data(read_status(module), params["target"], params["namespace"])
    except report_data.ReportError as exc:
        raise CanaryError(str(exc), field="status")
    html_name, json_name = file_names(params["target"])
    html_path, json_path = os.path.join(dest, html_name), os.path.join(dest, json_name)
    json_text = report_data.to_json(built)
    contents = ((html_path, page.render(built).encode("utf-8")), (json_path, json_text.encode("utf-8")))
    stale = [(path, content) for path, content in contents if _current(path) != content]
    result = {"changed": bool(stale), "html": html_path, "json": json_path, "written": [path for path, _c in stale],
              "entries": len(built["history"])}
    if module.diff_mode and stale:
        before = _current(json_path)
        result["diff"] = {"before_header": json_path, "after_header": json_path,
                          "before": before.decode("utf-8", "replace") if before is not None else "", "after": json_text}
    if module.check_mode:
        result["msg"] = ("would write %s" % ", ".join(result["written"])) if stale else "the report is up to date"
        return result
    if stale and not os.path.isdir(dest):
        os.makedirs(dest)
    for path, content in stale:
        _write(path, content)
    result["msg"] = ("wrote %s" % ", ".join(result["written"])) if stale else "the report is up to date"
    return result
