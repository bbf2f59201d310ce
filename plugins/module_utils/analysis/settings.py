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

from ansible_collections.progressive.delivery.plugins.module_utils import alerts as al
from ansible_collections.progressive.delivery.plugins.module_utils._names import target_names
from ansible_collections.progressive.delivery.plugins.module_utils.analysis import checks, providers, schedule
from ansible_collections.progressive.delivery.plugins.module_utils.analysis import fast_abort as fa
from ansible_collections.progressive.delivery.plugins.module_utils.analysis import compare, sampling
from ansible_collections.progressive.delivery.plugins.module_utils.analysis import judge
from ansible_collections.progressive.delivery.plugins.module_utils.analysis import templates as mt
from ansible_collections.progressive.delivery.plugins.module_utils.analysis import webhooks as wh
from ansible_collections.progressive.delivery.plugins.module_utils.state import gates as gt
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


def _strategy_options(analysis, interval):
    """The analysis settings of the strategies beside the canary, with numbers read as Ansible reads them."""
    options = {"interval_seconds": interval}
    for key in ("iterations", "mirror_weight"):
        if analysis.get(key) is not None:
            options[key] = _integer(analysis[key], "rollout_analysis." + key)
    mirror = analysis.get("mirror")
    if mirror is not None and not isinstance(mirror, bool):
        raise SettingsError("rollout_analysis.mirror must be true or false (Blue/Green with traffic mirroring), got %r" % (mirror,))
    options["mirror"] = bool(mirror)
    for key in ("match", "steps"):
        value = analysis.get(key)
        if value not in (None, []) and not isinstance(value, list):
            raise SettingsError("rollout_analysis.%s must be a list, got %r" % (key, value))
        if value:
            options[key] = value
    if analysis.get("session_affinity") is not None:
        options["session_affinity"] = analysis["session_affinity"]
    return options


def _schedule_error(exc):
    text = str(exc)
    if text.startswith("strategy"):
        return SettingsError("rollout_" + text.replace("the analysis settings", "rollout_analysis"))
    if not text.startswith("rollout_"):
        text = "rollout_analysis." + text.replace("set step_weight", "set rollout_analysis.step_weight")
    return SettingsError(text)


def _schedule(analysis, strategy, interval=None):
    options = _strategy_options(analysis, interval)
    try:
        strategy = schedule.select_strategy(dict(analysis, **options), strategy)
        steps = schedule.analysis_steps(
            strategy=strategy,
            max_weight=_integer(analysis["max_weight"], "rollout_analysis.max_weight", 1, 100) if analysis.get("max_weight") is not None else None,
            step_weight=_integer(analysis["step_weight"], "rollout_analysis.step_weight", 1, 100) if analysis.get("step_weight") is not None else None,
            step_weights=[_integer(w, "rollout_analysis.step_weights[%d]" % i, 1, 100) for i, w in enumerate(analysis.get("step_weights") or [])],
            **options
        )
    except schedule.ScheduleError as exc:
        raise _schedule_error(exc)
    promotion = analysis.get("step_weight_promotion")
    if promotion is not None:
        promotion = _integer(promotion, "rollout_analysis.step_weight_promotion", 1, 100)
    return strategy, steps, promotion


# Argo's default of consecutiveErrorLimit, used once Argo's failure accounting is asked for.
DEFAULT_CONSECUTIVE_ERROR_LIMIT = 4


def failure_limits(analysis):
    """Argo's failure accounting beside Flagger's threshold: failure_limit (failed checks allowed in a row),
    inconclusive_limit (intervals without data allowed), consecutive_error_limit (query errors allowed in a row).

    All None (off: every failed, erroneous or empty check counts toward the threshold, as in Flagger)
    unless one is set; with failure_limit or inconclusive_limit set, consecutive_error_limit defaults to 4 as in Argo.
    """
    limits = {}
    for name in ("failure_limit", "inconclusive_limit", "consecutive_error_limit"):
        value = analysis.get(name)
        limits[name] = None if value is None else _integer(value, "rollout_analysis." + name, 0)
    if limits["consecutive_error_limit"] is None and (limits["failure_limit"] is not None or limits["inconclusive_limit"] is not None):
        limits["consecutive_error_limit"] = DEFAULT_CONSECUTIVE_ERROR_LIMIT
    return limits


