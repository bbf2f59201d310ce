# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A Flagger Canary (flagger.app/v1beta1) as the rollout role's variables.

``canary_vars(canary, metric_templates=None, alert_providers=None, namespace=None)`` returns
``{"vars": {...}, "warnings": [...]}``. Flagger's names become the role's (docs/migration.md has the
table); what the role cannot do yet is named in the warnings by its full path, never dropped silently.
Where the Canary leaves out a setting whose Flagger default differs from the role's (threshold 1,
maxWeight 100, no metrics), Flagger's default is written out, so the role runs what Flagger would.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.progressive.delivery.plugins.module_utils.alerts import PROVIDERS as ALERT_PROVIDERS
from ansible_collections.progressive.delivery.plugins.module_utils.analysis import schedule
from ansible_collections.progressive.delivery.plugins.module_utils.analysis.webhooks import HOOK_TYPES
from ansible_collections.progressive.delivery.plugins.module_utils.migrate._common import (
    MigrationError, Warnings, by_name, check_kind, mapping, name_of, namespace_of, placeholders_to_dollar, sequence)

API_GROUP = "flagger.app"
API_VERSION = "flagger.app/v1beta1"
EXAMPLE = ("give the Canary's manifest, for example \"{{ lookup('file', 'canary.yaml') | from_yaml | "
           "progressive.delivery.flagger_canary_vars }}\"")
# The builtin metrics the role's Istio provider knows under Flagger's names.
BUILTIN_METRICS = ("request-success-rate", "request-duration")
# Flagger's defaults where the role's differ (the role's are Flagger's tutorial values).
FLAGGER_DEFAULT_THRESHOLD = 1
FLAGGER_DEFAULT_MAX_WEIGHT = 100

# Canary spec.service -> rollout_service (Istio's objects are passed as they are).
SERVICE_FIELDS = {
    "name": "name", "port": "port", "portName": "port_name", "targetPort": "target_port", "hosts": "hosts",
    "gateways": "gateways", "trafficPolicy": "traffic_policy", "retries": "retries", "timeout": "timeout",
    "corsPolicy": "cors_policy", "headers": "headers",
}
ANALYSIS_FIELDS = {
    "interval": "interval", "threshold": "threshold", "maxWeight": "max_weight", "stepWeight": "step_weight",
    "stepWeights": "step_weights", "stepWeightPromotion": "step_weight_promotion", "iterations": "iterations",
    "match": "match", "mirror": "mirror", "mirrorWeight": "mirror_weight",
}
SPEC_FIELDS = ("targetRef", "autoscalerRef", "service", "analysis", "progressDeadlineSeconds", "skipAnalysis", "provider")
WEBHOOK_FIELDS = ("name", "type", "url", "timeout", "metadata", "retries")
ALERT_FIELDS = ("name", "severity", "providerRef")
METRIC_FIELDS = ("name", "thresholdRange", "interval", "templateRef", "templateVariables", "query")
MESH_PROVIDERS = ("istio",)


