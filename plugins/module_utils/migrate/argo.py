# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""An Argo Rollouts Rollout (argoproj.io/v1alpha1, canary strategy) as the rollout role's variables.

``rollout_vars(rollout, analysis_templates=None, namespace=None)`` returns ``{"vars": {...}, "warnings":
[...]}``: the steps become ``rollout_analysis.steps`` (docs/strategies.md "Argo Rollouts' steps"), the
background analysis's Prometheus metrics become ``rollout_analysis.metrics`` with Argo's failure
accounting, and every field the role cannot do yet is named in the warnings by its full path.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.progressive.delivery.plugins.module_utils.analysis import schedule
from ansible_collections.progressive.delivery.plugins.module_utils.migrate._common import (
    MigrationError, Warnings, by_name, check_kind, mapping, name_of, namespace_of, placeholders_to_dollar, sequence)

API_GROUP = "argoproj.io"
EXAMPLE = ("give the Rollout's manifest, for example \"{{ lookup('file', 'rollout.yaml') | from_yaml | "
           "progressive.delivery.argo_rollout_vars(namespace='test') }}\"")
TEMPLATE_KINDS = ("AnalysisTemplate", "ClusterAnalysisTemplate")
# Argo's defaults of a metric's failure accounting (a metric that does not set them).
ARGO_DEFAULT_LIMITS = {"failureLimit": 0, "inconclusiveLimit": 0, "consecutiveErrorLimit": 4}
LIMIT_VARIABLES = {"failureLimit": "failure_limit", "inconclusiveLimit": "inconclusive_limit",
                   "consecutiveErrorLimit": "consecutive_error_limit"}

SPEC_FIELDS = ("workloadRef", "template", "strategy", "progressDeadlineSeconds")
CANARY_FIELDS = ("steps", "trafficRouting", "analysis", "scaleDownDelaySeconds")
CANARY_REASONS = {
    "canaryService": "the rollout role creates and routes to its own Services <apex>-canary and <apex>-primary "
                     "(apex: rollout_service.name); not migrated",
    "stableService": "the rollout role creates and routes to its own Services <apex>-canary and <apex>-primary "
                     "(apex: rollout_service.name); not migrated",
    "maxSurge": "the rollout role scales the canary to the primary's replicas (or rollout_canary_replicas); not migrated",
    "maxUnavailable": "the rollout role scales the canary to the primary's replicas (or rollout_canary_replicas); not migrated",
}
STEP_KINDS = {"setWeight": "set_weight", "pause": "pause", "setHeaderRoute": "set_header_route", "setMirrorRoute": "set_mirror_route"}
METRIC_FIELDS = ("name", "interval", "successCondition", "failureCondition", "provider") + tuple(ARGO_DEFAULT_LIMITS)
PROMETHEUS_FIELDS = ("address", "query", "timeout", "insecure", "headers")

# A condition on the query's single value the role's threshold_range can say: result[0] >= 0.95.
_VALUE = r"(?:result\[0\]|result|asFloat\(result\[0\]\)|float\(result\[0\]\))"
_COMPARISON = re.compile(r"^\s*" + _VALUE + r"\s*(>=|<=|>|<)\s*([-+]?[0-9]+(?:\.[0-9]+)?)\s*$")


