# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The metrics-source interface every backend a check can ask implements, and its typed errors.

A *metrics source* is where a number comes from (Prometheus, a JSON endpoint, SkyWalking's OAP
server); it is not the mesh *provider* (istio, envoy), which only chooses the builtin Prometheus
queries. The interface is Flagger's ``pkg/metrics/providers``: ``run_query(query) -> float`` and
``is_online()``. Sources live in ``analysis/sources/``, one file each, registered in its
``SOURCES``.

Errors carry a ``kind``. Those of ``QUERY_ERROR_KINDS`` concern one metric's query (an HTTP error of
its endpoint, a GraphQL error, a rejected PromQL) and become that metric's status ``error``; the
others (config, connection, tls, auth, response) mean the source itself is unusable and stop the
round. Plain Python: no network import here.
"""

QUERY_ERROR_KINDS = ("api",)


class SourceError(Exception):
    """Base of every metrics-source error; ``str(err)`` is a complete, user-facing message."""

    kind = "error"

    def __init__(self, message, url=None, status=None):
        super(SourceError, self).__init__(message)
        self.message = message
        self.url = url
        self.status = status

    @property
    def concerns_query(self):
        """True when only this query failed (the metric's status is ``error``), not the source."""
        return self.kind in QUERY_ERROR_KINDS


class SourceConfigError(SourceError):
    """The source's options are unusable (bad URL scheme, missing library, ...)."""

    kind = "config"


class SourceConnectionError(SourceError):
    """No HTTP answer: connection refused, name resolution, timeout, connection closed."""

    kind = "connection"


class SourceTLSError(SourceError):
    """The TLS handshake failed (certificate verification, protocol)."""

    kind = "tls"


class SourceAuthError(SourceError):
    """HTTP 401 or 403."""

    kind = "auth"


class SourceQueryError(SourceError):
    """The source answered, but refused or failed this query (HTTP status, GraphQL ``errors``)."""

    kind = "api"


class SourceResponseError(SourceError):
    """The answer is not what the source's API returns (not JSON, not the expected document)."""

    kind = "response"


class MetricSource(object):
    """One metrics backend. ``run_query`` returns the query's one number or raises:

    * ``results.NoDataError`` -- nothing to measure (empty result, NaN, no value in the window);
    * ``results.ResultShapeError`` -- an answer that is not one number (several series, a string);
    * a ``SourceError`` -- transport, TLS, auth, HTTP or API errors, typed by ``kind``.
    """

    name = "source"

    def run_query(self, query):
        raise NotImplementedError

    def is_online(self):
        """Raise the typed error that stops the source from answering; True when it answers."""
        raise NotImplementedError
