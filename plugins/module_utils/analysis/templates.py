# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Metric templates: a metric source defined once and referenced by name (Flagger's MetricTemplate and a
metric's ``templateRef`` / ``templateVariables``; Argo Rollouts' AnalysisTemplate ``args``).

A template (one entry of a dict, or one ``<name>.yaml`` key of a ConfigMap)::

    provider:
      type: prometheus | web | skywalking
      address: http://prometheus.istio-system:9090     # Prometheus / OAP server; web: base of a relative web.url
      secret_ref: {name: metrics-credentials}          # keys address, token, username, password, headers
      insecure_skip_verify: false
    query: ...                                         # PromQL or SkyWalking GraphQL
    web: {url, method, headers, body, json_path, timeout}     # type web
    skywalking: {interval, aggregate, timeout, headers}       # type skywalking, optional
    variables: {service_name: null, route: /api}       # the template's arguments; null = required

A metric entry ``{name, template_ref: {name, namespace?}, template_variables: {...}, threshold_range,
interval}`` resolves into the entry ``checks.build_checks`` accepts: ``query`` for Prometheus, ``web:``
or ``skywalking:`` options, and ``variables`` (the template's defaults under the metric's values).

Credentials are read from a Secret by the caller (the module, through the cluster client) and merged
in by ``apply_secret``, which returns every secret value so the caller can keep it out of its output.

Plain Python: no Ansible, no network. YAML text of a ConfigMap is parsed by PyYAML (ansible-core's
own dependency), imported guarded.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import json
import re
import urllib.parse

from ansible_collections.progressive.delivery.plugins.module_utils.analysis.render import BUILTIN_VARIABLES

try:
    import yaml
    HAS_YAML = True
except ImportError:  # pragma: no cover - PyYAML comes with ansible-core
    HAS_YAML = False

TYPES = ("prometheus", "web", "skywalking")
TEMPLATE_KEYS = ("provider", "query", "web", "skywalking", "variables")
PROVIDER_KEYS = ("type", "address", "secret_ref", "insecure_skip_verify")
WEB_KEYS = ("url", "method", "headers", "body", "json_path", "timeout")
SKYWALKING_KEYS = ("interval", "aggregate", "timeout", "headers")
SECRET_KEYS = ("address", "token", "username", "password", "headers")
REF_METRIC_KEYS = ("name", "template_ref", "template_variables", "threshold_range", "interval")
# The metric options that pick a source themselves: with template_ref a metric would have two.
SOURCE_OPTIONS = ("query", "template", "web", "skywalking")
CONFIGMAP_SUFFIXES = (".yaml", ".yml")
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
_VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class MetricTemplateError(ValueError):
    """A template, a reference to one, or its Secret is unusable; the message names the field and the fix."""


def _url(value, field):
    if not isinstance(value, str) or urllib.parse.urlsplit(value).scheme not in ("http", "https") or not urllib.parse.urlsplit(value).netloc:
        raise MetricTemplateError("%s must be an http:// or https:// URL such as http://prometheus.istio-system:9090, got %r" % (field, value))
    return value.rstrip("/")


def _options(value, field, allowed, what):
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise MetricTemplateError("%s must be a dictionary (%s), got %r" % (field, what, value))
    unknown = sorted(set(value) - set(allowed))
    if unknown:
        raise MetricTemplateError("%s: unknown key(s) %s; the keys are %s" % (field, ", ".join(map(str, unknown)), ", ".join(allowed)))
    return dict(value)


