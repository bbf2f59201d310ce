# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Canary versus primary: sample each metric for both workloads with a range query and judge them.

``build_comparison`` validates the task's options (every problem names the option and the fix)
before anything is sent; ``run_comparison`` renders every metric's query twice - ``target`` is the
canary workload, then the primary one (``<target>-primary``) - queries both over the same window
with the same step, and hands the samples to the pure judge in ``compare.py``.
"""

import time

from ansible_collections.progressive.delivery.plugins.module_utils._names import primary_name
from ansible_collections.progressive.delivery.plugins.module_utils.analysis import checks, compare, providers
from ansible_collections.progressive.delivery.plugins.module_utils.analysis.prometheus import (
    PrometheusAPIError, PrometheusConfigError, seconds, timestamp)
from ansible_collections.progressive.delivery.plugins.module_utils.analysis.render import TemplateError, check_duration, render
from ansible_collections.progressive.delivery.plugins.module_utils.analysis.results import ResultShapeError, format_labels, parse_value

# The Hodges-Lehmann shift looks at every canary x primary pair: bound the samples per side.
MAX_SAMPLES = 1000


class CompareError(ValueError):
    """A metric cannot be compared (bad query, ambiguous result); the message names the metric."""


class CompareMetric(object):
    def __init__(self, name, template, spec, interval, builtin=None, title=None, unit=""):
        self.name = name
        self.template = template
        self.spec = spec                # compare.MetricSpec
        self.interval = interval
        self.builtin = builtin
        self.title = title or name
        self.unit = unit


class Comparison(object):
    """Everything a run needs, validated: the metrics, the window, the thresholds and both sides' variables."""

    def __init__(self, metrics, window, step, end, thresholds, on_no_data, canary_variables, primary_variables):
        self.metrics = metrics
        self.window = window
        self.step = step
        self.end = end
        self.thresholds = thresholds
        self.on_no_data = on_no_data
        self.canary_variables = canary_variables
        self.primary_variables = primary_variables


