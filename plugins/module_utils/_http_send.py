# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One HTTP request to a receiver that must never stop a rollout (a webhook, an alert, the Pushgateway).

``send`` makes the call through ``ansible.module_utils.urls`` and never raises: it answers ``(status, text)``,
where a transport error is ``(None, reason)`` in words that name the peer and the fix. The callers decide what a
status means (analysis/webhooks.py, metrics_push.py).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import http.client
import socket
import ssl
import urllib.error

from ansible.module_utils.urls import ConnectionError as UrlsConnectionError
from ansible.module_utils.urls import SSLValidationError, open_url


def transport_reason(reason, timeout, peer="the receiver", refused_hint=""):
    """Why no answer came from ``peer``: a timeout, a refused connection, an unknown host, TLS, or the error itself."""
    if isinstance(reason, (socket.timeout, TimeoutError)):
        return "no answer within the timeout of %g s" % timeout
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused by %s%s" % (peer, refused_hint)
    if isinstance(reason, socket.gaierror):
        return "cannot resolve the host of %s (%s)" % (peer, reason.strerror or reason)
    if isinstance(reason, (ssl.SSLError, ssl.CertificateError)):
        return "TLS error: %s (give ca_path with the CA that signed the server's certificate)" % reason
    return "cannot connect to %s: %s" % (peer, reason)


def send(url, data, method, headers, timeout, validate_certs, ca_path, user_agent, peer="the receiver", refused_hint="",
         username=None, password=None):
    """One request without redirects: ``(status or None, answer text or the transport error)``."""
    try:
        response = open_url(url, data=data, method=method, headers=headers, timeout=timeout, validate_certs=validate_certs,
                            ca_path=ca_path, http_agent=user_agent, url_username=username, url_password=password,
                            force_basic_auth=bool(username), use_netrc=False, follow_redirects="none")
        try:
            return response.getcode(), response.read().decode("utf-8", "replace")
        finally:
            response.close()
    except urllib.error.HTTPError as exc:
        try:
            text = (exc.read() or b"").decode("utf-8", "replace")
        except Exception:  # pylint: disable=broad-except
            text = ""
        return exc.code, text
    except SSLValidationError as exc:
        return None, transport_reason(ssl.SSLError(str(exc)), timeout, peer, refused_hint)
    except urllib.error.URLError as exc:
        return None, transport_reason(exc.reason, timeout, peer, refused_hint)
    except (UrlsConnectionError, OSError, http.client.HTTPException) as exc:
        return None, transport_reason(exc, timeout, peer, refused_hint)
