# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Envoy's own cluster statistics (``/stats/prometheus``), for meshes and gateways without Istio telemetry.

The upstream cluster that serves the canary is selected by ``envoy_cluster_name``; the variable
``cluster`` defaults to the target's name and is usually set to the cluster's real name, e.g.
``outbound|9898||podinfo-canary.test.svc.cluster.local`` for an Istio sidecar. Its value matches
literally (it is regex-escaped like every value).
"""

TEMPLATES = {
    # Percentage of upstream requests whose response code class is not 5xx.
    "request-success-rate": {
        "title": "request success rate",
        "unit": "%",
        "query": (
            'sum(rate(envoy_cluster_upstream_rq_xx{envoy_cluster_name=~"{{ cluster }}",envoy_response_code_class!="5"}[{{ interval }}]))'
            ' / '
            'sum(rate(envoy_cluster_upstream_rq_xx{envoy_cluster_name=~"{{ cluster }}"}[{{ interval }}]))'
            ' * 100'
        ),
    },
    # 99th percentile upstream request time in milliseconds.
    "request-duration": {
        "title": "request duration",
        "unit": "ms",
        "query": (
            'histogram_quantile(0.99, sum(rate(envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name=~"{{ cluster }}"}'
            '[{{ interval }}])) by (le))'
        ),
    },
}


def default_variables(variables):
    return {"cluster": variables.get("target")}


# Fast abort (analysis/fast_abort.py): the upstream cluster's request counters, with request-success-rate's labels.
COUNT_TEMPLATES = {
    "requests": 'sum(envoy_cluster_upstream_rq_xx{envoy_cluster_name=~"{{ cluster }}"})',
    "failed": 'sum(envoy_cluster_upstream_rq_xx{envoy_cluster_name=~"{{ cluster }}",envoy_response_code_class="5"})',
}
