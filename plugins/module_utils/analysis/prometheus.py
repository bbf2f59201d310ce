# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small Prometheus HTTP API client on ``ansible.module_utils.urls`` with typed, explained errors.

Used by the ``prometheus`` lookup (controller side) and the ``canary_metric_check`` module (target
side), so it imports only the standard library and ansible-core's module_utils.
"""

import datetime
import http.client
import json
import os
import re
import socket
import ssl
import time as _time
import urllib.error
import urllib.parse

from ansible.module_utils.basic import env_fallback
from ansible.module_utils.urls import ConnectionError as UrlsConnectionError
from ansible.module_utils.urls import SSLValidationError, open_url

from ansible_collections.progressive.delivery.plugins.module_utils.analysis.metric_source import (
    SourceAuthError,
    SourceConfigError,
    SourceConnectionError,
    SourceError,
    SourceQueryError,
    SourceResponseError,
    SourceTLSError,
)

DEFAULT_TIMEOUT = 5.0
USER_AGENT = "ansible-progressive.delivery"

# The connection options shared by the lookup (top-level options) and the module (the
# ``prometheus`` dict). Documented once in plugins/doc_fragments/prometheus.py.
CONNECTION_ARGUMENT_SPEC = dict(
    url=dict(type="str", fallback=(env_fallback, ["PROMETHEUS_URL"])),
    bearer_token=dict(type="str", no_log=True),
    username=dict(type="str"),
    password=dict(type="str", no_log=True),
    headers=dict(type="dict", default={}),
    validate_certs=dict(type="bool", default=True),
    ca_path=dict(type="path"),
    client_cert=dict(type="path"),
    client_key=dict(type="path", no_log=False),
    timeout=dict(type="float", default=DEFAULT_TIMEOUT),
)
CONNECTION_OPTIONS = tuple(CONNECTION_ARGUMENT_SPEC)
# Prometheus refuses range queries of more than 11,000 points per series.
MAX_RANGE_POINTS = 11000
_DURATION_PART = re.compile(r"([0-9]+)(ms|s|m|h|d|w|y)")
_DURATION_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


class PrometheusError(SourceError):
    """Base of every error this client raises; ``str(err)`` is a complete, user-facing message.

    A metrics-source error (metric_source.py): each typed error below is also the source error of its kind
    (``PrometheusAuthError`` is a ``SourceAuthError``), whose ``kind`` tells a failed query (``api``) from an
    unusable Prometheus."""

    def __init__(self, message, url=None, status=None, error_type=None, error=None):
        super(PrometheusError, self).__init__(message, url=url, status=status)
        self.error_type = error_type
        self.error = error


class PrometheusConfigError(SourceConfigError, PrometheusError):
    """The client options themselves are wrong (bad URL scheme, missing certificate file, ...)."""


class PrometheusConnectionError(SourceConnectionError, PrometheusError):
    """No HTTP answer: connection refused, name resolution failed, timeout, connection reset."""


class PrometheusTLSError(SourceTLSError, PrometheusError):
    """The TLS handshake failed (certificate verification, client certificate, protocol)."""


class PrometheusAuthError(SourceAuthError, PrometheusError):
    """HTTP 401 or 403."""


class PrometheusAPIError(SourceQueryError, PrometheusError):
    """Any other HTTP error, or ``status: error``; carries Prometheus' ``errorType`` and ``error``."""


class PrometheusResponseError(SourceResponseError, PrometheusError):
    """The answer is not the JSON document the Prometheus API returns."""


class QueryResult(object):
    """``data`` of a successful query: ``result_type`` (vector, scalar, matrix, string) and ``result``."""

    def __init__(self, result_type, result, warnings=None):
        self.result_type = result_type
        self.result = result
        self.warnings = list(warnings or [])

    def __repr__(self):
        return "QueryResult(%r, %r)" % (self.result_type, self.result)


