# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Apache SkyWalking's OAP server as a metrics source, as Argo Rollouts' ``skywalking`` provider.

The metric's GraphQL query is POSTed to the OAP server's ``/graphql`` with one variable,
``$duration`` (SkyWalking's ``Duration``: ``start`` and ``end`` as ``yyyy-MM-dd HHmm`` in UTC,
``step: MINUTE``) covering the metric's interval up to now - what Argo's provider sends. Argo then
hands the whole answer to ``successCondition``; a check here needs one number, so the answer's
values in the window are reduced by ``aggregate``:

* ``readMetricsValues`` (``MetricsValues``: ``values { values { value isEmptyValue } }``), also as the
  one-element list of ``readLabeledMetricsValues``;
* ``execExpression`` (MQE's ``ExpressionResult``: ``results [{metric, values [{id, value}]}]``,
  ``value`` a string or null).

Values SkyWalking marks as empty (``isEmptyValue: true``, or an MQE ``value`` of null) are not data;
a window without any value is no data, as an empty Prometheus result. Pure: the request is sent by
the transport handed in (``_metric_http.py``).
"""

import datetime
import json
import math
import re
import urllib.parse

from ansible_collections.progressive.delivery.plugins.module_utils.analysis.metric_source import (
    MetricSource, SourceConfigError, SourceQueryError, SourceResponseError)
from ansible_collections.progressive.delivery.plugins.module_utils.analysis.results import NoDataError, ResultShapeError
from ansible_collections.progressive.delivery.plugins.module_utils.analysis.sources import _answer, _template

NAME = "skywalking"
DEFAULT_TIMEOUT = 30.0      # Argo's skywalking provider's query timeout
AGGREGATES = ("mean", "min", "max", "last")
DEFAULT_AGGREGATE = "mean"
OPTIONS = ("address", "query", "interval", "aggregate", "headers", "timeout", "validate_certs")
TIME_FORMAT = "%Y-%m-%d %H%M"   # SkyWalking's Duration format for step MINUTE
ONLINE_QUERY = "query { version }"
_DURATION_PART = re.compile(r"([0-9]+)(ms|s|m|h|d|w|y)")
_DURATION_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def duration_seconds(text, field):
    parts = _DURATION_PART.findall(text or "")
    if not text or "".join(number + unit for number, unit in parts) != text:
        raise SourceConfigError("%s %r is not a duration such as 5m or 1h30m" % (field, text))
    return sum(int(number) * _DURATION_SECONDS[unit] for number, unit in parts)


def graphql_url(address):
    """Argo appends ``/graphql`` to the address; an address that already ends with it is kept."""
    address = address.rstrip("/")
    return address if urllib.parse.urlsplit(address).path.endswith("/graphql") else address + "/graphql"


def validate_options(options, field):
    """The ``skywalking`` options of one metric, normalised; raises SourceConfigError naming ``field.option``."""
    if not isinstance(options, dict):
        raise SourceConfigError("%s must be a dictionary with address and query, got %r" % (field, options))
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise SourceConfigError("%s: unknown option(s) %s; the options are %s" % (field, ", ".join(unknown), ", ".join(OPTIONS)))
    address = options.get("address")
    if not address or not isinstance(address, str) or urllib.parse.urlsplit(address).scheme not in ("http", "https"):
        raise SourceConfigError("%s.address is required: the OAP server's http:// or https:// URL, e.g. http://skywalking-oap.skywalking:12800"
                                % field)
    query = options.get("query")
    if not query or not isinstance(query, str) or not query.strip():
        raise SourceConfigError("%s.query is required: a GraphQL query with the variable $duration, e.g. query q($duration: Duration!) "
                                "{ apdex: readMetricsValues(condition: {...}, duration: $duration) { values { values { value isEmptyValue } } } }"
                                % field)
    if "$duration" not in query:
        raise SourceConfigError("%s.query does not use $duration: declare it (query q($duration: Duration!) { ... }) and pass it as "
                                "duration: $duration, so the query reads the metric's interval" % field)
    interval = options.get("interval")
    if interval is not None:
        duration_seconds(interval, "%s.interval" % field)
    aggregate = options.get("aggregate") or DEFAULT_AGGREGATE
    if aggregate not in AGGREGATES:
        raise SourceConfigError("%s.aggregate %r is not one of %s" % (field, aggregate, ", ".join(AGGREGATES)))
    headers = options.get("headers") or {}
    if not isinstance(headers, dict):
        raise SourceConfigError("%s.headers must be a dictionary of header names to values" % field)
    timeout = options.get("timeout")
    if timeout is None:
        timeout = DEFAULT_TIMEOUT
    elif isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or math.isnan(timeout) or timeout <= 0 or math.isinf(timeout):
        raise SourceConfigError("%s.timeout must be a positive number of seconds, got %r" % (field, timeout))
    validate_certs = options.get("validate_certs")
    return {"address": address, "url": graphql_url(address), "query": query, "interval": interval, "aggregate": aggregate,
            "headers": dict((str(k), str(v)) for k, v in headers.items()), "timeout": float(timeout),
            "validate_certs": True if validate_certs is None else bool(validate_certs)}


def duration_variable(now, window_seconds):
    """SkyWalking's ``Duration`` for the window ending at ``now`` (UTC), in whole minutes (at least one)."""
    minutes = max(1, int(math.ceil(window_seconds / 60.0)))
    start = now - datetime.timedelta(minutes=minutes)
    return {"start": start.strftime(TIME_FORMAT), "end": now.strftime(TIME_FORMAT), "step": "MINUTE"}


