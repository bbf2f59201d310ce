# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One round of metric checks, as Flagger's analysis runs them, with the reasons kept.

``build_checks`` validates the task's metric list (every problem names ``metrics[i].field``),
``run_checks`` asks each metric's source (Prometheus, a JSON endpoint, SkyWalking: analysis/sources/,
behind metric_source.MetricSource) and returns an explainable report: for every metric the query as
sent, its value, the threshold range, a status (pass | fail | no_data | error) and a message in
Flagger's words (``request success rate 69.17% < 99%``).
"""

import copy
import re

from ansible_collections.progressive.delivery.plugins.module_utils.analysis import providers, sources
from ansible_collections.progressive.delivery.plugins.module_utils.analysis import window as metric_window
from ansible_collections.progressive.delivery.plugins.module_utils.analysis.metric_source import SourceConfigError, SourceError
from ansible_collections.progressive.delivery.plugins.module_utils.analysis.prometheus import CONNECTION_ARGUMENT_SPEC
from ansible_collections.progressive.delivery.plugins.module_utils.analysis.render import (
    BUILTIN_VARIABLES, TemplateError, check_duration, uses_variable)
from ansible_collections.progressive.delivery.plugins.module_utils.analysis.results import (
    NoDataError, ResultShapeError)
from ansible_collections.progressive.delivery.plugins.module_utils.analysis.thresholds import (
    ThresholdError, ThresholdRange, fmt_number)

ON_NO_DATA_CHOICES = ("fail", "pass", "skip")
STATUS_PASS, STATUS_FAIL, STATUS_NO_DATA, STATUS_ERROR = "pass", "fail", "no_data", "error"
_VARIABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class CheckConfigError(ValueError):
    """The task's metric configuration is unusable; the message names the field and the fix."""


class MetricCheck(object):
    def __init__(self, name, template, threshold, interval, builtin=None, title=None, unit="", source=sources.DEFAULT_SOURCE,
                 source_options=None):
        self.name = name
        self.template = template
        self.threshold = threshold
        self.interval = interval
        self.builtin = builtin      # the builtin template's name, or None for a custom query
        self.title = title or name
        self.unit = unit
        self.source = source                    # where the number comes from (sources.SOURCES)
        self.source_options = source_options    # the source's validated options (web, skywalking), else None
        self.interval_field = "interval"        # the option the interval comes from, for the window check's fix
        self.variables = {}                     # the metric's own template variables (a metric template's), over the task's


def measured_argument_spec():
    """The options of the modules that measure a canary: how to reach Prometheus, the provider's builtin
    queries, and who is measured (the template variables target, namespace, service and the user's)."""
    return dict(
        prometheus=dict(type="dict", default={}, options=copy.deepcopy(CONNECTION_ARGUMENT_SPEC)),
        provider=dict(type="str", choices=providers.provider_names(), default="istio"),
        target=dict(type="str", required=True),
        namespace=dict(type="str", required=True),
        service=dict(type="str"),
        variables=dict(type="dict", default={}),
    )


def template_variables(provider, target, namespace, interval, service=None, name=None, variables=None):
    """The variables a template sees: Flagger's builtins, provider defaults, then the user's own."""
    if not target:
        raise CheckConfigError("target is required: the name of the canary Deployment to measure")
    if not namespace:
        raise CheckConfigError("namespace is required: the namespace of the target")
    try:
        check_duration(interval, "interval")
    except TemplateError as exc:
        raise CheckConfigError(str(exc))
    result = {"name": name or target, "namespace": namespace, "target": target, "service": service or target, "interval": interval}
    result.update(providers.default_variables(provider, result))
    for key, value in (variables or {}).items():
        if key in BUILTIN_VARIABLES:
            raise CheckConfigError("variables.%s: %s is a builtin variable; set it with the %s option instead" % (key, key, key))
        if not _VARIABLE_NAME.match(str(key)):
            raise CheckConfigError("variables: %r is not a valid variable name (letters, digits and _; not starting with a digit)" % (key,))
        result[key] = value
    return result