def rollout_vars(rollout, analysis_templates=None, namespace=None):
    """The role's variables for ``rollout`` and the warnings: ``{"vars": {...}, "warnings": [...]}``.

    ``analysis_templates``: the AnalysisTemplate / ClusterAnalysisTemplate manifests (one or a list) that
    ``strategy.canary.analysis.templates`` name; ``namespace`` wins over the Rollout's metadata.namespace.
    """
    check_kind(rollout, API_GROUP, ("Rollout",), "an Argo Rollouts Rollout", EXAMPLE)
    warnings = Warnings()
    spec = mapping(rollout.get("spec"), "spec", required=True)
    namespace = namespace_of(rollout, namespace, "Rollout")
    variables = {"rollout_target": _target(rollout, spec, warnings), "rollout_namespace": namespace, "rollout_strategy": schedule.STEPS}
    warnings.unknown(spec, "spec", SPEC_FIELDS, "not migrated: the rollout role rolls out a Deployment, which carries this")
    if spec.get("progressDeadlineSeconds") is not None:
        variables["rollout_progress_deadline_seconds"] = spec["progressDeadlineSeconds"]

    strategy = mapping(spec.get("strategy"), "spec.strategy", required=True)
    if "canary" not in strategy:
        raise MigrationError("spec.strategy.canary is required: only Argo's canary strategy is migrated (got %s); the rollout "
                             "role's Blue/Green is Flagger's, see docs/strategies.md" % (", ".join(sorted(strategy)) or "nothing"))
    warnings.unknown(strategy, "spec.strategy", ("canary",))
    canary = mapping(strategy["canary"], "spec.strategy.canary") or {}
    path = "spec.strategy.canary"
    for field in canary:
        if field not in CANARY_FIELDS:
            warnings.add("%s.%s" % (path, field), CANARY_REASONS.get(field, "not supported by the rollout role; not migrated"))
    if canary.get("scaleDownDelaySeconds") is not None:
        variables["rollout_scale_down_delay"] = canary["scaleDownDelaySeconds"]

    service = _traffic_routing(mapping(canary.get("trafficRouting"), path + ".trafficRouting"), warnings)
    if service:
        variables["rollout_service"] = service

    analysis = {"steps": _steps(canary.get("steps"), warnings)}
    templates = by_name(analysis_templates, TEMPLATE_KINDS, "analysis_templates", namespace)
    prometheus = {}
    analysis.update(_background_analysis(mapping(canary.get("analysis"), path + ".analysis"), templates, namespace, prometheus, warnings))
    variables["rollout_analysis"] = analysis
    if prometheus:
        variables["rollout_prometheus"] = prometheus
    return {"vars": variables, "warnings": warnings.items}


def _target(rollout, spec, warnings):
    reference = mapping(spec.get("workloadRef"), "spec.workloadRef")
    if reference is not None:
        name = name_of(reference, "spec.workloadRef", "the name of the Deployment the Rollout takes its pod template from")
        if reference.get("kind", "Deployment") != "Deployment":
            raise MigrationError("spec.workloadRef.kind %s: the rollout role rolls out Deployments only" % reference["kind"])
        warnings.unknown(reference, "spec.workloadRef", ("apiVersion", "kind", "name"))
        return name
    name = (rollout.get("metadata") or {}).get("name")
    if not spec.get("template") or not name:
        raise MigrationError("spec.workloadRef.name (or spec.template and metadata.name) is required: the rollout role rolls out "
                             "a Deployment; set workloadRef {apiVersion: apps/v1, kind: Deployment, name: ...}")
    warnings.add("spec.template", "the rollout role rolls out a Deployment: create the Deployment %s with this pod template "
                 "(rollout_target is the Rollout's name)" % name)
    return name


def _traffic_routing(routing, warnings):
    path = "spec.strategy.canary.trafficRouting"
    if routing is None:
        return {}
    for field, value in routing.items():
        if field == "plugins" and isinstance(value, dict):
            for plugin in value:
                warnings.add("%s.plugins.%s" % (path, plugin), "the rollout role routes with Istio only (no router for this "
                             "plugin yet, Gateway API included); not migrated")
        elif field == "managedRoutes":
            warnings.add(path + ".managedRoutes", "the rollout role names the routes it writes itself; not migrated")
        elif field != "istio":
            warnings.add("%s.%s" % (path, field), "the rollout role routes with Istio only; not migrated")
    istio = mapping(routing.get("istio"), path + ".istio")
    if istio is None:
        return {}
    if istio.get("destinationRule") is not None:
        warnings.add(path + ".istio.destinationRule", "subset-level routing (the DestinationRule's subsets) is not taken by the "
                     "rollout role yet, which routes host-level; not migrated")
    warnings.unknown(istio, path + ".istio", ("virtualService", "virtualServices", "destinationRule"))
    services = []
    if istio.get("virtualService") is not None:
        services.append((path + ".istio.virtualService", istio["virtualService"]))
    for index, item in enumerate(sequence(istio.get("virtualServices"), path + ".istio.virtualServices")):
        services.append(("%s.istio.virtualServices[%d]" % (path, index), item))
    service = {}
    for field, item in services:
        item = mapping(item, field, required=True)
        if service:
            warnings.add(field, "the rollout role routes one VirtualService (%s); not migrated" % service["name"])
            continue
        # The user owns the VirtualService in Argo: the role takes it over under its name (and keeps its spec to restore).
        service = {"name": name_of(item, field, "the name of the VirtualService"), "adopt": True}
        warnings.unknown(item, field, ("name",), "the rollout role writes its own routes into the adopted VirtualService; not migrated")
    return service


