# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Any HTTP endpoint that answers JSON, as Argo Rollouts' ``web`` metric provider: one request per
metric, the answer reduced to one number by a JMESPath expression (``json_path``).

Pure: the request is built here and sent by the transport handed in (``_metric_http.py``); the
answer's status, its JSON and the reduction to a number are decided here.
"""

import math
import urllib.parse

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.progressive.delivery.plugins.module_utils.analysis.metric_source import MetricSource, SourceConfigError
from ansible_collections.progressive.delivery.plugins.module_utils.analysis.results import NoDataError, ResultShapeError
from ansible_collections.progressive.delivery.plugins.module_utils.analysis.sources import _answer, _template

try:
    import jmespath
    JMESPATH_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - depends on the environment
    jmespath = None
    JMESPATH_IMPORT_ERROR = exc

NAME = "web"
METHODS = ("GET", "POST", "PUT")
DEFAULT_TIMEOUT = 10.0      # Argo's web provider's default
OPTIONS = ("url", "method", "headers", "body", "timeout", "json_path", "validate_certs")


def has_jmespath():
    return jmespath is not None


def require_jmespath():
    if jmespath is None:
        raise SourceConfigError(missing_required_lib("jmespath"))


def validate_options(options, field):
    """The ``web`` options of one metric, normalised; raises SourceConfigError naming ``field.option``."""
    if not isinstance(options, dict):
        raise SourceConfigError("%s must be a dictionary with at least url, got %r" % (field, options))
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise SourceConfigError("%s: unknown option(s) %s; the options are %s" % (field, ", ".join(unknown), ", ".join(OPTIONS)))
    url = options.get("url")
    if not url or not isinstance(url, str):
        raise SourceConfigError("%s.url is required: the endpoint that answers JSON, e.g. http://metrics.example.com/api/error-rate?app=$target"
                                % field)
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise SourceConfigError("%s.url %r must start with http:// or https://" % (field, _answer.mask_url(url)))
    method = str(options.get("method") or "GET").upper()
    if method not in METHODS:
        raise SourceConfigError("%s.method %r is not one of %s" % (field, options.get("method"), ", ".join(METHODS)))
    body = options.get("body")
    if body is not None and method == "GET":
        raise SourceConfigError("%s.body is given with method GET, which sends no body: set %s.method to POST or PUT" % (field, field))
    if body is not None and not isinstance(body, (str, dict, list)):
        raise SourceConfigError("%s.body must be a string, a dictionary or a list (sent as JSON), got %r" % (field, body))
    headers = options.get("headers") or {}
    if not isinstance(headers, dict):
        raise SourceConfigError("%s.headers must be a dictionary of header names to values" % field)
    timeout = _timeout(options.get("timeout"), DEFAULT_TIMEOUT, "%s.timeout" % field)
    json_path = options.get("json_path")
    if json_path is not None:
        if not isinstance(json_path, str) or not json_path.strip():
            raise SourceConfigError("%s.json_path must be a JMESPath expression such as data.value or avg(items[*].latency)" % field)
        compile_expression(json_path, "%s.json_path" % field)
    validate_certs = options.get("validate_certs")
    return {"url": url, "method": method, "headers": dict((str(k), str(v)) for k, v in headers.items()), "body": body,
            "timeout": timeout, "json_path": json_path, "validate_certs": True if validate_certs is None else bool(validate_certs)}


def _timeout(value, default, field):
    if value is None:
        return default
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = None
    if isinstance(value, bool) or number is None or math.isnan(number) or number <= 0 or math.isinf(number):
        raise SourceConfigError("%s must be a positive number of seconds, got %r" % (field, value))
    return number


def compile_expression(text, field):
    """The compiled JMESPath expression; without the library the check is left to the run (which fails
    with the library's name), so validating a role's settings does not need it."""
    if jmespath is None:
        return None
    try:
        return jmespath.compile(text)
    except jmespath.exceptions.JMESPathError as exc:
        raise SourceConfigError("%s %r is not a JMESPath expression: %s" % (field, text, " ".join(str(exc).split())))


def search(expression, document):
    """``expression`` (a JMESPath text, or None for the whole document) applied to ``document``."""
    if expression is None:
        return document
    require_jmespath()
    return jmespath.search(expression, document)


def to_number(value, expression):
    """The one number ``value`` (what the expression gave) stands for.

    Nothing (null, an empty list) or NaN is no data; a one-element list is its element; numbers given
    as strings (``"99.5"``, as Prometheus and many APIs write them) are numbers; anything else -
    several values, an object, a boolean, text - is a ResultShapeError naming the expression."""
    shown = "json_path %r" % expression if expression is not None else "the answer (no json_path)"
    if value is None or value == []:
        raise NoDataError("%s found nothing in the answer" % shown, "empty")
    if isinstance(value, list):
        if len(value) > 1:
            raise ResultShapeError("%s gave %d values where one number was expected: %s -- reduce them in the expression, "
                                   "e.g. max(...), avg(...) or [0]" % (shown, len(value), _answer.short(repr(value[:5]), 120)))
        return to_number(value[0], expression)
    if isinstance(value, bool) or isinstance(value, dict):
        raise ResultShapeError("%s gave %s where a number was expected: %s" % (
            shown, "a boolean" if isinstance(value, bool) else "an object", _answer.short(repr(value), 120)))
    if isinstance(value, (int, float)):
        number = float(value)
    else:
        try:
            number = float(str(value).strip())
        except ValueError:
            raise ResultShapeError("%s gave the text %r where a number was expected" % (shown, _answer.short(value, 120)))
    if math.isnan(number):
        raise NoDataError("%s gave NaN" % shown, "nan")
    return number


def reduce_answer(document, expression):
    """The one number of a JSON answer."""
    return to_number(search(expression, document), expression)


class WebSource(MetricSource):
    """One metric's endpoint. ``transport(request) -> Answer`` sends the request (_metric_http.py)."""

    name = NAME

    def __init__(self, options, transport):
        self.options = options
        self.transport = transport

    def render(self, template, variables):
        """The request of this interval: ``url`` and ``body`` rendered with the check's variables."""
        options = self.options
        body = None if options["body"] is None else _template.render_body(options["body"], variables)
        headers = dict(options["headers"])
        if body is not None and not any(key.lower() == "content-type" for key in headers):
            headers["Content-Type"] = "application/json"
        headers.setdefault("Accept", "application/json")
        return _answer.Request(options["method"], _template.render_url(options["url"], variables), headers=headers, body=body,
                               timeout=options["timeout"], validate_certs=options["validate_certs"])

    def describe(self, query):
        return query.describe()

    def run_query(self, query):
        """``query`` is the Request of ``render``."""
        require_jmespath()
        answer = self.transport(query)
        document = _answer.json_document(answer, "the metric's request", query.display_url)
        return reduce_answer(document, self.options["json_path"])

    def is_online(self):
        # An endpoint is only known with the metric's variables; the first query is its check.
        return True