def canary_vars(canary, metric_templates=None, alert_providers=None, namespace=None):
    """The role's variables for ``canary`` and the warnings: ``{"vars": {...}, "warnings": [...]}``.

    ``metric_templates``: MetricTemplate manifests (one or a list) that ``templateRef`` metrics name.
    ``alert_providers``: the AlertProviders that ``alerts[].providerRef`` name, as a mapping of ``name`` (or
    ``namespace/name``) to ``{provider, url, channel, username}`` (Flagger's ``type`` and ``address`` are
    read too), since their URL is a secret the manifest only references.
    ``namespace``: wins over the Canary's metadata.namespace.
    """
    check_kind(canary, API_GROUP, ("Canary",), "a Flagger Canary", EXAMPLE)
    if canary["apiVersion"] != API_VERSION:
        raise MigrationError("apiVersion %s: only %s Canaries are migrated; convert it first (spec.canaryAnalysis became "
                             "spec.analysis in v1beta1)" % (canary["apiVersion"], API_VERSION))
    warnings = Warnings()
    spec = mapping(canary.get("spec"), "spec", required=True)
    namespace = namespace_of(canary, namespace, "Canary")
    target = name_of(spec.get("targetRef"), "spec.targetRef",
                     "the name of the Deployment to roll out, for example {apiVersion: apps/v1, kind: Deployment, name: podinfo}")
    kind = spec["targetRef"].get("kind", "Deployment")
    if kind != "Deployment":
        raise MigrationError("spec.targetRef.kind %s: the rollout role rolls out Deployments only; point targetRef at a "
                             "Deployment" % kind)
    variables = {"rollout_target": target, "rollout_namespace": namespace}
    warnings.unknown(spec, "spec", SPEC_FIELDS)

    provider = spec.get("provider")
    if provider is not None and provider not in MESH_PROVIDERS:
        warnings.add("spec.provider", "%s: the rollout role routes with Istio only; the Istio settings were migrated" % provider)

    autoscaler = mapping(spec.get("autoscalerRef"), "spec.autoscalerRef")
    if autoscaler is not None:
        if autoscaler.get("kind", "HorizontalPodAutoscaler") == "HorizontalPodAutoscaler":
            variables["rollout_autoscaler"] = name_of(autoscaler, "spec.autoscalerRef", "the name of the HorizontalPodAutoscaler")
        else:
            warnings.add("spec.autoscalerRef", "%s %s: the rollout role copies HorizontalPodAutoscalers only; not migrated"
                         % (autoscaler.get("kind"), autoscaler.get("name")))
        warnings.unknown(autoscaler, "spec.autoscalerRef", ("apiVersion", "kind", "name"))

    for field, variable in (("progressDeadlineSeconds", "rollout_progress_deadline_seconds"), ("skipAnalysis", "rollout_skip_analysis")):
        if spec.get(field) is not None:
            variables[variable] = spec[field]

    service = mapping(spec.get("service"), "spec.service")
    if service:
        variables["rollout_service"] = _renamed(service, SERVICE_FIELDS)
        warnings.unknown(service, "spec.service", SERVICE_FIELDS)

    analysis = mapping(spec.get("analysis"), "spec.analysis") or {}
    templates = by_name(metric_templates, ("MetricTemplate",), "metric_templates", namespace)
    result_analysis, prometheus = _analysis(analysis, templates, namespace, warnings)
    variables["rollout_analysis"] = result_analysis
    if prometheus:
        variables["rollout_prometheus"] = prometheus
    try:
        variables["rollout_strategy"] = schedule.select_strategy(result_analysis, "auto")
    except schedule.ScheduleError as exc:
        raise MigrationError("spec.analysis: %s (Flagger would not run this Canary either)" % exc)

    webhooks = [_webhook(hook, "spec.analysis.webhooks[%d]" % index, warnings)
                for index, hook in enumerate(sequence(analysis.get("webhooks"), "spec.analysis.webhooks"))]
    if webhooks:
        variables["rollout_webhooks"] = webhooks
    alerts = _alerts(sequence(analysis.get("alerts"), "spec.analysis.alerts"), alert_providers, namespace, warnings)
    if alerts:
        variables["rollout_alerts"] = alerts
    return {"vars": variables, "warnings": warnings.items}


def _renamed(source, names):
    return dict((names[key], value) for key, value in source.items() if key in names)


def _analysis(analysis, templates, namespace, warnings):
    path = "spec.analysis"
    result = _renamed(analysis, ANALYSIS_FIELDS)
    affinity = mapping(analysis.get("sessionAffinity"), path + ".sessionAffinity")
    if affinity is not None:
        result["session_affinity"] = _renamed(affinity, {"cookieName": "cookie_name", "maxAge": "max_age"})
        warnings.unknown(affinity, path + ".sessionAffinity", ("cookieName", "maxAge"))
    if analysis.get("iterations") is None:  # the canary's weights: Flagger's defaults where the role's differ
        result.setdefault("max_weight", FLAGGER_DEFAULT_MAX_WEIGHT)
    result.setdefault("threshold", FLAGGER_DEFAULT_THRESHOLD)
    metrics, prometheus = [], {}
    for index, metric in enumerate(sequence(analysis.get("metrics"), path + ".metrics")):
        entry = _metric(metric, "%s.metrics[%d]" % (path, index), templates, namespace, prometheus, warnings)
        if entry is not None:
            metrics.append(entry)
    # Flagger checks no metric the Canary does not list; the role's default metrics would add two.
    result["metrics"] = metrics
    warnings.unknown(analysis, path, tuple(ANALYSIS_FIELDS) + ("sessionAffinity", "metrics", "webhooks", "alerts"))
    return result, prometheus


def _metric(metric, path, templates, namespace, prometheus, warnings):
    metric = mapping(metric, path, required=True)
    name = metric.get("name")
    if not name:
        raise MigrationError("%s.name is required (Flagger requires it too)" % path)
    warnings.unknown(metric, path, METRIC_FIELDS)
    if metric.get("threshold") is not None and metric.get("thresholdRange") is None:
        warnings.add(path + ".threshold", "the deprecated threshold is not migrated: write thresholdRange {min: ...} or {max: ...}")
    entry = {"name": name}
    if metric.get("thresholdRange") is not None:
        entry["threshold_range"] = dict(mapping(metric["thresholdRange"], path + ".thresholdRange"))
    if metric.get("interval") is not None:
        entry["interval"] = metric["interval"]
    variables = mapping(metric.get("templateVariables"), path + ".templateVariables") or {}
    reference = mapping(metric.get("templateRef"), path + ".templateRef")
    if reference is not None:
        query = _template_query(reference, path, templates, namespace, prometheus, warnings)
    elif metric.get("query"):
        query = metric["query"]
    elif name in BUILTIN_METRICS:
        return entry
    else:
        warnings.add(path, "%s is not a builtin metric of the rollout role (%s) and has no templateRef; not migrated"
                     % (name, ", ".join(BUILTIN_METRICS)))
        return None
    if query is None:
        return None
    query, left = placeholders_to_dollar(query, lambda found: _template_variable(found, variables))
    if left:
        warnings.add(path, "the query's placeholders %s are not template variables the role knows; not migrated" % ", ".join(left))
        return None
    entry["query"] = query
    return entry


