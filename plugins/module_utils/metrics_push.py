# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rollout's own metrics, in Flagger's names and labels, as Prometheus text exposition.

Flagger's controller exports (``pkg/metrics/recorder.go``), and the dashboards and alerts written
for it read:

- ``flagger_canary_status{name, namespace}`` gauge - 0 while Progressing, 2 when Failed, 1 for every
  other phase (Flagger's "default" branch: Succeeded, Initialized, Waiting, ...);
- ``flagger_canary_weight{workload, namespace}`` gauge - one series for ``<target>-primary`` and one
  for ``<target>`` (the canary), the route's weights;
- ``flagger_canary_duration_seconds{name, namespace}`` histogram with client_golang's default buckets;
- ``flagger_canary_total{namespace}`` gauge - the canaries of the namespace.

Here one push carries one observation of the duration (the rollout's time so far), so the histogram
is ``_count 1`` and ``_sum`` = that duration, with the cumulative buckets it falls in; the Pushgateway
keeps the group until the next push replaces it.

Plain Python: no Ansible, no network.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import math
import re

from urllib.parse import quote, urlsplit

DEFAULT_JOB = "progressive-delivery"

# client_golang's prometheus.DefBuckets, which Flagger's duration histogram uses: the same le
# values keep histogram_quantile() over Flagger's and our series comparable.
DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

STATUS_RUNNING = 0
STATUS_SUCCESSFUL = 1
STATUS_FAILED = 2

METRIC_NAMES = ("flagger_canary_status", "flagger_canary_weight", "flagger_canary_duration_seconds",
                "flagger_canary_total")
# Every series name the text can hold (a histogram's are its _bucket, _sum and _count).
SERIES_NAMES = ("flagger_canary_status", "flagger_canary_weight", "flagger_canary_duration_seconds_bucket",
                "flagger_canary_duration_seconds_sum", "flagger_canary_duration_seconds_count", "flagger_canary_total")

_HELP = {
    "flagger_canary_status": "Last canary analysis result",
    "flagger_canary_weight": "The virtual service destination weight current value",
    "flagger_canary_duration_seconds": "Seconds spent performing canary analysis.",
    "flagger_canary_total": "Total number of canary object",
}


class MetricsPushError(Exception):
    """A problem with the options, named by the option to fix."""

    def __init__(self, message, field=None):
        super(MetricsPushError, self).__init__(message)
        self.message = message
        self.field = field


def status_value(phase):
    """Flagger's encoding of a phase: Progressing 0, Failed 2, anything else 1."""
    if phase == "Progressing":
        return STATUS_RUNNING
    if phase == "Failed":
        return STATUS_FAILED
    return STATUS_SUCCESSFUL


def parse_time(text):
    """An RFC 3339 time (``Z`` or an offset) as an aware datetime."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    try:
        parsed = datetime.datetime.fromisoformat(value)
    except ValueError:
        raise MetricsPushError("started_at %r is not an RFC 3339 time (like 2026-12-01T16:00:00Z)" % text, "started_at")
    if parsed.tzinfo is None:
        # The status writes UTC; a time without an offset is read as UTC rather than the host's zone.
        parsed = parsed.replace(tzinfo=datetime.timezone.utc)
    return parsed


def duration_from(started_at, now):
    """Seconds from ``started_at`` to ``now`` (an aware datetime), never negative (clock skew)."""
    return max(0.0, (now - parse_time(started_at)).total_seconds())


def _escape_label(value):
    # The exposition format escapes backslash, double quote and newline in label values.
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(pairs):
    return "{%s}" % ",".join('%s="%s"' % (key, _escape_label(value)) for key, value in pairs)


def _number(value):
    if isinstance(value, float):
        if math.isinf(value):
            return "+Inf" if value > 0 else "-Inf"
        if value == int(value) and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    return str(value)


def validate(params):
    """The checked options: raises MetricsPushError naming the option to fix."""
    for field in ("target", "namespace"):
        if not params.get(field):
            raise MetricsPushError("%s must not be empty" % field, field)
    weight = params.get("canary_weight")
    if weight is not None and not 0 <= weight <= 100:
        raise MetricsPushError("canary_weight must be between 0 and 100, not %s" % weight, "canary_weight")
    duration = params.get("duration_seconds")
    if duration is not None and (duration < 0 or math.isnan(duration) or math.isinf(duration)):
        raise MetricsPushError("duration_seconds must be a finite number >= 0, not %s" % duration, "duration_seconds")
    total = params.get("canary_total")
    if total is not None and total < 0:
        raise MetricsPushError("canary_total must be >= 0, not %s" % total, "canary_total")
    if not params.get("job"):
        raise MetricsPushError("job must not be empty", "job")
    url = params.get("url") or ""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise MetricsPushError("url must be an http:// or https:// Pushgateway address", "url")
    if "@" in parts.netloc:
        # A password in the URL would be shown with it (results, messages); the options keep it secret.
        raise MetricsPushError("url must not carry credentials (user:password@): give url_username and url_password", "url")
    if params.get("url_password") and not params.get("url_username"):
        raise MetricsPushError("url_password needs url_username", "url_username")
    if params.get("bearer_token") and params.get("url_username"):
        raise MetricsPushError("give either bearer_token or url_username/url_password, not both", "bearer_token")
    return params


def render(target, namespace, phase, canary_weight=None, duration_seconds=None, canary_total=None):
    """The text exposition of one rollout's metrics (Flagger's names, labels and types)."""
    lines = []

    def family(name, kind):
        lines.append("# HELP %s %s" % (name, _HELP[name]))
        lines.append("# TYPE %s %s" % (name, kind))

    family("flagger_canary_status", "gauge")
    lines.append("flagger_canary_status%s %d" % (_labels([("name", target), ("namespace", namespace)]), status_value(phase)))
    if canary_weight is not None:
        family("flagger_canary_weight", "gauge")
        # Flagger's workload label: the primary Deployment's name, then the target's (the canary).
        primary = _labels([("workload", "%s-primary" % target), ("namespace", namespace)])
        lines.append("flagger_canary_weight%s %d" % (primary, 100 - canary_weight))
        lines.append("flagger_canary_weight%s %d" % (_labels([("workload", target), ("namespace", namespace)]), canary_weight))
    if duration_seconds is not None:
        family("flagger_canary_duration_seconds", "histogram")
        base = [("name", target), ("namespace", namespace)]
        for bound in DEFAULT_BUCKETS + (float("inf"),):
            inside = 1 if duration_seconds <= bound else 0
            lines.append("flagger_canary_duration_seconds_bucket%s %d" % (_labels(base + [("le", _number(float(bound)))]), inside))
        lines.append("flagger_canary_duration_seconds_sum%s %s" % (_labels(base), _number(float(duration_seconds))))
        lines.append("flagger_canary_duration_seconds_count%s 1" % _labels(base))
    if canary_total is not None:
        family("flagger_canary_total", "gauge")
        lines.append("flagger_canary_total%s %d" % (_labels([("namespace", namespace)]), canary_total))
    return "\n".join(lines) + "\n"


def _path_value(value):
    # A grouping-key value goes in the path: encode everything but the unreserved characters so a
    # slash in a name cannot move it into another group. (An empty value would need the @base64
    # form; target and namespace are never empty.)
    return quote(str(value), safe="")


def push_url(url, job, namespace, name):
    """``<url>/metrics/job/<job>/namespace/<ns>/name/<name>``: one group per canary."""
    base = url.rstrip("/")
    return "%s/metrics/job/%s/namespace/%s/name/%s" % (base, _path_value(job), _path_value(namespace), _path_value(name))


_SPACES = re.compile(r"\s+")


def answer_excerpt(text, secrets=(), limit=300):
    """The Pushgateway's answer on one line, cut at ``limit`` characters, with every secret masked."""
    excerpt = _SPACES.sub(" ", text or "").strip()
    for secret in secrets:
        if secret:
            excerpt = excerpt.replace(secret, "********")
    if len(excerpt) > limit:
        excerpt = excerpt[:limit] + "... (%d more characters)" % (len(excerpt) - limit)
    return excerpt or "(empty body)"