def _steps(steps, warnings):
    path = "spec.strategy.canary.steps"
    steps = sequence(steps, path)
    if not steps:
        # Argo without steps goes to 100 % at once (and still runs the background analysis).
        return [{"set_weight": 100}]
    result = []
    for index, step in enumerate(steps):
        field = "%s[%d]" % (path, index)
        step = mapping(step, field, required=True)
        warnings.unknown(step, field, STEP_KINDS)
        for kind, value in step.items():
            if kind not in STEP_KINDS:
                continue
            if kind == "pause":
                value = dict(mapping(value, field + ".pause") or {})
                warnings.unknown(value, field + ".pause", ("duration",))
                value = dict((key, item) for key, item in value.items() if key == "duration")
            elif kind in ("setHeaderRoute", "setMirrorRoute"):
                known = ("name", "match") + (("percentage",) if kind == "setMirrorRoute" else ())
                value = mapping(value, "%s.%s" % (field, kind), required=True)
                warnings.unknown(value, "%s.%s" % (field, kind), known)
                value = dict((key, item) for key, item in value.items() if key in known)
            result.append({STEP_KINDS[kind]: value})
    return result


def _background_analysis(analysis, templates, namespace, prometheus, warnings):
    """Argo's background analysis (checked during every step) as the role's metrics and failure accounting."""
    path = "spec.strategy.canary.analysis"
    result = {"metrics": []}
    if analysis is None:
        return result
    warnings.unknown(analysis, path, ("templates", "args", "startingStep"))
    if analysis.get("startingStep") is not None:
        warnings.add(path + ".startingStep", "the rollout role checks the metrics from the first step; not migrated")
    args = _rollout_args(sequence(analysis.get("args"), path + ".args"), warnings)
    limits = {}
    intervals = []
    for index, reference in enumerate(sequence(analysis.get("templates"), path + ".templates")):
        field = "%s.templates[%d]" % (path, index)
        reference = mapping(reference, field, required=True)
        warnings.unknown(reference, field, ("templateName", "clusterScope"))
        name = reference.get("templateName")
        if not name:
            raise MigrationError("%s.templateName is required" % field)
        template = templates.get((None if reference.get("clusterScope") else namespace, name)) or templates.get((namespace, name))
        if template is None:
            warnings.add(field, "AnalysisTemplate %s was not given: pass its manifest to the filter (analysis_templates=...) to "
                         "migrate its metrics; not migrated" % name)
            continue
        for metric in _template_metrics(template, name, args, prometheus, limits, intervals, warnings):
            result["metrics"].append(metric)
    if result["metrics"]:
        result["interval"] = min(intervals, key=schedule.duration_seconds)
        for argo_name, variable in LIMIT_VARIABLES.items():
            values = limits.get(argo_name) or []
            result[variable] = min(values)
            if len(set(values)) > 1:
                warnings.add(path, "the metrics' %s differ (%s): the rollout role has one, the smallest was taken"
                             % (argo_name, ", ".join(str(v) for v in values)))
        # Argo's failureLimit counts failures in total; the role's failure_limit counts them in a row: the threshold
        # (failures in total, rollback when reached) keeps Argo's total too.
        result["threshold"] = result["failure_limit"] + 1
    return result


def _rollout_args(args, warnings):
    values = {}
    for index, arg in enumerate(args):
        field = "spec.strategy.canary.analysis.args[%d]" % index
        arg = mapping(arg, field, required=True)
        if arg.get("value") is not None:
            values[arg.get("name")] = str(arg["value"])
        else:
            warnings.unknown(arg, field, ("name", "value"), "a value taken from the cluster at run time is not migrated")
    return values


def _template_metrics(template, name, args, prometheus, limits, intervals, warnings):
    field = "%s %s" % (template["kind"], name)
    spec = mapping(template.get("spec"), field + " spec", required=True)
    warnings.unknown(spec, field + " spec", ("metrics", "args"))
    values = dict(args)
    for arg in sequence(spec.get("args"), field + " spec.args"):
        if isinstance(arg, dict) and arg.get("value") is not None:
            values.setdefault(arg.get("name"), str(arg["value"]))
    for index, metric in enumerate(sequence(spec.get("metrics"), field + " spec.metrics")):
        path = "%s spec.metrics[%d]" % (field, index)
        metric = mapping(metric, path, required=True)
        entry = _metric(metric, path, values, prometheus, warnings)
        if entry is None:
            continue
        for argo_name, default in ARGO_DEFAULT_LIMITS.items():
            limits.setdefault(argo_name, []).append(metric.get(argo_name, default))
        intervals.append(entry["interval"])
        yield entry


