# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Prometheus as a metrics source: the PromQL instant query of ``analysis/prometheus.py``, reduced to
its one value by ``results.single_value`` (empty or NaN is no data, several series an error)."""

from ansible_collections.progressive.delivery.plugins.module_utils.analysis.metric_source import MetricSource
from ansible_collections.progressive.delivery.plugins.module_utils.analysis.render import render
from ansible_collections.progressive.delivery.plugins.module_utils.analysis.results import single_value

NAME = "prometheus"


class PrometheusSource(MetricSource):
    """Wraps a ``PrometheusClient`` (or anything with its ``query`` and ``check_online``)."""

    name = NAME

    def __init__(self, client):
        self.client = client

    def render(self, template, variables):
        """The PromQL as sent, every value escaped for its place (render.py)."""
        return render(template, variables)

    def describe(self, query):
        return query

    def run_query(self, query):
        return single_value(self.client.query(query))

    def is_online(self):
        self.client.check_online()
        return True