def _number(value, where):
    if isinstance(value, bool):
        raise ResultShapeError("%s is a boolean, not a number" % where)
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ResultShapeError("%s %r is not a number" % (where, value))


def _metrics_values_points(field, node):
    """``MetricsValues``: the values not marked empty (``isEmptyValue`` exists since SkyWalking 9.5)."""
    entries = ((node.get("values") or {}).get("values")) or []
    return [_number(entry.get("value"), "%s: the value of %s" % (field, entry.get("id")))
            for entry in entries if isinstance(entry, dict) and not entry.get("isEmptyValue") and entry.get("value") is not None]


def _labels(series):
    labels = ((series.get("metric") or {}).get("labels")) or []
    return "{%s}" % ", ".join('%s="%s"' % (label.get("key"), label.get("value")) for label in labels if isinstance(label, dict))


def _expression_points(field, node):
    """MQE's ``ExpressionResult``: one series expected; a null value is an empty point."""
    if node.get("error"):
        raise SourceQueryError("SkyWalking could not evaluate the expression of %s (%s): %s" % (field, node.get("type"), node["error"]))
    series = node.get("results") or []
    if len(series) > 1:
        raise ResultShapeError("%s returned %d series where one was expected: %s -- narrow the expression's labels or aggregate it"
                               % (field, len(series), "; ".join(_labels(s) for s in series if isinstance(s, dict))))
    if not series:
        return []
    return [_number(value.get("value"), "%s: the value of %s" % (field, value.get("id")))
            for value in series[0].get("values") or [] if isinstance(value, dict) and value.get("value") is not None]


def window_points(document):
    """The numbers of the one field a GraphQL answer selects, and the field's name."""
    if not isinstance(document, dict):
        raise SourceResponseError("the OAP server's answer is not a GraphQL response object: %s" % _answer.short(json.dumps(document)))
    errors = document.get("errors")
    if errors:
        messages = [error.get("message") if isinstance(error, dict) else str(error) for error in errors]
        raise SourceQueryError("SkyWalking rejected the query: %s" % "; ".join(str(m) for m in messages))
    data = document.get("data")
    if not isinstance(data, dict):
        raise SourceResponseError("the OAP server answered without data: %s" % _answer.short(json.dumps(document)))
    if len(data) != 1:
        raise ResultShapeError("the query selects %d fields (%s) where one was expected: query one metric per check"
                               % (len(data), ", ".join(sorted(data)) or "none"))
    field, node = list(data.items())[0]
    if node is None:
        return field, []
    if isinstance(node, list):
        # readLabeledMetricsValues: one MetricsValues per label.
        if len(node) > 1:
            raise ResultShapeError("%s returned %d labelled series (%s) where one was expected: ask for one label"
                                   % (field, len(node), ", ".join(str(item.get("label")) for item in node if isinstance(item, dict))))
        node = node[0] if node else {}
    if not isinstance(node, dict):
        raise ResultShapeError("%s is %r, not a MetricsValues or an ExpressionResult" % (field, node))
    if "results" in node or "type" in node:
        return field, _expression_points(field, node)
    if "values" in node:
        return field, _metrics_values_points(field, node)
    raise ResultShapeError("%s has neither values (readMetricsValues) nor results (execExpression): select values { values { value "
                           "isEmptyValue } } or results { values { value } }" % field)


def aggregate(points, how):
    if how == "mean":
        return sum(points) / len(points)
    if how == "min":
        return min(points)
    if how == "max":
        return max(points)
    return points[-1]


def reduce_answer(document, how=DEFAULT_AGGREGATE):
    """One number from a GraphQL answer: the ``how`` of the values in the window; no value is no data."""
    field, points = window_points(document)
    if not points:
        raise NoDataError("%s has no value in the window (SkyWalking marks every point empty: no traffic, or the entity name is "
                          "wrong)" % field, "empty")
    return aggregate(points, how)


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc)


class SkyWalkingSource(MetricSource):
    """One metric's query to one OAP server. ``transport(request) -> Answer`` sends it (_metric_http.py)."""

    name = NAME

    def __init__(self, options, transport, interval, clock=utc_now):
        self.options = options
        self.transport = transport
        self.window_seconds = duration_seconds(options["interval"] or interval, "interval")
        self.clock = clock

    def render(self, template, variables):
        """The GraphQL query of this interval, the check's variables JSON-escaped inside its strings."""
        return _template.render_quoted(self.options["query"], variables, "skywalking query", graphql=True)

    def describe(self, query):
        return query

    def _post(self, query, variables):
        body = json.dumps({"query": query, "variables": variables})
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        headers.update(self.options["headers"])
        request = _answer.Request("POST", self.options["url"], headers=headers, body=body, timeout=self.options["timeout"],
                                  validate_certs=self.options["validate_certs"])
        return _answer.json_document(self.transport(request), "the GraphQL query", request.display_url)

    def run_query(self, query):
        document = self._post(query, {"duration": duration_variable(self.clock(), self.window_seconds)})
        return reduce_answer(document, self.options["aggregate"])

    def is_online(self):
        document = self._post(ONLINE_QUERY, {})
        if not isinstance(document, dict) or document.get("errors") or not isinstance(document.get("data"), dict):
            raise SourceResponseError("the OAP server at %s did not answer %s with data: %s"
                                      % (_answer.mask_url(self.options["url"]), ONLINE_QUERY, _answer.short(json.dumps(document))))
        return True