def _metrics(analysis, metric_interval=None, templates=None):
    provider = _choice(analysis.get("provider"), "rollout_analysis.provider", providers.provider_names())
    on_no_data = _choice(analysis.get("on_no_data"), "rollout_analysis.on_no_data", checks.ON_NO_DATA_CHOICES)
    metrics = analysis.get("metrics")
    if metrics is None:
        metrics = []
    if not isinstance(metrics, list):
        raise SettingsError("rollout_analysis.metrics must be a list of metrics, got %r" % (metrics,))
    if metrics:
        try:
            checks.build_checks(provider, _resolved_metrics(metrics, templates), metric_interval or analysis.get("interval"))
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


ROUTERS = ("istio", "gatewayapi")
_SUBSET_KEYS = ("stable_deployment", "stable", "canary", "host", "route")


def _routing(variables, service):
    """How the role's modules find the split: the router, the Gateway API HTTPRoute, Istio's subsets.

    Returns ``routing`` (the options every routing module takes: canary_init, canary_route, canary_wait,
    canary_promote, canary_rollback, canary_route_info) and ``primary`` (the stable Deployment's name).
    Istio subset mode (seed 001, Argo's subset-level Istio) is ``rollout_subsets``: the user's
    VirtualService ``rollout_service.name`` with a DestinationRule's subsets, and the user's own stable
    Deployment, which the promotion updates in place instead of a ``<target>-primary`` copy.
    """
    router = _choice(variables.get("router") or "istio", "rollout_router", ROUTERS)
    http_route = variables.get("http_route") or {}
    subsets = variables.get("subsets") or {}
    for name, value in (("rollout_http_route", http_route), ("rollout_subsets", subsets)):
        if not isinstance(value, dict):
            raise SettingsError("%s must be a dictionary, got %r" % (name, value))
    routing = {"router": router}
    primary = target_names(variables["target"])["primary"]
    if router == "gatewayapi":
        if subsets:
            raise SettingsError("rollout_subsets is Istio's subset mode and cannot be used with rollout_router=gatewayapi: "
                                "remove rollout_subsets, or set rollout_router=istio")
        unknown = sorted(set(http_route) - {"name", "namespace", "rule"})
        if unknown:
            raise SettingsError("rollout_http_route.%s is not an option; rollout_http_route takes name, namespace and rule" % unknown[0])
        if http_route:
            if not http_route.get("name") or not isinstance(http_route.get("name"), str):
                raise SettingsError("rollout_http_route.name is required: the name of the HTTPRoute whose rule the rollout shifts, "
                                    "for example {name: podinfo}")
            routing["http_route"] = dict((key, value) for key, value in http_route.items() if value is not None)
        refs = service.get("gateway_refs")
        if refs is not None and not (isinstance(refs, list) and all(isinstance(ref, dict) for ref in refs)):
            raise SettingsError("rollout_service.gateway_refs must be a list of Gateway API parentRefs such as "
                                "[{name: public-gateway, namespace: istio-ingress}], got %r" % (refs,))
        if refs and http_route:
            raise SettingsError("rollout_service.gateway_refs makes the collection create its own HTTPRoute, and rollout_http_route "
                                "names yours: set one of them")
        if not refs and not http_route:
            raise SettingsError("rollout_router=gatewayapi needs the HTTPRoute to shift: set rollout_http_route to yours, for example "
                                "{name: podinfo}, or rollout_service.gateway_refs to the parentRefs of one the collection creates")
        return {"routing": routing, "primary": primary, "init": {"parent_refs": refs or None, "hostnames": service.get("hosts") or None}}
    if http_route:
        raise SettingsError("rollout_http_route is an option of rollout_router=gatewayapi; set rollout_router=gatewayapi or remove it")
    if service.get("gateway_refs"):
        raise SettingsError("rollout_service.gateway_refs is an option of rollout_router=gatewayapi (Istio takes "
                            "rollout_service.gateways); set rollout_router=gatewayapi or remove it")
    if subsets:
        unknown = sorted(set(subsets) - set(_SUBSET_KEYS))
        if unknown:
            raise SettingsError("rollout_subsets.%s is not an option; rollout_subsets takes %s" % (unknown[0], ", ".join(_SUBSET_KEYS)))
        for key in ("stable_deployment", "stable", "canary"):
            if not subsets.get(key) or not isinstance(subsets[key], str):
                raise SettingsError("rollout_subsets.%s is required in subset mode, for example {stable_deployment: backend-v1, stable: v1, "
                                    "canary: v2} (the stable Deployment and the DestinationRule subsets of stable and canary)" % key)
        if subsets["stable"] == subsets["canary"]:
            raise SettingsError("rollout_subsets.stable and rollout_subsets.canary are both %r: name two different DestinationRule subsets"
                                % subsets["stable"])
        if subsets["stable_deployment"] == variables["target"]:
            raise SettingsError("rollout_subsets.stable_deployment is the target %r itself: name the Deployment of the stable subset "
                                "(rollout_target is the canary's)" % subsets["stable_deployment"])
        if not service.get("name"):
            raise SettingsError("rollout_service.name is required in subset mode: the name of your VirtualService (and its host), "
                                "for example backend")
        routing.update(mode="subset", primary_subset=subsets["stable"], canary_subset=subsets["canary"])
        if subsets.get("host"):
            routing["destination_host"] = subsets["host"]
        if subsets.get("route"):
            routing["route_name"] = subsets["route"]
        primary = subsets["stable_deployment"]
    return {"routing": routing, "primary": primary, "init": {}}


