# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The settings of a rollout, validated all at once before anything is written.

A configuration error is the operator's, not the revision's: it must stop the run before the
lock, the status, the canary's replicas or the traffic are touched, and name the variable and the
fix. ``validate`` takes the role's merged variables (Flagger's names under ``rollout_*``) and
returns the normalised settings the loop runs on (durations in seconds, the schedule, the
threshold, the lease duration), or raises SettingsError for the first problem found.

Plain Python: no Ansible, no network.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.progressive.delivery.plugins.module_utils._names import target_names
from ansible_collections.progressive.delivery.plugins.module_utils.analysis import checks, providers, schedule
from ansible_collections.progressive.delivery.plugins.module_utils.analysis.render import is_duration

# A lease lasts one interval (so a dead runner's canary is taken over within one interval), but
# never less than this: the work between two heartbeats (a metric check, a route change) must fit.
MIN_LOCK_TTL = 10
HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
_URL = re.compile(r"^https?://[^/\s:]+(:[0-9]{1,5})?(/\S*)?$")


class SettingsError(ValueError):
    """A rollout variable is invalid; the message names it and says what it must be."""


def _integer(value, name, minimum=None, maximum=None):
    if isinstance(value, str) and re.match(r"^-?[0-9]+$", value.strip()):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise SettingsError("%s must be an integer, got %r" % (name, value))
    if minimum is not None and value < minimum:
        raise SettingsError("%s must be at least %d, got %d" % (name, minimum, value))
    if maximum is not None and value > maximum:
        raise SettingsError("%s must be at most %d, got %d" % (name, maximum, value))
    return value


def _number(value, name, positive=True):
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            pass
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SettingsError("%s must be a number, got %r" % (name, value))
    if positive and value <= 0:
        raise SettingsError("%s must be positive, got %r" % (name, value))
    return value


def check_url(value, name):
    if not isinstance(value, str) or not _URL.match(value.strip()):
        raise SettingsError("%s must be an http:// or https:// URL such as http://prometheus.istio-system:9090, got %r" % (name, value))
    return value.strip()


def _choice(value, name, choices):
    if value not in choices:
        raise SettingsError("%s must be one of %s, got %r" % (name, ", ".join(choices), value))
    return value


def _interval(analysis):
    interval = analysis.get("interval")
    if not is_duration(interval):
        raise SettingsError("rollout_analysis.interval must be a duration such as 10s, 1m or 1m30s, got %r" % (interval,))
    try:
        return schedule.duration_seconds(interval, "rollout_analysis.interval")
    except schedule.ScheduleError as exc:
        raise SettingsError(str(exc))


def _schedule(analysis, strategy):
    try:
        steps = schedule.analysis_steps(
            strategy=strategy,
            max_weight=_integer(analysis["max_weight"], "rollout_analysis.max_weight", 1, 100) if analysis.get("max_weight") is not None else None,
            step_weight=_integer(analysis["step_weight"], "rollout_analysis.step_weight", 1, 100) if analysis.get("step_weight") is not None else None,
            step_weights=[_integer(w, "rollout_analysis.step_weights[%d]" % i, 1, 100) for i, w in enumerate(analysis.get("step_weights") or [])],
        )
    except schedule.ScheduleError as exc:
        text = str(exc)
        if not text.startswith("rollout_"):
            text = "rollout_analysis." + text.replace("set step_weight", "set rollout_analysis.step_weight")
        raise SettingsError(text)
    promotion = analysis.get("step_weight_promotion")
    if promotion is not None:
        promotion = _integer(promotion, "rollout_analysis.step_weight_promotion", 1, 100)
    return steps, promotion


def _metrics(analysis):
    provider = _choice(analysis.get("provider"), "rollout_analysis.provider", providers.provider_names())
    on_no_data = _choice(analysis.get("on_no_data"), "rollout_analysis.on_no_data", checks.ON_NO_DATA_CHOICES)
    metrics = analysis.get("metrics")
    if metrics is None:
        metrics = []
    if not isinstance(metrics, list):
        raise SettingsError("rollout_analysis.metrics must be a list of metrics, got %r" % (metrics,))
    if metrics:
        try:
            checks.build_checks(provider, metrics, analysis.get("interval"))
        except checks.CheckConfigError as exc:
            raise SettingsError("rollout_analysis.%s" % exc)
    return provider, on_no_data, metrics