def mask_url(url):
    """The URL without user:password, for messages."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    netloc = parts.hostname or ""
    if parts.port:
        netloc = "%s:%d" % (netloc, parts.port)
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


class PrometheusClient(object):
    """Instant and range queries against one Prometheus (or a compatible API: Thanos, Mimir, ...)."""

    def __init__(self, url=None, bearer_token=None, username=None, password=None, headers=None,
                 validate_certs=True, ca_path=None, client_cert=None, client_key=None,
                 timeout=DEFAULT_TIMEOUT):
        if not url:
            raise PrometheusConfigError("the Prometheus URL is not set: give url (prometheus.url in modules) or set the environment variable "
                                        "PROMETHEUS_URL, e.g. http://prometheus.istio-system:9090")
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise PrometheusConfigError("the Prometheus URL %r is not an http:// or https:// URL, e.g. http://prometheus.istio-system:9090" % mask_url(url))
        if bearer_token and (username or password):
            raise PrometheusConfigError("give either bearer_token or username/password for Prometheus, not both")
        if password and not username:
            raise PrometheusConfigError("a Prometheus password was given without a username")
        for option, path in (("ca_path", ca_path), ("client_cert", client_cert), ("client_key", client_key)):
            if path and not os.path.isfile(path):
                raise PrometheusConfigError("%s %r is not a readable file" % (option, path))
        if client_key and not client_cert:
            raise PrometheusConfigError("client_key was given without client_cert")
        if timeout is not None and float(timeout) <= 0:
            raise PrometheusConfigError("timeout must be a positive number of seconds, got %r" % timeout)
        if headers is not None and not isinstance(headers, dict):
            raise PrometheusConfigError("headers must be a dictionary of header names to values")
        self.url = url.rstrip("/")
        self.display_url = mask_url(self.url)
        self.bearer_token = bearer_token
        self.username = username
        self.password = password
        self.headers = dict((str(k), str(v)) for k, v in (headers or {}).items())
        self.validate_certs = validate_certs
        self.ca_path = ca_path
        self.client_cert = client_cert
        self.client_key = client_key
        self.timeout = float(timeout or DEFAULT_TIMEOUT)

    @classmethod
    def from_options(cls, options):
        """Build from a dict shaped like ``CONNECTION_ARGUMENT_SPEC`` (unknown keys are ignored)."""
        return cls(**dict((k, options.get(k)) for k in CONNECTION_OPTIONS if options.get(k) is not None))

    # -- queries --------------------------------------------------------------------------------
    def query(self, expr, time=None):
        """``GET /api/v1/query``; ``time`` is an RFC 3339 string or a Unix timestamp."""
        params = {"query": expr}
        if time is not None:
            params["time"] = _time_param(time)
        return self._query("/api/v1/query", params, expr)

    def check_online(self):
        """Flagger's check that the metrics server answers: ``vector(1)`` must return 1.

        Raises the typed error of the failure (connection, TLS, auth, API, response)."""
        result = self.query("vector(1)")
        samples = result.result if result.result_type == "vector" else []
        if len(samples) != 1 or samples[0].get("value", [None, None])[1] not in ("1", 1):
            raise PrometheusResponseError("Prometheus at %s answered vector(1) with %s instead of 1"
                                          % (self.display_url, _short(json.dumps(result.result))), url=self.display_url)

    def query_range(self, expr, start=None, end=None, step=None, window=None):
        """``GET /api/v1/query_range``: the samples of ``expr`` every ``step`` from ``start`` to ``end``.

        ``step`` (required) is a Prometheus duration (``15s``) or a number of seconds. Give ``start``, or
        ``window`` (a duration or seconds: ``start = end - window``); ``end`` defaults to now. Times are
        Unix timestamps or RFC 3339 strings. Bad options raise PrometheusConfigError before anything is
        sent; the answer must be a matrix (PrometheusResponseError otherwise); transport, TLS, auth and
        API errors are the same typed errors as for instant queries."""
        if step is None:
            raise PrometheusConfigError("a range query needs step, the resolution between samples: a duration such as 15s or 1m, or seconds")
        step_seconds = seconds(step, "step")
        if step_seconds <= 0:
            raise PrometheusConfigError("step %r must be longer than 0: a duration such as 15s or 1m, or seconds" % (step,))
        end_seconds = _time.time() if end is None else timestamp(end, "end")
        if window is not None and start is not None:
            raise PrometheusConfigError("give either start or window for a range query, not both")
        if window is not None:
            window_seconds = seconds(window, "window")
            if window_seconds <= 0:
                raise PrometheusConfigError("window %r must be longer than 0: a duration such as 5m, or seconds" % (window,))
            start_seconds = end_seconds - window_seconds
        elif start is not None:
            start_seconds = timestamp(start, "start")
        else:
            raise PrometheusConfigError("a range query needs start or window (e.g. window=5m for the last five minutes)")
        if end_seconds < start_seconds:
            raise PrometheusConfigError("the range query ends (%s) before it starts (%s): end must not be earlier than start"
                                        % (_time_param(end_seconds), _time_param(start_seconds)))
        points = int((end_seconds - start_seconds) // step_seconds) + 1
        if points > MAX_RANGE_POINTS:
            raise PrometheusConfigError("the range query would return %d points per series, more than Prometheus' limit of %d: "
                                        "use a longer step or a shorter window" % (points, MAX_RANGE_POINTS))
        params = {"query": expr, "start": _time_param(start_seconds), "end": _time_param(end_seconds), "step": str(step)}
        result = self._query("/api/v1/query_range", params, expr)
        if result.result_type != "matrix":
            raise PrometheusResponseError("Prometheus at %s answered the range query %s with a %s instead of a matrix"
                                          % (self.display_url, _short(expr), result.result_type), url=self.display_url)
        return result

    def _query(self, path, params, expr):
        doc = self.get_json(path, params, what="query %s" % _short(expr))
        data = doc.get("data")
        if not isinstance(data, dict) or "resultType" not in data or "result" not in data:
            raise PrometheusResponseError("Prometheus at %s answered the query without data.resultType/data.result: %s"
                                          % (self.display_url, _short(json.dumps(doc))), url=self.display_url)
        return QueryResult(data["resultType"], data["result"], doc.get("warnings"))

    # -- transport ------------------------------------------------------------------------------
    def status_config(self):
        """Prometheus' running configuration (``GET /api/v1/status/config``): ``{"status", "data": {"yaml"}}``."""
        return self.get_json("/api/v1/status/config", what="configuration request (/api/v1/status/config)")

    def get_json(self, path, params=None, what="request"):
        url = self.url + path
        if params:
            url += "?" + urllib.parse.urlencode(params)
        status, body = self._get(url, what)
        try:
            doc = json.loads(body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            raise PrometheusResponseError(
                "Prometheus at %s returned a response that is not JSON (HTTP %s): %s -- is the URL the Prometheus server "
                "(not a UI, proxy login page or /graph)?" % (self.display_url, status, _short(body)), url=self.display_url, status=status)
        if not isinstance(doc, dict) or "status" not in doc:
            raise PrometheusResponseError("Prometheus at %s returned JSON that is not a Prometheus API response: %s"
                                          % (self.display_url, _short(body)), url=self.display_url, status=status)
        if doc.get("status") != "success":
            raise _api_error(self.display_url, status, doc, what)
        return doc

    def _request_headers(self):
        headers = {"Accept": "application/json"}
        headers.update(self.headers)
        if self.bearer_token:
            headers["Authorization"] = "Bearer %s" % self.bearer_token
        return headers

    def _get(self, url, what):
        try:
            response = open_url(
                url, method="GET", headers=self._request_headers(), timeout=self.timeout,
                validate_certs=self.validate_certs, ca_path=self.ca_path, client_cert=self.client_cert,
                client_key=self.client_key, url_username=self.username, url_password=self.password,
                force_basic_auth=bool(self.username), http_agent=USER_AGENT, use_netrc=False)
            try:
                return response.getcode(), response.read()
            finally:
                response.close()
        except urllib.error.HTTPError as exc:
            raise self._http_error(exc, what)
        except SSLValidationError as exc:
            raise self._tls_error(exc)
        except urllib.error.URLError as exc:
            raise self._transport_error(exc.reason)
        except UrlsConnectionError as exc:
            raise PrometheusConnectionError("cannot connect to Prometheus at %s: %s" % (self.display_url, exc), url=self.display_url)
        except (OSError, http.client.HTTPException) as exc:
            raise self._transport_error(exc)

    def _http_error(self, exc, what):
        try:
            body = exc.read() or b""
        except Exception:  # pylint: disable=broad-except
            body = b""
        status = exc.code
        try:
            doc = json.loads(body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            doc = None
        if status in (401, 403):
            reason = "401 Unauthorized" if status == 401 else "403 Forbidden"
            hint = ("check the bearer token or username/password" if (self.bearer_token or self.username)
                    else "it needs credentials: give a bearer token or username/password")
            detail = ""
            if isinstance(doc, dict) and doc.get("error"):
                detail = ": %s" % doc.get("error")
            elif body.strip():
                detail = ": %s" % _short(body)
            return PrometheusAuthError("Prometheus at %s answered %s for the %s (%s)%s" % (self.display_url, reason, what, hint, detail),
                                       url=self.display_url, status=status)
        if isinstance(doc, dict) and (doc.get("errorType") or doc.get("error")):
            return _api_error(self.display_url, status, doc, what)
        return PrometheusAPIError("Prometheus at %s answered HTTP %s %s for the %s: %s"
                                  % (self.display_url, status, exc.reason or "", what, _short(body) or "(empty body)"),
                                  url=self.display_url, status=status)

    def _tls_error(self, exc):
        hint = ""
        text = str(exc)
        if "mismatch" in text.lower() or "doesn't match" in text.lower():
            hint = " (the certificate does not name this host: use a host name or address the certificate lists)"
        elif "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
            hint = " (give ca_path with the CA that signed the server's certificate, or validate_certs=false to skip verification)"
        return PrometheusTLSError("TLS error talking to Prometheus at %s: %s%s" % (self.display_url, text, hint), url=self.display_url)

    def _transport_error(self, reason):
        if isinstance(reason, ssl.CertificateError) or isinstance(reason, ssl.SSLError):
            return self._tls_error(reason)
        if isinstance(reason, socket.gaierror):
            host = urllib.parse.urlsplit(self.url).hostname
            return PrometheusConnectionError("cannot resolve the Prometheus host %r (%s): check the URL %s"
                                             % (host, reason.strerror or reason, self.display_url), url=self.display_url)
        if isinstance(reason, ConnectionRefusedError):
            return PrometheusConnectionError("connection refused by %s: is Prometheus running and listening on that port?"
                                             % self.display_url, url=self.display_url)
        if isinstance(reason, (socket.timeout, TimeoutError)):
            return PrometheusConnectionError("Prometheus at %s did not answer within the timeout of %g s" % (self.display_url, self.timeout),
                                             url=self.display_url)
        if isinstance(reason, (ConnectionResetError, http.client.RemoteDisconnected, http.client.BadStatusLine)):
            return PrometheusConnectionError("Prometheus at %s closed the connection without an HTTP answer (%s): is this an HTTP(S) endpoint?"
                                             % (self.display_url, reason or type(reason).__name__), url=self.display_url)
        return PrometheusConnectionError("cannot connect to Prometheus at %s: %s" % (self.display_url, reason), url=self.display_url)


def _api_error(display_url, status, doc, what):
    error_type = doc.get("errorType") or "unknown"
    error = doc.get("error") or "(no error message)"
    return PrometheusAPIError("Prometheus at %s rejected the %s (HTTP %s, %s): %s" % (display_url, what, status, error_type, error),
                              url=display_url, status=status, error_type=error_type, error=error)


def seconds(value, field):
    """A Prometheus duration (``1m30s``) or a number of seconds, as seconds; raises PrometheusConfigError naming ``field``."""
    if isinstance(value, bool):
        raise PrometheusConfigError("%s must be a Prometheus duration such as 15s, 1m or 1h30m, or seconds, got %r" % (field, value))
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip()
    try:
        return float(text)
    except ValueError:
        pass
    parts = _DURATION_PART.findall(text)
    if not text or "".join(number + unit for number, unit in parts) != text:
        raise PrometheusConfigError("%s %r is not a Prometheus duration such as 15s, 1m or 1h30m, nor a number of seconds" % (field, value))
    return float(sum(int(number) * _DURATION_SECONDS[unit] for number, unit in parts))


def timestamp(value, field):
    """A Unix timestamp or an RFC 3339 time (``2026-12-01T12:00:00Z``) as a Unix timestamp."""
    if isinstance(value, bool):
        raise PrometheusConfigError("%s must be a Unix timestamp or an RFC 3339 time, got %r" % (field, value))
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        parsed = datetime.datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
    except ValueError:
        raise PrometheusConfigError("%s %r is neither a Unix timestamp nor an RFC 3339 time such as 2026-12-01T12:00:00Z" % (field, value))
    if parsed.tzinfo is None:
        raise PrometheusConfigError("%s %r has no time zone: add Z (UTC) or an offset such as +01:00" % (field, value))
    return parsed.timestamp()


def _time_param(value):
    if isinstance(value, (int, float)):
        return "%.3f" % value
    return str(value)


def _short(value, limit=300):
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    value = " ".join(str(value).split())
    return value if len(value) <= limit else value[:limit] + "..."