def parse_template(name, spec, origin, namespace=None):
    """One template, normalised; ``origin`` names where it was defined (the field of every message)."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise MetricTemplateError("%s: the template name %r must be a DNS-style name (lower case letters, digits, - and .)" % (origin, name))
    spec = _options(spec, origin, TEMPLATE_KEYS, "provider, query and variables, as Flagger's MetricTemplate spec")
    if not spec:
        raise MetricTemplateError("%s is empty: give provider.type and the query" % origin)
    provider = _options(spec.get("provider"), "%s.provider" % origin, PROVIDER_KEYS, "type, address, secret_ref")
    kind = provider.get("type")
    if kind not in TYPES:
        raise MetricTemplateError("%s.provider.type must be one of %s, got %r" % (origin, ", ".join(TYPES), kind))
    address = provider.get("address")
    if address is not None:
        address = _url(address, "%s.provider.address" % origin)
    secret_ref = provider.get("secret_ref")
    if secret_ref is not None:
        secret_ref = _options(secret_ref, "%s.provider.secret_ref" % origin, ("name", "namespace"), "the Secret's name")
        if not isinstance(secret_ref.get("name"), str) or not secret_ref["name"]:
            raise MetricTemplateError("%s.provider.secret_ref.name is required: the Secret with the keys %s" % (origin, ", ".join(SECRET_KEYS)))
        secret_ref = {"name": secret_ref["name"], "namespace": secret_ref.get("namespace")}
    insecure = provider.get("insecure_skip_verify", False)
    if not isinstance(insecure, bool):
        raise MetricTemplateError("%s.provider.insecure_skip_verify must be true or false, got %r" % (origin, insecure))
    query = spec.get("query")
    if query is not None and (not isinstance(query, str) or not query.strip()):
        raise MetricTemplateError("%s.query must be a non-empty string, got %r" % (origin, query))
    web = _options(spec.get("web"), "%s.web" % origin, WEB_KEYS, "the web metric's url, json_path, ...")
    skywalking = _options(spec.get("skywalking"), "%s.skywalking" % origin, SKYWALKING_KEYS, "interval, aggregate, timeout")
    others = [key for key in ("web", "skywalking") if spec.get(key) is not None and key != kind]
    if others:
        raise MetricTemplateError("%s: %s.%s is for provider.type %s, this template's type is %s" % (origin, origin, others[0], others[0], kind))
    if kind in ("prometheus", "skywalking") and query is None:
        raise MetricTemplateError("%s.query is required for provider.type %s (%s)"
                                  % (origin, kind, "PromQL" if kind == "prometheus" else "a GraphQL query using $duration"))
    if kind == "web":
        if query is not None:
            raise MetricTemplateError("%s.query is not used by provider.type web: give %s.web.url and %s.web.json_path" % (origin, origin, origin))
        if not web.get("url"):
            raise MetricTemplateError("%s.web.url is required for provider.type web (a path such as /api/errors when provider.address is given)"
                                      % origin)
    variables = spec.get("variables") or {}
    if not isinstance(variables, dict):
        raise MetricTemplateError("%s.variables must be a dictionary of variable names to defaults (null: required), got %r" % (origin, variables))
    for key, value in variables.items():
        if not isinstance(key, str) or not _VARIABLE.match(key):
            raise MetricTemplateError("%s.variables: %r is not a valid variable name (letters, digits and _)" % (origin, key))
        if key in BUILTIN_VARIABLES:
            raise MetricTemplateError("%s.variables.%s: %s is a builtin variable, set by the task; remove it" % (origin, key, key))
        if value is not None and (isinstance(value, (bool, dict, list))):
            raise MetricTemplateError("%s.variables.%s: the default must be a string, a number or null (required), got %r" % (origin, key, value))
    return {"name": name, "namespace": namespace, "origin": origin, "type": kind, "address": address, "secret_ref": secret_ref,
            "insecure_skip_verify": insecure, "query": query, "web": web, "skywalking": skywalking, "variables": dict(variables)}


def parse_templates(templates, field):
    """The templates of a dict ``{name: template}`` (a module option or role variable named ``field``)."""
    if templates is None:
        return []
    if not isinstance(templates, dict):
        raise MetricTemplateError("%s must be a dictionary of template names to templates, got %r" % (field, templates))
    return [parse_template(name, templates[name], "%s.%s" % (field, name)) for name in sorted(templates, key=str)]


def parse_configmap_refs(refs, field, namespace):
    """The ConfigMaps to read: a list of names or ``{name, namespace}`` (namespace: the task's)."""
    if refs is None:
        return []
    if not isinstance(refs, list):
        raise MetricTemplateError("%s must be a list of ConfigMaps ({name, namespace}), got %r" % (field, refs))
    result = []
    for index, ref in enumerate(refs):
        where = "%s[%d]" % (field, index)
        if isinstance(ref, str):
            ref = {"name": ref}
        ref = _options(ref, where, ("name", "namespace"), "the ConfigMap's name and namespace")
        if not isinstance(ref.get("name"), str) or not _NAME.match(ref["name"]):
            raise MetricTemplateError("%s.name is required: the name of a ConfigMap with one <template>.yaml key per template" % where)
        result.append({"name": ref["name"], "namespace": ref.get("namespace") or namespace})
    return result


def _load_yaml(text, where):
    if not HAS_YAML:
        raise MetricTemplateError("%s: reading templates from a ConfigMap needs the Python library PyYAML" % where)
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise MetricTemplateError("%s is not valid YAML: %s" % (where, exc))


def templates_from_configmap(configmap, field):
    """The templates of a ConfigMap (a dict as the API returns it): one per data key ``<template name>.yaml``
    (or ``.yml``), its value the template as YAML text. Other keys are left alone. ``field`` names the option
    that listed the ConfigMap."""
    meta = configmap.get("metadata") or {}
    namespace = meta.get("namespace")
    result = []
    for key in sorted(configmap.get("data") or {}):
        suffix = [s for s in CONFIGMAP_SUFFIXES if key.endswith(s)]
        if not suffix:
            continue
        where = "ConfigMap %s/%s key %s (%s)" % (namespace, meta.get("name"), key, field)
        spec = _load_yaml(configmap["data"][key], where)
        result.append(parse_template(key[:-len(suffix[0])], spec, where, namespace=namespace))
    return result


class TemplateSet(object):
    """The known templates: those of the variables (no namespace), those of ConfigMaps (by namespace and name)."""

    def __init__(self, templates=()):
        self._templates = {}
        for template in templates:
            self.add(template)

    def add(self, template):
        key = (template["namespace"], template["name"])
        if key in self._templates:
            raise MetricTemplateError("template %s is defined twice, in %s and in %s: rename one"
                                      % (template["name"], self._templates[key]["origin"], template["origin"]))
        self._templates[key] = template

    def names(self):
        return sorted(("%s/%s" % key if key[0] else key[1]) for key in self._templates)

    def find(self, name, namespace, default_namespace):
        """A ref without namespace: the variables' template, else the one in ``default_namespace`` (Flagger's default)."""
        if namespace:
            return self._templates.get((namespace, name))
        return self._templates.get((None, name)) or self._templates.get((default_namespace, name))


def uses_templates(metrics):
    return any(isinstance(spec, dict) and spec.get("template_ref") is not None for spec in metrics or [])


def _scalar(value):
    return not isinstance(value, (bool, dict, list)) and value is not None


def resolve_metric(spec, index, template_set, namespace, field="metrics", strict=True):
    """The metric entry ``build_checks`` accepts for one entry with ``template_ref``, and its template.

    Returns ``(entry, template)``; entries without ``template_ref`` are returned as they are with ``None``.
    With ``strict=False`` a reference to a template that is not known returns ``(None, None)`` (the role's
    settings, before the ConfigMaps are read)."""
    where = "%s[%d]" % (field, index)
    if not isinstance(spec, dict) or spec.get("template_ref") is None:
        return spec, None
    name = spec.get("name") or "?"
    ref = spec["template_ref"]
    if isinstance(ref, str):
        ref = {"name": ref}
    if not isinstance(ref, dict) or not isinstance(ref.get("name"), str) or not ref.get("name") or set(ref) - {"name", "namespace"}:
        raise MetricTemplateError("%s (%s): %s.template_ref must be {name, namespace} naming a metric template, got %r" % (where, name, where, ref))
    given = [key for key in SOURCE_OPTIONS if spec.get(key) not in (None, "", {})]
    if given:
        raise MetricTemplateError("%s (%s): give one metrics source, not %s.template_ref and %s: the template defines the source; "
                                  "remove %s" % (where, name, where, " and ".join("%s.%s" % (where, key) for key in given),
                                                 ", ".join("%s.%s" % (where, key) for key in given)))
    unknown = sorted(set(spec) - set(REF_METRIC_KEYS) - set(SOURCE_OPTIONS) - {"variables"})
    unknown = [key for key in unknown if spec.get(key) is not None]
    if unknown:
        raise MetricTemplateError("%s (%s): %s cannot be used with %s.template_ref (the keys are %s)"
                                  % (where, name, ", ".join("%s.%s" % (where, key) for key in unknown), where, ", ".join(REF_METRIC_KEYS)))
    values = spec.get("template_variables") or {}
    if not isinstance(values, dict):
        raise MetricTemplateError("%s (%s): %s.template_variables must be a dictionary, got %r" % (where, name, where, values))
    template = template_set.find(ref["name"], ref.get("namespace"), namespace)
    if template is None:
        if not strict:
            return None, None
        wanted = "%s/%s" % (ref["namespace"], ref["name"]) if ref.get("namespace") else ref["name"]
        raise MetricTemplateError("%s (%s): %s.template_ref names the metric template %s, which does not exist (known templates: %s); "
                                  "define it in metric_templates (rollout_metric_templates) or in a ConfigMap listed in "
                                  "metric_template_configmaps" % (where, name, where, wanted, ", ".join(template_set.names()) or "none"))
    declared = template["variables"]
    extra = sorted(set(values) - set(declared), key=str)
    if extra:
        raise MetricTemplateError("%s (%s): %s.template_variables.%s is not a variable of template %s (its variables: %s)"
                                  % (where, name, where, extra[0], template["name"], ", ".join(sorted(declared)) or "none"))
    merged = {}
    for key in sorted(declared):
        value = values.get(key, declared[key])
        if value is None:
            raise MetricTemplateError("%s (%s): template %s needs the variable %s: set %s.template_variables.%s"
                                      % (where, name, template["name"], key, where, key))
        if not _scalar(value):
            raise MetricTemplateError("%s (%s): %s.template_variables.%s must be a string or a number, got %r" % (where, name, where, key, value))
        merged[key] = value
    entry = {"name": spec.get("name"), "variables": merged}
    for key in ("threshold_range", "interval"):
        if spec.get(key) is not None:
            entry[key] = spec[key]
    validate = not template["insecure_skip_verify"]
    if template["type"] == "prometheus":
        entry["query"] = template["query"]
    elif template["type"] == "web":
        web = dict((key, value) for key, value in template["web"].items() if value is not None)
        web["headers"] = dict(web.get("headers") or {})
        web["validate_certs"] = validate
        entry["web"] = web
    else:
        options = dict((key, value) for key, value in template["skywalking"].items() if value is not None)
        options.update({"address": template["address"], "query": template["query"], "validate_certs": validate,
                        "headers": dict(options.get("headers") or {})})
        entry["skywalking"] = options
    return entry, template


def _join(address, url):
    if address and url.startswith("/"):
        return address + url
    return url


def decode_secret(secret):
    """The Secret's data (base64 in the API's answer) as text, by key."""
    result = {}
    for key, value in ((secret or {}).get("data") or {}).items():
        try:
            result[key] = base64.b64decode(value).decode("utf-8")
        except (ValueError, TypeError):
            raise MetricTemplateError("Secret %s/%s key %s is not base64-encoded UTF-8 text"
                                      % (secret["metadata"].get("namespace"), secret["metadata"].get("name"), key))
    return result


def secret_key(template, namespace):
    """``(namespace, name)`` of the template's Secret, or None: namespace defaults to the template's, then the task's."""
    ref = template.get("secret_ref")
    if not ref:
        return None
    return (ref.get("namespace") or template.get("namespace") or namespace, ref["name"])


def apply_secret(entry, template, secret_data, where, namespace):
    """Fill ``entry`` (from ``resolve_metric``) with the template's address and credentials.

    ``secret_data``: the decoded data of the template's Secret, or None when the Secret does not exist.
    Returns ``(entry, prometheus connection or None, secrets)``; ``secrets`` are the values to keep out of
    every output. Raises MetricTemplateError naming the Secret, the template and the key."""
    secrets = []
    address = template["address"]
    credentials = {}
    key = secret_key(template, namespace)
    if key is not None:
        what = "Secret %s/%s (provider.secret_ref of template %s, %s)" % (key[0], key[1], template["name"], template["origin"])
        if secret_data is None:
            raise MetricTemplateError("%s: %s does not exist; create it with one or more of the keys %s"
                                      % (where, what, ", ".join(SECRET_KEYS)))
        present = [k for k in SECRET_KEYS if secret_data.get(k)]
        if not present:
            raise MetricTemplateError("%s: %s lacks the keys of a metrics provider: give it one or more of %s (it has %s)"
                                      % (where, what, ", ".join(SECRET_KEYS), ", ".join(sorted(secret_data)) or "no keys"))
        for pair in (("username", "password"), ("password", "username")):
            if secret_data.get(pair[0]) and not secret_data.get(pair[1]):
                raise MetricTemplateError("%s: %s has the key %s but lacks the key %s" % (where, what, pair[0], pair[1]))
        if template["type"] == "web" and secret_data.get("address") and not template["web"]["url"].startswith("/"):
            raise MetricTemplateError("%s: %s has the key address, but template %s's web.url is a full URL; write web.url as a path "
                                      "such as /api/errors to use it" % (where, what, template["name"]))
        for name in present:
            secrets.append(secret_data[name])
        if secret_data.get("address"):
            try:
                address = _url(secret_data["address"].strip(), "%s key address" % what)
            except MetricTemplateError:
                # the Secret's value stays out of the message
                raise MetricTemplateError("%s: the key address must be an http:// or https:// URL" % what)
        credentials = dict((k, secret_data[k]) for k in present if k != "address")
        if "headers" in credentials:
            try:
                headers = json.loads(credentials["headers"]) if credentials["headers"].lstrip().startswith("{") else _load_yaml(
                    credentials["headers"], what + " key headers")
            except ValueError:
                headers = None
            if not isinstance(headers, dict):
                raise MetricTemplateError("%s: the key headers must be a JSON or YAML object of header names to values" % what)
            credentials["headers"] = dict((str(k), str(v)) for k, v in headers.items())
            secrets.extend(credentials["headers"].values())
    kind = template["type"]
    if kind == "prometheus":
        connection = {"url": address} if address else {}
        if credentials.get("token"):
            connection["bearer_token"] = credentials["token"]
        if credentials.get("username"):
            connection.update(username=credentials["username"], password=credentials["password"])
        if credentials.get("headers"):
            connection["headers"] = credentials["headers"]
        if template["insecure_skip_verify"]:
            connection["validate_certs"] = False
        return entry, connection or None, secrets
    headers = {}
    if credentials.get("token"):
        headers["Authorization"] = "Bearer %s" % credentials["token"]
    if credentials.get("username"):
        basic = base64.b64encode(("%s:%s" % (credentials["username"], credentials["password"])).encode("utf-8")).decode("ascii")
        headers["Authorization"] = "Basic %s" % basic
        secrets.append(basic)
    headers.update(credentials.get("headers") or {})
    if headers.get("Authorization"):
        secrets.append(headers["Authorization"])
    options = dict(entry[kind])
    options["headers"] = dict(options.get("headers") or {}, **headers)
    if kind == "web":
        if options["url"].startswith("/") and not address:
            raise MetricTemplateError("%s: template %s's web.url %s is a path: give provider.address or the key address in its Secret"
                                      % (where, template["name"], options["url"]))
        options["url"] = _join(address, options["url"])
    else:
        if not address:
            raise MetricTemplateError("%s: template %s has no provider.address%s: the SkyWalking OAP server's URL is required"
                                      % (where, template["name"], " and its Secret lacks the key address" if key else ""))
        options["address"] = address
    entry = dict(entry)
    entry[kind] = options
    return entry, None, secrets


def prometheus_connection(connections, task_prometheus):
    """The one Prometheus of a round of checks: the task's, or the templates' (with their credentials).

    ``connections``: ``[(where, connection)]`` of the Prometheus templates. A template without address uses
    the task's Prometheus; two different addresses are an error (one round asks one Prometheus)."""
    result = dict(task_prometheus or {})
    chosen = (None, (result.get("url") or "").rstrip("/") or None)
    for where, connection in connections:
        if not connection:
            continue
        url = connection.get("url")
        if url and chosen[1] and url != chosen[1]:
            raise MetricTemplateError("%s asks the Prometheus at %s, but %s is %s: one round of checks asks one Prometheus; "
                                      "use one address (or leave provider.address out to use the task's prometheus.url)"
                                      % (where, url, chosen[0] or "prometheus.url (rollout_prometheus.url)", chosen[1]))
        if url:
            chosen = (chosen[0] or where, url)
            result["url"] = url
        for key, value in connection.items():
            if key != "url":
                result[key] = value
    return result