def _prometheus(prometheus, metrics):
    if not metrics:
        return prometheus or {}
    if not isinstance(prometheus, dict) or not prometheus.get("url"):
        raise SettingsError("rollout_prometheus.url is required when rollout_analysis.metrics is not empty, for example "
                            "{url: http://prometheus.istio-system:9090}")
    check_url(prometheus["url"], "rollout_prometheus.url")
    return prometheus


def _load(load):
    if not load.get("url"):
        return dict(load, url="")
    result = dict(load)
    result["url"] = check_url(load["url"], "rollout_load.url")
    result["qps"] = _number(load.get("qps"), "rollout_load.qps")
    result["concurrency"] = _integer(load.get("concurrency"), "rollout_load.concurrency", 1)
    result["timeout"] = _integer(load.get("timeout"), "rollout_load.timeout", 1)
    result["method"] = _choice(str(load.get("method") or "").upper(), "rollout_load.method", HTTP_METHODS)
    if not isinstance(load.get("headers") or {}, dict):
        raise SettingsError("rollout_load.headers must be a dictionary of header names and values, got %r" % (load.get("headers"),))
    return result


def _service(service):
    if service.get("port") is not None:
        _integer(service["port"], "rollout_service.port", 1, 65535)
    timeout = service.get("timeout")
    if timeout is not None and not (isinstance(timeout, str) and re.match(r"^[0-9]+(\.[0-9]+)?(h|m|s|ms)$", timeout)):
        raise SettingsError("rollout_service.timeout must be an Istio duration such as 5s, 1.5s or 300ms, got %r" % (timeout,))
    for key in ("hosts", "gateways"):
        if not isinstance(service.get(key) or [], list):
            raise SettingsError("rollout_service.%s must be a list of names, got %r" % (key, service.get(key)))
    return service


def validate(variables):
    """Validate the rollout's variables; return the settings the loop uses.

    ``variables``: target, namespace, strategy, analysis, service, load, prometheus (dicts already
    merged over the defaults), progress_deadline_seconds, canary_replicas, lock_ttl, scale_down_delay; ``entry`` is the
    role's entry point: the operator's ones (abort, promote, status) must work with the target alone,
    so only ``main`` validates the metrics, Prometheus and the load.
    """
    full = variables.get("entry", "main") == "main"
    for name in ("target", "namespace"):
        value = variables.get(name)
        if not value or not isinstance(value, str):
            raise SettingsError("Set rollout_%s: the %s of the Deployment to roll out, for example %s; got %r"
                                % (name, "name" if name == "target" else "namespace", "podinfo" if name == "target" else "test", value))
    analysis = variables.get("analysis") or {}
    if not isinstance(analysis, dict):
        raise SettingsError("rollout_analysis must be a dictionary (Flagger's analysis), got %r" % (analysis,))
    strategy = _choice(variables.get("strategy") or "canary", "rollout_strategy", schedule.STRATEGIES)
    interval = _interval(analysis)
    threshold = _integer(analysis.get("threshold"), "rollout_analysis.threshold", 1)
    steps, promotion = _schedule(analysis, strategy)
    if full:
        provider, on_no_data, metrics = _metrics(analysis)
        prometheus = _prometheus(variables.get("prometheus") or {}, metrics)
        load = _load(variables.get("load") or {})
    else:
        provider, on_no_data, metrics = analysis.get("provider"), analysis.get("on_no_data"), analysis.get("metrics") or []
        prometheus, load = variables.get("prometheus") or {}, variables.get("load") or {}
    service = _service(variables.get("service") or {})
    deadline = _integer(variables.get("progress_deadline_seconds", 600), "rollout_progress_deadline_seconds", 1)
    replicas = _integer(variables.get("canary_replicas", 0), "rollout_canary_replicas", 0)
    lock_ttl = _integer(variables.get("lock_ttl", 0), "rollout_lock_ttl", 0)
    scale_down_delay = _integer(variables.get("scale_down_delay", 30), "rollout_scale_down_delay", 0)
    return {
        "names": target_names(variables["target"]),
        "strategy": strategy,
        "interval": analysis["interval"],
        "interval_seconds": interval,
        "threshold": threshold,
        "steps": steps,
        "schedule": [step["weight"] for step in steps],
        "step_weight_promotion": promotion,
        "provider": provider,
        "on_no_data": on_no_data,
        "metrics": metrics,
        "prometheus": prometheus,
        "load": load,
        "service": service,
        "progress_deadline_seconds": deadline,
        "canary_replicas": replicas,
        "scale_down_delay": scale_down_delay,
        "lock_ttl": lock_ttl or max(int(round(interval)), MIN_LOCK_TTL),
    }