def build_checks(provider, metrics, default_interval):
    """Validate the ``metrics`` option and return MetricCheck objects."""
    try:
        builtins = providers.builtin_templates(provider)
    except KeyError as exc:
        raise CheckConfigError(exc.args[0])
    if not metrics:
        raise CheckConfigError("metrics is empty: give at least one metric, e.g. {name: request-success-rate, threshold_range: {min: 99}}")
    checks = []
    seen = set()
    for index, spec in enumerate(metrics):
        field = "metrics[%d]" % index
        if not isinstance(spec, dict):
            raise CheckConfigError("%s must be a dictionary with name and query or template, got %r" % (field, spec))
        name = spec.get("name")
        if not name:
            raise CheckConfigError("%s.name is required" % field)
        if name in seen:
            raise CheckConfigError("%s.name %r is used twice: metric names must be unique" % (field, name))
        seen.add(name)
        query, template_name = spec.get("query"), spec.get("template")
        if query and template_name:
            raise CheckConfigError("%s (%s): give either query or template, not both" % (field, name))
        try:
            threshold = ThresholdRange.from_option(spec.get("threshold_range"), "%s.threshold_range" % field)
            interval = check_duration(spec.get("interval") or default_interval, "%s.interval" % field)
        except (ThresholdError, TemplateError) as exc:
            raise CheckConfigError(str(exc))
        source, source_options = _metric_source(spec, field, name)
        own_variables = _metric_variables(spec.get("variables"), field, name)
        if source != sources.DEFAULT_SOURCE:
            checks.append(MetricCheck(name, None, threshold, interval, source=source, source_options=source_options))
            checks[-1].variables = own_variables
            continue
        if query:
            checks.append(MetricCheck(name, query, threshold, interval))
            checks[-1].variables = own_variables
            continue
        template_name = template_name or name
        if template_name not in builtins:
            raise CheckConfigError(
                "%s (%s): %r is not a builtin %s metric (builtins: %s); give %s.query with your own PromQL or %s.template"
                % (field, name, template_name, provider, ", ".join(sorted(builtins)), field, field))
        builtin = builtins[template_name]
        checks.append(MetricCheck(name, builtin.query, threshold, interval, builtin=builtin.name, title=builtin.title, unit=builtin.unit))
    # One check per metric, in order: name the option a too-short window comes from.
    for index, (check, spec) in enumerate(zip(checks, metrics)):
        check.interval_field = "metrics[%d].interval" % index if spec.get("interval") else "interval"
    return checks


def check_windows(config, checks):
    """Raise MetricWindowError when a Prometheus metric's window is shorter than two scrape intervals.

    ``config``: Prometheus' ``/api/v1/status/config`` answer. The interval that applies is the largest
    of the global one and every job's: which job scrapes a query's series is not known from the
    query, and the slowest one is the one that leaves a short window with a single sample. Web and
    SkyWalking metrics have their own sources and are not checked. Returns
    ``{"scrape_interval_seconds", "job", "checked": [metric names]}``.
    """
    intervals = metric_window.scrape_intervals(config)
    job, scrape = None, intervals["global"]
    for name in sorted(intervals["jobs"]):
        if intervals["jobs"][name] > scrape:
            job, scrape = name, intervals["jobs"][name]
    checked = []
    for check in checks:
        # a query without the window (a constant, an instant vector) holds whatever the scrapes give it
        if check.source != sources.DEFAULT_SOURCE or not uses_variable(check.template, "interval"):
            continue
        metric_window.check_metric_window(check.interval, scrape, name="%s of metric %s" % (check.interval_field, check.name)
                                          if check.interval_field != "interval" else "interval (rollout_analysis.metric_interval)",
                                          job=job)
        checked.append(check.name)
    return {"scrape_interval_seconds": scrape, "job": job, "checked": checked}


def _metric_variables(variables, field, name):
    """A metric's own template variables (set by a metric template: analysis/templates.py)."""
    if variables is None:
        return {}
    if not isinstance(variables, dict):
        raise CheckConfigError("%s (%s): %s.variables must be a dictionary of template variables, got %r" % (field, name, field, variables))
    for key in variables:
        if key in BUILTIN_VARIABLES or not _VARIABLE_NAME.match(str(key)):
            raise CheckConfigError("%s (%s): %s.variables: %r cannot be a template variable (a builtin, or not a name)" % (field, name, field, key))
    return dict(variables)


def _metric_source(spec, field, name):
    """``(source name, validated options)`` of one metric entry: the source whose options it carries."""
    given = [key for key in sources.OPTION_SOURCES if spec.get(key) is not None]
    if len(given) > 1:
        raise CheckConfigError("%s (%s): give one metrics source, not %s: one of %s per metric"
                               % (field, name, " and ".join(given), ", ".join("%s.%s" % (field, key) for key in given)))
    if not given:
        return sources.DEFAULT_SOURCE, None
    source = given[0]
    for option in ("query", "template"):
        if spec.get(option):
            where = "%s.web.url and %s.web.json_path" % (field, field) if source == "web" else "%s.skywalking.query" % field
            raise CheckConfigError("%s (%s): %s.%s is a Prometheus option and cannot be used with %s.%s; the %s metric's query is %s"
                                   % (field, name, field, option, field, source, source, where))
    try:
        return source, sources.validate_options(source, spec[source], "%s.%s" % (field, source))
    except SourceConfigError as exc:
        raise CheckConfigError(str(exc))


