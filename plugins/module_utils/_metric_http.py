# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The HTTP call of the web and SkyWalking metrics sources (``ansible.module_utils.urls``).

``send(request)`` sends one ``analysis/sources/_answer.Request`` and returns the ``Answer`` of every
HTTP answer, error statuses included (what a status means is decided in ``_answer.json_document``);
no HTTP answer at all is a typed ``SourceConnectionError`` or ``SourceTLSError``. Messages name the
URL without its credentials, never the headers.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import http.client
import socket
import ssl
import urllib.error
import urllib.parse

from ansible.module_utils.urls import ConnectionError as UrlsConnectionError
from ansible.module_utils.urls import SSLValidationError, open_url

from ansible_collections.progressive.delivery.plugins.module_utils.analysis.metric_source import SourceConnectionError, SourceTLSError
from ansible_collections.progressive.delivery.plugins.module_utils.analysis.sources._answer import Answer

USER_AGENT = "ansible-progressive.delivery"


def send(request):
    url = request.display_url
    try:
        response = open_url(request.url, method=request.method, headers=request.headers, data=request.body, timeout=request.timeout,
                            validate_certs=request.validate_certs, ca_path=request.ca_path, http_agent=USER_AGENT, use_netrc=False,
                            follow_redirects="safe")
        try:
            return Answer(response.getcode(), response.read())
        finally:
            response.close()
    except urllib.error.HTTPError as exc:
        try:
            body = exc.read() or b""
        except Exception:  # pylint: disable=broad-except
            body = b""
        return Answer(exc.code, body)
    except SSLValidationError as exc:
        raise _tls_error(url, exc)
    except urllib.error.URLError as exc:
        raise _transport_error(url, request, exc.reason)
    except UrlsConnectionError as exc:
        raise SourceConnectionError("cannot connect to %s: %s" % (url, exc), url=url)
    except (OSError, http.client.HTTPException) as exc:
        raise _transport_error(url, request, exc)


def _tls_error(url, exc):
    text = str(exc)
    hint = ""
    if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
        hint = " (the server's certificate is not signed by a CA this host trusts; validate_certs=false skips verification)"
    return SourceTLSError("TLS error talking to %s: %s%s" % (url, text, hint), url=url)


def _transport_error(url, request, reason):
    if isinstance(reason, (ssl.SSLError, ssl.CertificateError)):
        return _tls_error(url, reason)
    if isinstance(reason, socket.gaierror):
        return SourceConnectionError("cannot resolve the host %r (%s): check the URL %s"
                                     % (urllib.parse.urlsplit(request.url).hostname, reason.strerror or reason, url), url=url)
    if isinstance(reason, ConnectionRefusedError):
        return SourceConnectionError("connection refused by %s: is the server running and listening on that port?" % url, url=url)
    if isinstance(reason, (socket.timeout, TimeoutError)):
        return SourceConnectionError("%s did not answer within the timeout of %g s" % (url, request.timeout), url=url)
    if isinstance(reason, (ConnectionResetError, http.client.RemoteDisconnected, http.client.BadStatusLine)):
        return SourceConnectionError("%s closed the connection without an HTTP answer (%s): is this an HTTP(S) endpoint?"
                                     % (url, reason or type(reason).__name__), url=url)
    return SourceConnectionError("cannot connect to %s: %s" % (url, reason), url=url)
