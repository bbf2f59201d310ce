# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Is the metric window long enough for the Prometheus that answers the queries?

A ``rate(...[window])`` needs two samples inside the window; a window shorter than two scrape
intervals often holds one and reads as "no values found", which rolls back a healthy release. The
caller reads Prometheus' configuration once (``GET /api/v1/status/config``, whose ``data.yaml`` is
the text ``scrape_intervals`` parses) and checks every window with ``check_metric_window`` before
anything is written.

Plain Python: no Ansible, no network, no YAML library (Prometheus writes its configuration in one
fixed layout, which a line reader handles).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.progressive.delivery.plugins.module_utils.analysis.schedule import ScheduleError, duration_seconds

# Prometheus' default global scrape_interval, when the configuration leaves it out.
DEFAULT_SCRAPE_INTERVAL = 60.0
_KEY = re.compile(r"^(?P<indent>\s*)(?P<dash>-\s+)?(?P<key>[A-Za-z_][A-Za-z0-9_]*):\s*(?P<value>.*?)\s*$")


class MetricWindowError(ValueError):
    """A metric window is too short for the scrape interval, or the configuration cannot be read."""


def _seconds(value, name):
    if isinstance(value, bool):
        raise MetricWindowError("%s must be a number of seconds or a duration such as 30s, got %r" % (name, value))
    try:
        return duration_seconds(value, name)
    except ScheduleError as exc:
        raise MetricWindowError(str(exc))


def _fmt(seconds):
    return ("%d" % seconds) if float(seconds).is_integer() else ("%g" % seconds)


def check_metric_window(window_seconds, scrape_interval_seconds, name="rollout_analysis.interval", job=None):
    """Raise MetricWindowError when ``window_seconds`` is shorter than two ``scrape_interval_seconds``.

    Both are seconds or durations (``30s``). ``name`` is the setting the window comes from (the
    analysis interval, or a metric's own ``interval``), ``job`` the scrape job whose interval applies,
    for the message. Returns ``{window_seconds, scrape_interval_seconds, minimum_seconds}``.
    """
    window = _seconds(window_seconds, name)
    scrape = _seconds(scrape_interval_seconds, "scrape_interval")
    minimum = 2 * scrape
    if window < minimum:
        raise MetricWindowError(
            "%s is %ss, shorter than two scrape intervals of Prometheus (scrape_interval %ss%s): a rate over it has fewer than "
            "two samples and reads as no data, which would roll back a healthy canary; set %s to at least %ss, or scrape more often"
            % (name, _fmt(window), _fmt(scrape), " of job %s" % job if job else "", name, _fmt(minimum)))
    return {"window_seconds": window, "scrape_interval_seconds": scrape, "minimum_seconds": minimum}


def _value(text):
    text = text.split(" #", 1)[0].strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        text = text[1:-1]
    return text


def scrape_intervals(config_yaml):
    """The scrape intervals of a Prometheus configuration (``/api/v1/status/config``'s ``data.yaml``).

    Returns ``{"global": seconds, "jobs": {job_name: seconds}}``; a job without its own
    ``scrape_interval`` has the global one, and the global one defaults to Prometheus' 1m. The decoded
    JSON answer (``{"status": "success", "data": {"yaml": ...}}``) is taken as well.
    """
    if isinstance(config_yaml, dict) and isinstance(config_yaml.get("data"), dict) and isinstance(config_yaml["data"].get("yaml"), str):
        config_yaml = config_yaml["data"]["yaml"]
    if not isinstance(config_yaml, str):
        raise MetricWindowError("the Prometheus configuration must be the YAML text of /api/v1/status/config (data.yaml), got %r"
                                % (type(config_yaml).__name__,))
    section = child_indent = None
    global_interval = None
    jobs = []            # [name, interval or None] in order
    job_indent = None
    for number, line in enumerate(config_yaml.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _KEY.match(line)
        if not match:
            continue
        indent = len(match.group("indent"))
        key, value = match.group("key"), _value(match.group("value"))
        if indent == 0 and not match.group("dash"):
            section, child_indent = key, None
            continue
        if child_indent is None:
            child_indent = indent
        if section == "global" and key == "scrape_interval" and not match.group("dash") and indent == child_indent:
            global_interval = _seconds(value, "global.scrape_interval (line %d)" % number)
        elif section == "scrape_configs":
            if match.group("dash") and key == "job_name":
                jobs.append([value, None])
                job_indent = indent + len(match.group("dash"))
            elif jobs and key == "scrape_interval" and not match.group("dash") and indent == job_indent:
                jobs[-1][1] = _seconds(value, "scrape_configs %s scrape_interval (line %d)" % (jobs[-1][0], number))
    default = global_interval if global_interval is not None else DEFAULT_SCRAPE_INTERVAL
    return {"global": default, "jobs": dict((name, interval if interval is not None else default) for name, interval in jobs)}


def scrape_interval_for(intervals, job=None):
    """The scrape interval that applies: the job's when it is known, else the global one."""
    if job:
        if job not in intervals["jobs"]:
            raise MetricWindowError("Prometheus has no scrape job %r (jobs: %s)" % (job, ", ".join(sorted(intervals["jobs"])) or "none"))
        return intervals["jobs"][job]
    return intervals["global"]