def _template_variable(placeholder, variables):
    # Flagger's templateVariables are fixed strings of the Canary: written into the query as they are.
    if placeholder.startswith("variables."):
        value = variables.get(placeholder[len("variables."):])
        return None if value is None else str(value)
    return None


def _template_query(reference, path, templates, namespace, prometheus, warnings):
    name = name_of(reference, path + ".templateRef", "the name of the MetricTemplate")
    template_namespace = reference.get("namespace") or namespace
    template = templates.get((template_namespace, name))
    if template is None:
        warnings.add(path + ".templateRef", "MetricTemplate %s/%s was not given: pass its manifest to the filter "
                     "(metric_templates=...) to migrate its query; not migrated" % (template_namespace, name))
        return None
    field = "MetricTemplate %s/%s" % (template_namespace, name)
    spec = mapping(template.get("spec"), field + " spec", required=True)
    warnings.unknown(spec, field + " spec", ("provider", "query"))
    provider = mapping(spec.get("provider"), field + " spec.provider") or {}
    kind = provider.get("type", "prometheus")
    if kind != "prometheus":
        warnings.add(path + ".templateRef", "%s uses the %s provider; the rollout role queries Prometheus only; not migrated" % (field, kind))
        return None
    warnings.unknown(provider, field + " spec.provider", ("type", "address", "insecureSkipVerify"),
                     "not migrated: give Prometheus' credentials in rollout_prometheus (bearer_token, username, password)")
    if provider.get("address"):
        if not prometheus:
            prometheus["url"] = provider["address"]
            if provider.get("insecureSkipVerify"):
                prometheus["validate_certs"] = False
        elif prometheus["url"] != provider["address"]:
            warnings.add(field + " spec.provider.address", "%s: the rollout role queries one Prometheus (%s, from an earlier "
                         "template); this metric is queried there too" % (provider["address"], prometheus["url"]))
    if not spec.get("query"):
        raise MigrationError("%s spec.query is required" % field)
    return spec["query"]


def _webhook(hook, path, warnings):
    hook = mapping(hook, path, required=True)
    for field in ("name", "url"):
        if not hook.get(field):
            raise MigrationError("%s.%s is required (Flagger requires it too)" % (path, field))
    kind = hook.get("type", "rollout")
    if kind not in HOOK_TYPES:
        raise MigrationError("%s.type %r is not one of Flagger's webhook types (%s)" % (path, kind, ", ".join(HOOK_TYPES)))
    warnings.unknown(hook, path, WEBHOOK_FIELDS)
    entry = dict((key, hook[key]) for key in WEBHOOK_FIELDS if hook.get(key) is not None)
    entry["type"] = kind
    return entry


def _alerts(alerts, providers, namespace, warnings):
    providers = mapping(providers, "alert_providers") or {}
    result = []
    for index, alert in enumerate(alerts):
        path = "spec.analysis.alerts[%d]" % index
        alert = mapping(alert, path, required=True)
        warnings.unknown(alert, path, ALERT_FIELDS)
        reference = name_of(alert.get("providerRef"), path + ".providerRef", "the name of the AlertProvider")
        reference_namespace = alert["providerRef"].get("namespace") or namespace
        known = providers.get("%s/%s" % (reference_namespace, reference), providers.get(reference))
        if known is None:
            warnings.add(path + ".providerRef", "AlertProvider %s/%s is unresolved: give it to the filter (alert_providers={'%s': "
                         "{provider: slack, url: ...}}); not migrated" % (reference_namespace, reference, reference))
            continue
        known = mapping(known, "alert_providers[%s]" % reference)
        kind, url = known.get("provider") or known.get("type"), known.get("url") or known.get("address")
        if kind not in ALERT_PROVIDERS:
            warnings.add(path + ".providerRef", "AlertProvider %s is of type %r; the rollout role posts to %s; not migrated"
                         % (reference, kind, ", ".join(sorted(ALERT_PROVIDERS))))
            continue
        if not url:
            warnings.add(path + ".providerRef", "AlertProvider %s has no url (its secretRef is not read); not migrated" % reference)
            continue
        entry = {"name": alert.get("name") or reference, "provider": kind, "url": url, "severity": alert.get("severity", "info")}
        for key in ("channel", "username"):
            if known.get(key):
                entry[key] = known[key]
        result.append(entry)
    return result