def run_checks(source_set, checks, variables, on_no_data="fail", provider=None):
    """Query every check; returns the report dict.

    ``source_set`` is a ``sources.SourceSet`` (or a Prometheus client, for Prometheus checks only). An error
    that concerns one metric's query (kind ``api``), a result that is not one number, or a template that
    cannot be rendered is that metric's status ``error``; an unusable source (config, connection, TLS, auth,
    response) is raised, as it concerns every metric it serves."""
    if on_no_data not in ON_NO_DATA_CHOICES:
        raise CheckConfigError("on_no_data must be one of %s, got %r" % (", ".join(ON_NO_DATA_CHOICES), on_no_data))
    source_set = sources.as_source_set(source_set)
    metrics = [run_check(source_set, check, variables, provider) for check in checks]
    failed, skipped, errors = [], [], []
    for item in metrics:
        if item["status"] == STATUS_ERROR:
            errors.append(item["name"])
            failed.append(item["name"])
        elif item["status"] == STATUS_FAIL or (item["status"] == STATUS_NO_DATA and on_no_data == "fail"):
            failed.append(item["name"])
        elif item["status"] == STATUS_NO_DATA and on_no_data == "skip":
            skipped.append(item["name"])
    # Not "failed"/"skipped": Ansible reads those result keys as the task's own state.
    return {"passed": not failed, "metrics": metrics, "failed_metrics": failed, "skipped_metrics": skipped, "error_metrics": errors}


def run_check(source_set, check, variables, provider=None):
    item = {"name": check.name, "source": check.source, "template": check.builtin, "query": None, "interval": check.interval,
            "value": None, "threshold_range": check.threshold.to_dict(), "status": STATUS_ERROR, "message": ""}
    source = sources.as_source_set(source_set).for_check(check)
    try:
        scope = dict(variables)
        scope.update(check.variables)
        scope["interval"] = check.interval
        query = source.render(check.template, scope)
        item["query"] = source.describe(query)
    except TemplateError as exc:
        item["message"] = "metric %s: %s" % (check.name, exc)
        return item
    try:
        value = source.run_query(query)
    except SourceError as exc:
        if not exc.concerns_query:
            if check.source == sources.DEFAULT_SOURCE:
                raise
            # Each web or SkyWalking metric has its own endpoint: say which metric could not reach it.
            raise type(exc)("metric %s: %s" % (check.name, exc), url=exc.url, status=exc.status)
        item["message"] = "metric %s: %s" % (check.name, exc)
        return item
    except ResultShapeError as exc:
        item["message"] = "metric %s: %s" % (check.name, exc)
        return item
    except NoDataError as exc:
        item["status"] = STATUS_NO_DATA
        item["message"] = no_data_message(check, variables, provider, exc)
        return item
    item["value"] = value
    bound = check.threshold.breach(value)
    item["status"] = STATUS_PASS if bound is None else STATUS_FAIL
    item["message"] = value_message(check, value, bound)
    return item


def check_online(source_set, checks):
    """Flagger's check that the metrics servers answer, before anything is measured: Prometheus (``vector(1)``)
    when a check uses it or there is no check, and every SkyWalking server once. Raises the typed error;
    returns the names of the sources checked. A web endpoint is known only per query: its first query is its check."""
    source_set = sources.as_source_set(source_set)
    checked, seen = [], set()
    if not checks or any(check.source == sources.DEFAULT_SOURCE for check in checks):
        source_set.prometheus().is_online()
        checked.append(sources.DEFAULT_SOURCE)
    for check in checks:
        if check.source == "skywalking" and check.source_options["url"] not in seen:
            seen.add(check.source_options["url"])
            source_set.for_check(check).is_online()
            checked.append("skywalking %s" % check.source_options["url"])
    return checked


def value_message(check, value, bound):
    """Flagger's words: ``request success rate 69.17% < 99%``, ``request duration 523.00ms > 500ms``."""
    shown = "%s %.2f%s" % (check.title, value, check.unit)
    low, high = check.threshold.min, check.threshold.max
    if bound == "min":
        return "%s < %s%s" % (shown, fmt_number(low), check.unit)
    if bound == "max":
        return "%s > %s%s" % (shown, fmt_number(high), check.unit)
    if low is not None and high is not None:
        return "%s within [%s%s, %s%s]" % (shown, fmt_number(low), check.unit, fmt_number(high), check.unit)
    if low is not None:
        return "%s >= %s%s" % (shown, fmt_number(low), check.unit)
    if high is not None:
        return "%s <= %s%s" % (shown, fmt_number(high), check.unit)
    return "%s (no threshold)" % shown


def no_data_message(check, variables, provider, exc):
    kind = "%s metric" % provider if check.builtin and provider else "custom metric"
    return "no values found for %s %s probably %s.%s is not receiving traffic: %s" % (
        kind, check.name, variables.get("target"), variables.get("namespace"), exc)


def summary(report):
    """One line for ``msg``: the failed metrics' messages, or that all passed."""
    if report["passed"]:
        return "all %d metric checks passed" % len(report["metrics"])
    reasons = [m["message"] for m in report["metrics"] if m["name"] in report["failed_metrics"]]
    return "metric checks failed: %s" % "; ".join(reasons)