def _metric(metric, path, args, prometheus, warnings):
    name = metric.get("name")
    if not name:
        raise MigrationError("%s.name is required" % path)
    provider = mapping(metric.get("provider"), path + ".provider", required=True)
    kinds = sorted(provider)
    if kinds != ["prometheus"]:
        warnings.add("%s.provider.%s" % (path, "/".join(kinds)), "the rollout role queries Prometheus only (this provider is "
                     "not supported yet); metric %s not migrated" % name)
        return None
    warnings.unknown(metric, path, METRIC_FIELDS)
    source = mapping(provider["prometheus"], path + ".provider.prometheus", required=True)
    warnings.unknown(source, path + ".provider.prometheus", PROMETHEUS_FIELDS)
    if not source.get("query"):
        raise MigrationError("%s.provider.prometheus.query is required" % path)
    query, left = placeholders_to_dollar(
        source["query"], lambda placeholder: args.get(placeholder[len("args."):]) if placeholder.startswith("args.") else None)
    if left:
        warnings.add(path + ".provider.prometheus.query", "the placeholders %s have no value (give the args a value); metric %s "
                     "not migrated" % (", ".join(left), name))
        return None
    threshold = _threshold_range(metric, path, warnings)
    if threshold is None:
        return None
    _prometheus_connection(source, path + ".provider.prometheus", prometheus, warnings)
    if not metric.get("interval"):
        warnings.add(path + ".interval", "missing: Argo measures such a metric once; the rollout role checks it every interval (1m)")
    else:
        try:
            schedule.duration_seconds(metric["interval"], path + ".interval")
        except schedule.ScheduleError as exc:
            raise MigrationError(str(exc))
    return {"name": name, "query": query, "threshold_range": threshold, "interval": metric.get("interval") or "1m"}


def _threshold_range(metric, path, warnings):
    """successCondition / failureCondition as an inclusive {min, max} on the query's value, or None (warned)."""
    bounds = {}
    for field, passing in (("successCondition", True), ("failureCondition", False)):
        condition = metric.get(field)
        if condition is None:
            continue
        # A success condition holds when all its parts do; a failure condition fails when any part does.
        for part in re.split(r"&&" if passing else r"\|\|", str(condition)):
            found = _COMPARISON.match(part)
            if not found:
                warnings.add("%s.%s" % (path, field), "%r is not a comparison of the query's value with a number (such as "
                             "result[0] >= 0.95); metric %s not migrated" % (condition, metric.get("name")))
                return None
            operator, number = found.group(1), float(found.group(2))
            number = int(number) if number.is_integer() else number
            bound = "min" if (operator.startswith(">") == passing) else "max"
            if operator in (">", "<") if passing else operator in (">=", "<="):
                warnings.add("%s.%s" % (path, field), "%r: the rollout role's threshold_range is inclusive, so the value %s "
                             "itself passes" % (condition, number))
            current = bounds.get(bound)
            bounds[bound] = number if current is None else (max(current, number) if bound == "min" else min(current, number))
    if not bounds:
        warnings.add(path, "no successCondition or failureCondition: the rollout role needs a threshold; metric %s not migrated"
                     % metric.get("name"))
        return None
    return bounds


def _prometheus_connection(source, path, prometheus, warnings):
    address = source.get("address")
    if not address:
        return
    if prometheus and prometheus["url"] != address:
        warnings.add(path + ".address", "%s: the rollout role queries one Prometheus (%s, from an earlier metric); this metric is "
                     "queried there too" % (address, prometheus["url"]))
        return
    prometheus["url"] = address
    if source.get("insecure"):
        prometheus["validate_certs"] = False
    if source.get("timeout") is not None:
        prometheus["timeout"] = source["timeout"]
    headers = sequence(source.get("headers"), path + ".headers")
    if headers:
        prometheus["headers"] = dict((item.get("key"), item.get("value")) for item in headers if isinstance(item, dict))
