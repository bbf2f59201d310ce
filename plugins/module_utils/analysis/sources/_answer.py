# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What an HTTP answer of a JSON metrics endpoint means, shared by the web and SkyWalking sources.

The transport (``plugins/module_utils/_metric_http.py``) hands back the status and the body of
every HTTP answer, error statuses included; here the status and the body become the JSON document
or a typed error. Plain Python: no network import.
"""

import json
import urllib.parse

from ansible_collections.progressive.delivery.plugins.module_utils.analysis.metric_source import (
    SourceAuthError, SourceQueryError, SourceResponseError)

BODY_LIMIT = 300


class Request(object):
    """One HTTP request a source wants sent; ``headers`` may hold secrets and are never shown."""

    def __init__(self, method, url, headers=None, body=None, timeout=10.0, validate_certs=True, ca_path=None):
        self.method = method
        self.url = url
        self.headers = dict(headers or {})
        self.body = body
        self.timeout = timeout
        self.validate_certs = validate_certs
        self.ca_path = ca_path
        self.display_url = mask_url(url)

    def describe(self):
        return "%s %s" % (self.method, self.display_url)


def mask_url(url):
    """The URL without user:password, for messages."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    netloc = parts.hostname or ""
    if parts.port:
        netloc = "%s:%d" % (netloc, parts.port)
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


class Answer(object):
    """The status and the raw body of one HTTP answer."""

    def __init__(self, status, body):
        self.status = status
        self.body = body if isinstance(body, bytes) else (body or "").encode("utf-8")


def short(value, limit=BODY_LIMIT):
    """The body on one line, cut at ``limit`` characters: enough to see what answered."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    value = " ".join(str(value).split())
    return value if len(value) <= limit else value[:limit] + "..."


def json_document(answer, what, url):
    """The JSON document of a 2xx answer; 401/403 is an auth error, any other status a query error
    with the body (shortened), a body that is not JSON a response error."""
    if answer.status in (401, 403):
        reason = "401 Unauthorized" if answer.status == 401 else "403 Forbidden"
        raise SourceAuthError("%s answered %s for %s (give the credentials in headers, e.g. Authorization): %s"
                              % (url, reason, what, short(answer.body) or "(empty body)"), url=url, status=answer.status)
    if not 200 <= answer.status < 300:
        raise SourceQueryError("%s answered HTTP %s for %s: %s" % (url, answer.status, what, short(answer.body) or "(empty body)"),
                               url=url, status=answer.status)
    try:
        return json.loads(answer.body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise SourceResponseError("%s answered %s with a body that is not JSON (HTTP %s): %s -- is the URL the API endpoint "
                                  "(not a UI or a login page)?" % (url, what, answer.status, short(answer.body) or "(empty body)"),
                                  url=url, status=answer.status)
