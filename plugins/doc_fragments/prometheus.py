# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


class ModuleDocFragment(object):
    """How to reach Prometheus: top-level options for the lookup, a ``prometheus`` dictionary for modules.

    Both describe the options of ``CONNECTION_ARGUMENT_SPEC`` in
    ``plugins/module_utils/analysis/prometheus.py``; keep the three in step.
    """

    # For the lookup: the options are given directly, e.g. lookup(..., url=..., bearer_token=...).
    DOCUMENTATION = r'''
options:
  url:
    description:
      - Base URL of the Prometheus server (or a Prometheus-compatible API such as Thanos or Mimir), with any path prefix,
        for example V(http://prometheus.istio-system:9090).
    type: str
    env:
      - name: PROMETHEUS_URL
  bearer_token:
    description:
      - "Token sent as C(Authorization: Bearer <token>). Mutually exclusive with O(username) and O(password)."
    type: str
  username:
    description:
      - User name for HTTP basic authentication.
    type: str
  password:
    description:
      - Password for HTTP basic authentication.
    type: str
  headers:
    description:
      - Extra HTTP headers sent with every request, for example a tenant header such as C(X-Scope-OrgID) for Mimir.
    type: dict
    default: {}
  validate_certs:
    description:
      - Verify the server's TLS certificate. Set to V(false) only for test servers with self-signed certificates.
    type: bool
    default: true
  ca_path:
    description:
      - PEM file with the CA certificate(s) that signed the server's certificate.
    type: path
  client_cert:
    description:
      - PEM file with a client certificate for mutual TLS. It may include the private key.
    type: path
  client_key:
    description:
      - PEM file with the private key of O(client_cert), when it is not in that file.
    type: path
  timeout:
    description:
      - Seconds to wait for Prometheus to answer each query (Flagger uses 5 seconds).
    type: float
    default: 5
'''

    # For modules: the same options inside one dictionary, prometheus: {url: ..., ...}.
    MODULE = r'''
options:
  prometheus:
    description:
      - How to reach Prometheus.
    type: dict
    default: {}
    suboptions:
      url:
        description:
          - Base URL of the Prometheus server (or a Prometheus-compatible API such as Thanos or Mimir), with any path
            prefix, for example V(http://prometheus.istio-system:9090).
          - If not set, the environment variable E(PROMETHEUS_URL) is used.
        type: str
      bearer_token:
        description:
          - "Token sent as C(Authorization: Bearer <token>). Mutually exclusive with O(prometheus.username) and O(prometheus.password)."
        type: str
      username:
        description:
          - User name for HTTP basic authentication.
        type: str
      password:
        description:
          - Password for HTTP basic authentication.
        type: str
      headers:
        description:
          - Extra HTTP headers sent with every request, for example a tenant header such as C(X-Scope-OrgID) for Mimir.
        type: dict
        default: {}
      validate_certs:
        description:
          - Verify the server's TLS certificate. Set to V(false) only for test servers with self-signed certificates.
        type: bool
        default: true
      ca_path:
        description:
          - PEM file with the CA certificate(s) that signed the server's certificate.
        type: path
      client_cert:
        description:
          - PEM file with a client certificate for mutual TLS. It may include the private key.
        type: path
      client_key:
        description:
          - PEM file with the private key of O(prometheus.client_cert), when it is not in that file.
        type: path
      timeout:
        description:
          - Seconds to wait for Prometheus to answer each query (Flagger uses 5 seconds).
        type: float
        default: 5
'''