# How long a run waits for an approval by default: a confirm webhook passing, a manual gate opened, an
# indefinite pause promoted. The run watches the canary meanwhile, so the wait is bounded by the runner, not by safety.
DEFAULT_APPROVAL_TIMEOUT = 3600


def _hooks(variables, interval):
    """Validate the webhooks, alerts and gates; return what the loop needs to know of them - never their secrets.

    The validated lists keep their URLs and tokens, so they stay in the role's variables (passed to the
    modules, whose options are no_log) and only their shape reaches the settings the role prints.
    """
    try:
        hooks = wh.validate(variables.get("webhooks"), "rollout_webhooks")
        al.validate(variables.get("alerts"), "rollout_alerts")
    except (wh.WebhookError, al.AlertError) as exc:
        raise SettingsError(exc.message)
    gates = variables.get("gates") or []
    if not isinstance(gates, list):
        raise SettingsError("rollout_gates must be a list of gate names (%s), for example [promotion], got %r"
                            % (", ".join(sorted(gt.GATES)), gates))
    for index, gate in enumerate(gates):
        if gate not in gt.GATES:
            raise SettingsError("rollout_gates[%d] %r is not a gate; use %s (held until progressive.delivery.gate opens them)"
                                % (index, gate, ", ".join(sorted(gt.GATES))))
    types = set(hook["type"] for hook in hooks)
    timeout = _integer(variables.get("approval_timeout", DEFAULT_APPROVAL_TIMEOUT), "rollout_approval_timeout", 1)
    # the approvals a run may wait for: the gate listed, or a confirm webhook of its type
    approvals = dict((gate, gate in gates or hook_type in types) for gate, hook_type in gt.GATES.items() if gate != "rollback")
    return {
        "hook_types": sorted(types),
        "hooks": dict((hook_type, [hook["name"] for hook in hooks if hook["type"] == hook_type]) for hook_type in sorted(types)),
        "gates": list(gates),
        "approvals": approvals,
        "approval_hooks": dict((gate, hook_type) for gate, hook_type in gt.GATES.items() if gate != "rollback"),
        "rollback_checks": "rollback" in gates or wh.ROLLBACK in types,
        "approval_timeout": timeout,
        "approval_intervals": max(int(-(-timeout // interval)), 1),
    }


# The report and the rollout's own metrics (docs/report.md, docs/observability.md) -------------------------------
# Where a run writes its report when rollout_report_dir is empty: a directory any user running ansible-playbook can
# write on any host, one per canary (the files are named after the target).
DEFAULT_REPORT_DIR = "/tmp/progressive-delivery/{namespace}/{target}"
METRICS_PUSH_KEYS = ("url", "job", "timeout", "validate_certs", "ca_path", "url_username", "url_password", "bearer_token")
_GROUPING_VALUE = re.compile(r"^[A-Za-z0-9_.:-]+$")


def _flag(value, name):
    if isinstance(value, str) and value.strip().lower() in ("true", "yes", "on", "1", "false", "no", "off", "0"):
        return value.strip().lower() in ("true", "yes", "on", "1")
    if not isinstance(value, bool):
        raise SettingsError("%s must be true or false, got %r" % (name, value))
    return value


def report_settings(variables):
    """rollout_report, rollout_report_dir and rollout_status_report: whether a run writes its report, and where."""
    target, namespace = variables["target"], variables["namespace"]
    directory = variables.get("report_dir")
    if directory is None:
        directory = ""
    if not isinstance(directory, str) or "\0" in directory:
        raise SettingsError("rollout_report_dir must be the path of a directory, got %r" % (directory,))
    directory = directory.strip() or DEFAULT_REPORT_DIR.format(namespace=namespace, target=target)
    return {"enabled": _flag(variables.get("report", True), "rollout_report"),
            "on_status": _flag(variables.get("status_report", False), "rollout_status_report"),
            "dir": directory}


def metrics_push_settings(push):
    """rollout_metrics_push: the Pushgateway the run pushes Flagger's metrics to at every recorded change; off without url.

    The answer leaves the secrets out (url_password, bearer_token stay in the variable, for the module's no_log options)."""
    if push is None:
        push = {}
    if not isinstance(push, dict):
        raise SettingsError("rollout_metrics_push must be a dictionary such as {url: http://pushgateway.monitoring:9091}, got %r"
                            % (push,))
    unknown = sorted(set(push) - set(METRICS_PUSH_KEYS))
    if unknown:
        raise SettingsError("rollout_metrics_push.%s is not an option; use %s" % (unknown[0], ", ".join(METRICS_PUSH_KEYS)))
    if not push.get("url"):
        return {"enabled": False}
    url = check_url(push["url"], "rollout_metrics_push.url")
    if "@" in url.split("/")[2]:
        raise SettingsError("rollout_metrics_push.url must not carry credentials; give rollout_metrics_push.url_username and url_password")
    job = push.get("job") or "progressive-delivery"
    if not isinstance(job, str) or not _GROUPING_VALUE.match(job):
        raise SettingsError("rollout_metrics_push.job must be a name of letters, digits, '_', '.', ':' or '-', got %r" % (job,))
    for secret in ("url_username", "url_password", "bearer_token", "ca_path"):
        if push.get(secret) is not None and not isinstance(push[secret], str):
            raise SettingsError("rollout_metrics_push.%s must be a string" % secret)
    return {"enabled": True, "url": url, "job": job,
            "timeout": _number(push.get("timeout", 5), "rollout_metrics_push.timeout"),
            "validate_certs": _flag(push.get("validate_certs", True), "rollout_metrics_push.validate_certs"),
            "ca_path": push.get("ca_path") or None}


def validate(variables):
    """Validate the rollout's variables; return the settings the loop uses.

    ``strategy`` (rollout_strategy) forces one of schedule.STRATEGIES; empty or ``auto`` selects it from
    the analysis as Flagger does (schedule.select_strategy). The settings carry the chosen
    ``strategy``, its ``steps`` (what every step routes) and ``limits`` (judge.LIMITS).

    ``variables``: target, namespace, strategy, analysis, service, load, prometheus (dicts already
    merged over the defaults), progress_deadline_seconds, canary_replicas, lock_ttl, scale_down_delay, webhooks, alerts,
    gates, approval_timeout, report, report_dir, status_report, metrics_push; ``entry`` is the
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
    strategy = variables.get("strategy") or "auto"
    _choice(strategy, "rollout_strategy", schedule.STRATEGIES + ("auto",))
    interval = _interval(analysis)
    threshold = _integer(analysis.get("threshold"), "rollout_analysis.threshold", 1)
    strategy, steps, promotion = _schedule(analysis, strategy, interval)
    limits = failure_limits(analysis)
    route_drift = route_drift_setting(analysis)
    metric_interval = _metric_interval(analysis, interval)
    if full:
        provider, on_no_data, metrics = _metrics(analysis, metric_interval, _metric_templates(variables, analysis.get("metrics")))
        judged = judge_settings(analysis, interval, provider, on_no_data)
        prometheus = _prometheus(variables.get("prometheus") or {}, metrics or judged["metrics"])
        load = _load(variables.get("load") or {})
        fast_abort = fast_abort_settings(analysis, metrics, load, interval, metric_interval)
    else:
        judged = {"enabled": False, "metrics": []}
        provider, on_no_data, metrics = analysis.get("provider"), analysis.get("on_no_data"), analysis.get("metrics") or []
        prometheus, load = variables.get("prometheus") or {}, variables.get("load") or {}
        fast_abort = {"enabled": False}
    service = _service(variables.get("service") or {})
    deadline = _integer(variables.get("progress_deadline_seconds", 600), "rollout_progress_deadline_seconds", 1)
    replicas = _integer(variables.get("canary_replicas", 0), "rollout_canary_replicas", 0)
    lock_ttl = _integer(variables.get("lock_ttl", 0), "rollout_lock_ttl", 0)
    scale_down_delay = _integer(variables.get("scale_down_delay", 30), "rollout_scale_down_delay", 0)
    hooks = _hooks(variables, interval)
    routing = _routing(variables, service)
    names = dict(target_names(variables["target"]), primary=routing["primary"])
    report = report_settings(variables)
    metrics_push = metrics_push_settings(variables.get("metrics_push"))
    concurrency = concurrency_settings(variables.get("concurrency"), interval, deadline,
                                       lock_ttl or max(int(round(interval)), MIN_LOCK_TTL))
    return {
        "concurrency": concurrency,
        "report": report,
        "metrics_push": metrics_push,
        "hooks": hooks,
        "names": names,
        "router": routing["routing"]["router"],
        "routing": routing["routing"],
        "subset_mode": routing["routing"].get("mode") == "subset",
        "init_routing": routing["init"],
        "strategy": strategy,
        "interval": analysis["interval"],
        "interval_seconds": interval,
        "metric_interval": metric_interval,
        "threshold": threshold,
        "limits": limits,
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
        "fast_abort": fast_abort,
        "judge": judged,
        "route_drift": route_drift,
    }


# -- metric templates and the metrics' window (docs/metric-templates.md) ------------------------------------

# Flagger's default window of a metric without its own interval when the analysis interval is shorter: a 15 s
# interval on a 15 s scrape still finds two samples.
DEFAULT_METRIC_INTERVAL = "1m"


def _metric_interval(analysis, interval_seconds):
    """The window of the metrics without their own ``interval``: rollout_analysis.metric_interval, else the analysis
    interval when it is 1m or longer, else Flagger's 1m."""
    value = analysis.get("metric_interval")
    if value in (None, ""):
        return analysis["interval"] if interval_seconds >= 60 else DEFAULT_METRIC_INTERVAL
    if not is_duration(value):
        raise SettingsError("rollout_analysis.metric_interval must be a duration such as 30s or 1m (the window of the metrics "
                            "without their own interval; default: rollout_analysis.interval, at least 1m), got %r" % (value,))
    return value


def _metric_templates(variables, metrics):
    """Validate rollout_metric_templates and rollout_metric_template_configmaps; the TemplateSet of the variables'
    templates and whether ConfigMaps are listed (their templates are read by canary_metric_check's preflight)."""
    try:
        found = mt.parse_templates(variables.get("metric_templates") or {}, "rollout_metric_templates")
        refs = mt.parse_configmap_refs(variables.get("metric_template_configmaps") or [], "rollout_metric_template_configmaps",
                                       variables.get("namespace"))
        template_set = mt.TemplateSet(found)
    except mt.MetricTemplateError as exc:
        raise SettingsError(str(exc))
    return {"set": template_set, "configmaps": bool(refs), "namespace": variables.get("namespace")}


def _resolved_metrics(metrics, templates):
    """The metrics with the references to rollout_metric_templates resolved (errors naming rollout_analysis.metrics[i]);
    a reference that may be to a ConfigMap's template stands in as a constant query, keeping the indexes of the messages,
    until the preflight reads the ConfigMaps."""
    if not templates or not isinstance(metrics, list):
        return metrics
    result = []
    for index, spec in enumerate(metrics):
        try:
            entry, template = mt.resolve_metric(spec, index, templates["set"], templates["namespace"], field="metrics",
                                                strict=not templates["configmaps"])
        except mt.MetricTemplateError as exc:
            raise checks.CheckConfigError(str(exc))
        if entry is None:
            entry = {"name": spec.get("name"), "query": "vector(1)"}
        elif template is not None and template["type"] in ("web", "skywalking"):
            # the address may come from the template's Secret, read by the preflight: check the rest with a stand-in
            address = template["address"] or "http://address.from.secret"
            options = dict(entry[template["type"]])
            if template["type"] == "skywalking":
                options["address"] = options.get("address") or address
            elif options["url"].startswith("/"):
                options["url"] = address + options["url"]
            entry = dict(entry, **{template["type"]: options})
        result.append(entry)
    return result


# -- fast abort (docs/rollout.md, "Fast abort") ---------------------------------------------------------------

FAST_ABORT_METRIC = "request-success-rate"


def fast_abort_settings(analysis, metrics, load, interval_seconds, metric_interval=None):
    """rollout_analysis.fast_abort, checked: ``{enabled, false_alarm_rate, ratio, poll, min_success_rate,
    expected_requests}``. ``poll`` None means Prometheus' scrape interval (the preflight reads it and checks a given
    poll against it: fast_abort.check_poll). ``expected_requests``: what the role's load sends the canary in an interval
    (qps x the load's duration), for the "unreachable" rule; None without load."""
    given = analysis.get("fast_abort")
    if given in (None, {}):
        return {"enabled": False}
    if not isinstance(given, dict):
        raise SettingsError("rollout_analysis.fast_abort must be a dictionary such as {enabled: true}, got %r" % (given,))
    unknown = sorted(set(given) - set(("enabled", "false_alarm_rate", "ratio", "poll")))
    if unknown:
        raise SettingsError("rollout_analysis.fast_abort: unknown key(s) %s; the keys are enabled, false_alarm_rate, ratio, poll"
                            % ", ".join(unknown))
    enabled = _flag(given.get("enabled", False), "rollout_analysis.fast_abort.enabled")
    if not enabled:
        return {"enabled": False}
    spec = next((m for m in metrics if isinstance(m, dict) and m.get("name") == FAST_ABORT_METRIC), None)
    if spec is None or any(spec.get(key) for key in ("query", "template", "template_ref", "web", "skywalking")):
        raise SettingsError("rollout_analysis.fast_abort needs the builtin %s metric in rollout_analysis.metrics (its threshold_range.min "
                            "gives the acceptable error rate): add {name: %s, threshold_range: {min: 99}}"
                            % (FAST_ABORT_METRIC, FAST_ABORT_METRIC))
    minimum = (spec.get("threshold_range") or {}).get("min")
    numbers = {}
    for key in ("false_alarm_rate", "ratio", "poll"):
        value = given.get(key)
        numbers[key] = _number(value, "rollout_analysis.fast_abort." + key, positive=False) if isinstance(value, str) else value
    try:
        test = fa.settings(float(minimum) if isinstance(minimum, str) else minimum,
                           fa.DEFAULT_ALPHA if numbers["false_alarm_rate"] is None else numbers["false_alarm_rate"],
                           ratio=fa.DEFAULT_RATIO if numbers["ratio"] is None else numbers["ratio"])
        poll = numbers["poll"]
        if poll is not None:
            fa.check_poll(poll, None)
    except ValueError as exc:
        if getattr(exc, "field", None) == "threshold_range.min" or not isinstance(exc, fa.FastAbortError):
            raise SettingsError("rollout_analysis.metrics (%s).threshold_range.min: %s" % (FAST_ABORT_METRIC, exc))
        message = exc.message if exc.message.startswith("rollout_analysis.") else "rollout_analysis." + exc.message
        raise SettingsError(message)
    expected = None
    window = schedule.duration_seconds(spec.get("interval") or metric_interval or analysis["interval"])
    # "Unreachable" is certain only when the metric judges the interval itself: over a longer window (Flagger's 1m
    # default) the failures counted now may be outweighed by the earlier requests, and only the sequential test applies.
    if load.get("url") and window <= interval_seconds:
        # the role's load runs interval - 1 s (tasks/step.yml), on the canary's host when rollout_load.host names it
        expected = int(load["qps"] * max(int(interval_seconds - 1), 1))
    return {"enabled": True, "false_alarm_rate": test["alpha"], "ratio": test["ratio"], "poll": None if poll is None else float(poll),
            "min_success_rate": test["min_success_rate"], "expected_requests": expected}


# -- canary versus primary (docs/rollout.md, "Canary versus primary") ---------------------------------------------
JUDGE_METRIC_KEYS = ("name", "template", "query", "direction", "critical", "weight", "confidence", "interval", "effect_size")
JUDGE_KEYS = ("metrics", "confidence", "min_samples", "thresholds", "lookback", "step", "interval", "on_no_data")
# Samples per side by default: the lookback cut in this many steps (plus one), at least 1 s apart.
JUDGE_STEPS = 10


def _judge_error(text):
    """compare/sampling name their fields as the module's options (confidence, thresholds.pass, metrics[0] ...)."""
    if text.startswith("rollout_analysis."):
        return SettingsError(text)
    if re.match(r"^(metrics|confidence|min_samples|thresholds|lookback|step|interval|on_no_data)\b", text):
        return SettingsError("rollout_analysis.judge." + text)
    return SettingsError("rollout_analysis.judge: " + text)


def _judge_duration(value, name):
    if not is_duration(value):
        raise SettingsError("rollout_analysis.judge.%s must be a duration such as 10s or 1m, got %r" % (name, value))
    try:
        return schedule.duration_seconds(value, "rollout_analysis.judge." + name)
    except schedule.ScheduleError as exc:
        raise SettingsError(str(exc))


def judge_settings(analysis, interval_seconds, provider="istio", on_no_data="fail"):
    """rollout_analysis.judge: Kayenta's canary config in the role's names - every interval, after the threshold metrics,
    canary_compare samples each metric for the canary and the primary over ``lookback`` (default: the interval) and judges
    them. Off (``enabled`` false) without metrics; the answer holds the module's options, validated as the module does."""
    judge = analysis.get("judge")
    if judge is None:
        judge = {}
    if not isinstance(judge, dict):
        raise SettingsError("rollout_analysis.judge must be a dictionary such as {metrics: [{name: request-duration}]}, got %r" % (judge,))
    unknown = sorted(set(judge) - set(JUDGE_KEYS))
    if unknown:
        raise SettingsError("rollout_analysis.judge.%s is not an option; rollout_analysis.judge takes %s" % (unknown[0], ", ".join(JUDGE_KEYS)))
    metrics = judge.get("metrics")
    if metrics in (None, []):
        return {"enabled": False, "metrics": []}
    if not isinstance(metrics, list):
        raise SettingsError("rollout_analysis.judge.metrics must be a list of metrics such as [{name: request-duration}], got %r" % (metrics,))
    for index, item in enumerate(metrics):
        extra = sorted(set(item) - set(JUDGE_METRIC_KEYS)) if isinstance(item, dict) else []
        if extra:
            raise SettingsError("rollout_analysis.judge.metrics[%d].%s is not an option; a judged metric takes %s"
                                % (index, extra[0], ", ".join(JUDGE_METRIC_KEYS)))
    interval_text = analysis.get("interval")
    lookback = judge.get("lookback") or interval_text
    lookback_seconds = _judge_duration(lookback, "lookback")
    if lookback_seconds < interval_seconds:
        raise SettingsError("rollout_analysis.judge.lookback %s is shorter than rollout_analysis.interval %s: the comparison looks back "
                            "over the interval or longer (leave it empty for the interval)" % (lookback, interval_text))
    step = judge.get("step") or "%ds" % max(int(lookback_seconds // JUDGE_STEPS), 1)
    step_seconds = _judge_duration(step, "step")
    rate_window = judge.get("interval") or None
    if rate_window is not None:
        _judge_duration(rate_window, "interval")
    try:
        confidence = compare.check_confidence(judge.get("confidence", compare.DEFAULT_CONFIDENCE), "rollout_analysis.judge.confidence")
        min_samples = compare.check_min_samples(_integer(judge["min_samples"], "rollout_analysis.judge.min_samples")
                                                if judge.get("min_samples") is not None else compare.DEFAULT_MIN_SAMPLES)
        thresholds = compare.Thresholds.from_option(judge.get("thresholds"), "rollout_analysis.judge.thresholds")
        no_data = compare.check_on_no_data(judge.get("on_no_data") or on_no_data, "rollout_analysis.judge.on_no_data")
        sampling.build_metrics(provider, metrics, rate_window or step, confidence, min_samples)
    except compare.CompareConfigError as exc:
        raise _judge_error(str(exc))
    samples = int(lookback_seconds // step_seconds) + 1
    if samples > sampling.MAX_SAMPLES:
        raise SettingsError("rollout_analysis.judge.step %s gives %d samples per side over the lookback %s, more than the %d judged: "
                            "use a longer step" % (step, samples, lookback, sampling.MAX_SAMPLES))
    if samples < min_samples:
        raise SettingsError("rollout_analysis.judge.step %s gives %d samples per side over the lookback %s, fewer than min_samples %d: "
                            "shorten the step or lengthen rollout_analysis.judge.lookback" % (step, samples, lookback, min_samples))
    return {"enabled": True, "metrics": metrics, "confidence": confidence, "min_samples": min_samples,
            "thresholds": thresholds.to_dict(), "lookback": lookback, "step": step, "interval": rate_window, "on_no_data": no_data,
            "samples": samples}


# -- the concurrency limit of canaries (docs/rollout.md, "Concurrency limit") --------------------------------

CONCURRENCY_KEYS = ("namespace", "cluster", "on_limit", "wait_timeout", "cluster_namespace")
CONCURRENCY_MAX = 1000


def concurrency_settings(concurrency, interval, deadline, lock_ttl):
    """rollout_concurrency: how many canaries may analyse at once per namespace / cluster (slot Leases), off when both null.

    The slot is held as long as the lock may go without renewal plus the progress deadline (a canary becoming ready),
    and renewed at every interval; a run over the limit asks again every interval (at least 1 s) until wait_timeout."""
    if concurrency is None:
        concurrency = {}
    if not isinstance(concurrency, dict):
        raise SettingsError("rollout_concurrency must be a dictionary such as {namespace: 2, cluster: 10, cluster_namespace: "
                            "progressive-delivery}, got %r" % (concurrency,))
    unknown = sorted(set(concurrency) - set(CONCURRENCY_KEYS))
    if unknown:
        raise SettingsError("rollout_concurrency.%s is not an option; use %s" % (unknown[0], ", ".join(CONCURRENCY_KEYS)))
    limits = {}
    for scope in ("namespace", "cluster"):
        value = concurrency.get(scope)
        if value is None:
            limits[scope] = None
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1 or value > CONCURRENCY_MAX:
            raise SettingsError("rollout_concurrency.%s must be a whole number of canaries from 1 to %d (null for no limit), got %r"
                                % (scope, CONCURRENCY_MAX, value))
        limits[scope] = value
    on_limit = concurrency.get("on_limit") or "wait"
    _choice(on_limit, "rollout_concurrency.on_limit", ("wait", "fail"))
    wait_timeout = _integer(concurrency.get("wait_timeout", 600), "rollout_concurrency.wait_timeout", 1)
    cluster_namespace = concurrency.get("cluster_namespace") or ""
    if not isinstance(cluster_namespace, str) or (cluster_namespace and not re.match(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", cluster_namespace)):
        raise SettingsError("rollout_concurrency.cluster_namespace must be the name of a namespace, got %r" % (cluster_namespace,))
    if limits["cluster"] is not None and not cluster_namespace:
        raise SettingsError("rollout_concurrency.cluster_namespace must name the namespace where the cluster-wide slots live "
                            "(the same for every canary), since rollout_concurrency.cluster is set")
    poll = max(int(round(interval)), 1)
    return {
        "enabled": limits["namespace"] is not None or limits["cluster"] is not None,
        "namespace": limits["namespace"],
        "cluster": limits["cluster"],
        "on_limit": on_limit,
        "wait_timeout": wait_timeout,
        "cluster_namespace": cluster_namespace,
        "poll": poll,
        "retries": max(wait_timeout // poll, 1) if on_limit == "wait" else 0,
        "ttl": deadline + lock_ttl,
    }


# -- the route changed by someone else mid-analysis (docs/rollout.md "Route drift") -----------------------------

def route_drift_setting(analysis):
    """rollout_analysis.route_drift, checked: what a run does when the managed split is not the one it set
    (judge.ROUTE_DRIFT_ACTIONS; default reassert, as Flagger re-asserts its routes every tick)."""
    given = analysis.get("route_drift")
    if given is None:
        return judge.REASSERT
    if not isinstance(given, str) or given not in judge.ROUTE_DRIFT_ACTIONS:
        raise SettingsError("rollout_analysis.route_drift must be one of %s (what a run does when someone else changed its route "
                            "mid-analysis: set it again and not judge the interval, or roll back), got %r"
                            % (", ".join(judge.ROUTE_DRIFT_ACTIONS), given))
    return given