def build_comparison(params):
    """Validate the module's options (a dict shaped like its argument spec) into a Comparison."""
    provider = params.get("provider") or "istio"
    if provider not in providers.provider_names():
        raise compare.CompareConfigError("unknown metrics provider %r; choose one of: %s" % (provider, ", ".join(providers.provider_names())))
    target = params.get("target")
    try:
        step = check_duration(params.get("step"), "step")
        window = check_duration(params.get("window"), "window")
        interval = check_duration(params.get("interval") or step, "interval")
        step_seconds, window_seconds = seconds(step, "step"), seconds(window, "window")
        end = None if params.get("end") in (None, "") else timestamp(params.get("end"), "end")
    except (TemplateError, PrometheusConfigError) as exc:
        raise compare.CompareConfigError(str(exc))
    if step_seconds <= 0 or window_seconds <= 0:
        raise compare.CompareConfigError("step and window must be longer than 0, e.g. window=5m and step=30s")
    if window_seconds < step_seconds:
        raise compare.CompareConfigError("window %s is shorter than step %s: the window must hold several steps, e.g. window=5m, step=30s"
                                         % (window, step))
    samples = int(window_seconds // step_seconds) + 1
    if samples > MAX_SAMPLES:
        raise compare.CompareConfigError("window %s / step %s gives %d samples per side, more than the %d judged: use a longer step"
                                         % (window, step, samples, MAX_SAMPLES))
    confidence = compare.check_confidence(params.get("confidence", compare.DEFAULT_CONFIDENCE), "confidence")
    min_samples = compare.check_min_samples(params.get("min_samples", compare.DEFAULT_MIN_SAMPLES), "min_samples")
    thresholds = compare.Thresholds.from_option(params.get("thresholds"), "thresholds")
    on_no_data = compare.check_on_no_data(params.get("on_no_data") or "fail")
    primary = params.get("primary") or (primary_name(target) if target else None)
    try:
        canary_variables = checks.template_variables(provider, target, params.get("namespace"), interval, service=params.get("service"),
                                                     variables=params.get("variables"))
        primary_variables = checks.template_variables(provider, primary, params.get("namespace"), interval, service=params.get("service"),
                                                      name=target, variables=params.get("variables"))
    except checks.CheckConfigError as exc:
        raise compare.CompareConfigError(str(exc))
    if primary == target:
        raise compare.CompareConfigError("primary %r is the target itself: the canary must be compared with another workload "
                                         "(default <target>-primary)" % primary)
    metrics = build_metrics(provider, params.get("metrics"), interval, confidence, min_samples)
    return Comparison(metrics, window, step, end, thresholds, on_no_data, canary_variables, primary_variables)


def build_metrics(provider, metrics, default_interval, confidence, min_samples):
    try:
        builtins = providers.compare_templates(provider)
    except KeyError as exc:
        raise compare.CompareConfigError(exc.args[0])
    if not metrics:
        raise compare.CompareConfigError("metrics is empty: give at least one metric, e.g. {name: request-duration}")
    out, seen = [], set()
    for index, item in enumerate(metrics):
        field = "metrics[%d]" % index
        if not isinstance(item, dict):
            raise compare.CompareConfigError("%s must be a dictionary with name and query or template, got %r" % (field, item))
        name = item.get("name")
        if not name:
            raise compare.CompareConfigError("%s.name is required" % field)
        if name in seen:
            raise compare.CompareConfigError("%s.name %r is used twice: metric names must be unique" % (field, name))
        seen.add(name)
        query, template_name = item.get("query"), item.get("template")
        if query and template_name:
            raise compare.CompareConfigError("%s (%s): give either query or template, not both" % (field, name))
        builtin = None
        if not query:
            template_name = template_name or name
            if template_name not in builtins:
                known = ", ".join(sorted(builtins)) or "none"
                raise compare.CompareConfigError(
                    "%s (%s): %r is not a builtin %s comparison metric (builtins: %s); give %s.query with your own PromQL, where $target "
                    "is the workload of each side" % (field, name, template_name, provider, known, field))
            builtin = builtins[template_name]
        direction = item.get("direction") or (builtin.direction if builtin else None) or "either"
        field = "%s (%s)" % (field, name)
        try:
            interval = check_duration(item.get("interval") or default_interval, "%s.interval" % field)
        except TemplateError as exc:
            raise compare.CompareConfigError(str(exc))
        weight = item.get("weight")
        spec = compare.MetricSpec(
            name, direction=direction, confidence=confidence if item.get("confidence") is None else item.get("confidence"),
            effect_size=_effect_option(item.get("effect_size")), critical=bool(item.get("critical")),
            weight=1.0 if weight is None else weight, min_samples=min_samples, field=field)
        if builtin:
            out.append(CompareMetric(name, builtin.query, spec, interval, builtin=builtin.name, title=builtin.title, unit=builtin.unit))
        else:
            out.append(CompareMetric(name, query, spec, interval))
    return out


def _effect_option(value):
    if isinstance(value, dict):
        return dict((k, v) for k, v in value.items() if v is not None)
    return value


def run_comparison(client, comparison, now=None):
    """Query both sides of every metric and judge them; returns the report (see canary_compare's RETURN)."""
    end = comparison.end if comparison.end is not None else (time.time() if now is None else now)
    start = end - seconds(comparison.window, "window")
    samples, queries, values = {}, {}, {}
    for metric in comparison.metrics:
        sides = []
        for side, variables in (("canary", comparison.canary_variables), ("primary", comparison.primary_variables)):
            try:
                query = render(metric.template, dict(variables, interval=metric.interval))
            except TemplateError as exc:
                raise CompareError("metric %s: %s" % (metric.name, exc))
            queries.setdefault(metric.name, {})[side] = query
            try:
                result = client.query_range(query, start=start, end=end, step=comparison.step)
                sides.append(series_values(result))
            except PrometheusAPIError as exc:
                raise CompareError("metric %s (%s): %s" % (metric.name, side, exc))
            except ResultShapeError as exc:
                raise CompareError("metric %s (%s): %s" % (metric.name, side, exc))
        samples[metric.name] = tuple(sides)
        values[metric.name] = sides
    report = compare.judge([m.spec for m in comparison.metrics], samples, comparison.thresholds, comparison.on_no_data)
    for metric, item in zip(comparison.metrics, report["metrics"]):
        item["template"] = metric.builtin
        item["interval"] = metric.interval
        item["queries"] = queries[metric.name]
        item["canary"]["values"] = values[metric.name][0]
        item["primary"]["values"] = values[metric.name][1]
        item["message"] = message(metric, item)
    report["window"] = {"start": start, "end": end, "window": comparison.window, "step": comparison.step}
    report["canary_workload"] = comparison.canary_variables["target"]
    report["primary_workload"] = comparison.primary_variables["target"]
    return report


def series_values(result):
    """The values of the one series of a range query (``None`` when there is no series)."""
    if not result.result:
        return None
    if len(result.result) > 1:
        raise ResultShapeError("the query returned %d series where one was expected: %s -- aggregate them (e.g. sum(...)) or narrow "
                               "the label matchers" % (len(result.result), "; ".join(format_labels(s.get("metric")) for s in result.result)))
    return [parse_value(value) for _ts, value in result.result[0].get("values", [])]


def message(metric, item):
    """One line per metric: ``request duration: High (the canary is significantly higher ...)``."""
    shown = metric.title
    if item["classification"] != compare.CLASS_NODATA:
        canary, primary = _num(item["canary"]["median"]), _num(item["primary"]["median"])
        shown += " canary %s%s vs primary %s%s (medians)" % (canary, metric.unit, primary, metric.unit)
    return "%s: %s - %s" % (shown, item["classification"], item["reason"])


def _num(value):
    return "%.2f" % value


def summary(report):
    text = "canary versus primary: %s, %s" % (report["verdict"], report["reason"])
    failing = [m["message"] for m in report["metrics"] if m["classification"] != compare.CLASS_PASS]
    if failing:
        text += "; " + "; ".join(failing)
    return text
