# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Istio's standard telemetry: Flagger's builtin queries, with one change (``NO_SUCCESS``).

Only the canary workload is measured (``target`` is the canary Deployment's name, which is what
Istio reports as ``destination_workload``); ``reporter="destination"`` counts each request once.
"""

# Flagger's success rate has no value at all when every request failed (the numerator has no series), so a canary
# whose every answer is a 5xx read as "not receiving traffic". The numerator falls back to 0 when it has no series:
# all failed reads 0 %, while no requests at all (the denominator has no series, or a rate of 0) is still no data.
NO_SUCCESS = " or on() vector(0)"

TEMPLATES = {
    # Percentage of requests that did not answer 5xx.
    "request-success-rate": {
        "title": "request success rate",
        "unit": "%",
        "query": (
            '(sum(rate(istio_requests_total{reporter="destination",destination_workload_namespace="{{ namespace }}",'
            'destination_workload=~"{{ target }}",response_code!~"5.*"}[{{ interval }}]))' + NO_SUCCESS + ')'
            ' / '
            'sum(rate(istio_requests_total{reporter="destination",destination_workload_namespace="{{ namespace }}",'
            'destination_workload=~"{{ target }}"}[{{ interval }}]))'
            ' * 100'
        ),
    },
    # 99th percentile request duration in milliseconds.
    "request-duration": {
        "title": "request duration",
        "unit": "ms",
        "query": (
            'histogram_quantile(0.99, sum(rate(istio_request_duration_milliseconds_bucket{reporter="destination",'
            'destination_workload_namespace="{{ namespace }}",destination_workload=~"{{ target }}"}[{{ interval }}])) by (le))'
        ),
    },
}

# Canary versus primary (the canary_compare module): the same queries, rendered once with ``target`` set
# to the canary workload and once to the primary one (``<target>-primary``), each sampled every step of
# the window. ``direction`` is the deviation that fails the metric.
COMPARE_TEMPLATES = {
    "request-success-rate": dict(TEMPLATES["request-success-rate"], direction="decrease"),
    "request-duration": dict(TEMPLATES["request-duration"], direction="increase"),
}

# Fast abort (analysis/fast_abort.py): the canary's request counters, read at the interval's start and since, with the
# label set of request-success-rate. ``failed`` counts what that metric counts as failed (5xx).
COUNT_TEMPLATES = {
    "requests": 'sum(istio_requests_total{reporter="destination",destination_workload_namespace="{{ namespace }}",'
                'destination_workload=~"{{ target }}"})',
    "failed": 'sum(istio_requests_total{reporter="destination",destination_workload_namespace="{{ namespace }}",'
              'destination_workload=~"{{ target }}",response_code=~"5.*"})',
}
