# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Envoy's own cluster statistics (``/stats/prometheus``), for meshes and gateways without Istio telemetry.

The upstream cluster that serves the canary is selected by ``envoy_cluster_name``; the variable
``cluster`` defaults to the target's name and is usually set to the cluster's real name, e.g.
``outbound|9898||podinfo-canary.test.svc.cluster.local`` for an Istio sidecar. Its value matches
literally (it is regex-escaped like every value).
"""

from ansible_collections.progressive.delivery.plugins.module_utils.analysis.providers.istio import NO_SUCCESS

TEMPLATES = {
    # Percentage of upstream requests whose response code class is not 5xx.
    "request-success-rate": {
        "title": "request success rate",
        "unit": "%",
        "query": (
            # the numerator's fallback to 0 is istio.py's: every request failed reads 0 %, not no data
            '(sum(rate(envoy_cluster_upstream_rq_xx{envoy_cluster_name=~"{{ cluster }}",envoy_response_code_class!="5"}[{{ interval }}]))'
            + NO_SUCCESS + ')'
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
