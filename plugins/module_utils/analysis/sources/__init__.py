# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Metrics sources: where a check's number comes from, one file each, behind ``metric_source.MetricSource``.

Not to be confused with ``analysis/providers/``: a *provider* (istio, envoy) is the mesh whose builtin
Prometheus queries the metric names refer to; a *source* is the backend that answers the query.
A metric entry picks its source by the option it carries - ``web: {...}`` or ``skywalking: {...}``,
as Argo Rollouts' ``provider: {web: ...}`` - and without either it is a Prometheus query.

A new source is one file with ``NAME``, ``OPTIONS``, ``validate_options(options, field)`` and a
``MetricSource`` subclass, one line in ``SOURCES`` and one in ``SourceSet.for_check``.
"""

from ansible_collections.progressive.delivery.plugins.module_utils.analysis.sources import prometheus, skywalking, web

SOURCES = {
    prometheus.NAME: prometheus,
    web.NAME: web,
    skywalking.NAME: skywalking,
}
DEFAULT_SOURCE = prometheus.NAME
# The sources whose options a metric entry carries under the source's name.
OPTION_SOURCES = (web.NAME, skywalking.NAME)


def source_names():
    return sorted(SOURCES)


def validate_options(name, options, field):
    """The normalised options of source ``name``; raises metric_source.SourceConfigError naming ``field``."""
    return SOURCES[name].validate_options(options, field)


class SourceSet(object):
    """The sources of one round of checks.

    Prometheus is one client for every Prometheus check, made on first use (so a round of only web or
    SkyWalking metrics needs no Prometheus URL); a web or SkyWalking check gets its own source from its
    options, which sends its requests through ``transport(request) -> Answer``."""

    def __init__(self, prometheus_client=None, prometheus_factory=None, transport=None, clock=None):
        self._prometheus_client = prometheus_client
        self._prometheus_factory = prometheus_factory
        self._prometheus = None
        self.transport = transport
        self.clock = clock

    def prometheus(self):
        if self._prometheus is None:
            client = self._prometheus_client
            if client is None:
                client = self._prometheus_factory()
            self._prometheus = prometheus.PrometheusSource(client)
        return self._prometheus

    def for_check(self, check):
        if check.source == prometheus.NAME:
            return self.prometheus()
        if self.transport is None:
            raise ValueError("no HTTP transport was given for the %s source" % check.source)
        if check.source == web.NAME:
            return web.WebSource(check.source_options, self.transport)
        if check.source == skywalking.NAME:
            kwargs = {"clock": self.clock} if self.clock else {}
            return skywalking.SkyWalkingSource(check.source_options, self.transport, check.interval, **kwargs)
        raise KeyError("unknown metrics source %r; choose one of: %s" % (check.source, ", ".join(source_names())))


def as_source_set(sources):
    """A SourceSet as is; anything else is taken as the Prometheus client (the interface before sources)."""
    return sources if isinstance(sources, SourceSet) else SourceSet(prometheus_client=sources)
