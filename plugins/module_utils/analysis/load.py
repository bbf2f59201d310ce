# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Load like Flagger's load tester: hey's command line from options, and exact numbers from its CSV output.

hey's ``-o csv`` prints one row per request that got an HTTP response (response time, status code,
start offset); requests without a response (refused, reset, timed out) are left out, so they can
only be counted when the number of requests sent is known (``-n``).
"""

import csv
import math
import re

HEY_INSTALL_HINT = ("install it on the host that runs this task: Debian/Ubuntu `apt-get install hey`, macOS `brew install hey`, "
                    "or `go install github.com/rakyll/hey@latest`; or set executable to its path")
HEY_DEFAULT_REQUESTS = 200
HEY_DEFAULT_CONCURRENCY = 50
_GO_DURATION = re.compile(r"^(?:[0-9]+(?:\.[0-9]+)?(?:ns|us|\u00b5s|ms|s|m|h))+$")
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


class LoadConfigError(ValueError):
    pass


def build_command(params, executable):
    """hey's argument list for the module's options; raises LoadConfigError naming the option."""
    argv = [executable, "-o", "csv"]
    concurrency = params.get("concurrency")
    if concurrency is not None and concurrency < 1:
        raise LoadConfigError("concurrency must be at least 1, got %d" % concurrency)
    if params.get("duration") is not None:
        if not _GO_DURATION.match(params["duration"]):
            raise LoadConfigError("duration %r is not a duration hey understands, such as 30s, 1m or 1m30s" % params["duration"])
        argv += ["-z", params["duration"]]
    if params.get("requests") is not None:
        requests = params["requests"]
        if requests < 1:
            raise LoadConfigError("requests must be at least 1, got %d" % requests)
        if requests < (concurrency or HEY_DEFAULT_CONCURRENCY):
            raise LoadConfigError("requests (%d) must be at least concurrency (%d%s): hey gives every worker requests/concurrency requests"
                                  % (requests, concurrency or HEY_DEFAULT_CONCURRENCY, "" if concurrency else ", hey's default"))
        argv += ["-n", str(requests)]
    if concurrency is not None:
        argv += ["-c", str(concurrency)]
    if params.get("qps") is not None:
        if params["qps"] <= 0:
            raise LoadConfigError("qps must be a positive rate per worker, got %s" % params["qps"])
        argv += ["-q", "%g" % params["qps"]]
    argv += ["-m", params.get("method") or "GET"]
    for name, value in sorted((params.get("headers") or {}).items()):
        value = "" if value is None else str(value)
        if not _HEADER_NAME.match(str(name)):
            raise LoadConfigError("headers: %r is not a valid HTTP header name" % (name,))
        if "\n" in value or "\r" in value:
            raise LoadConfigError("headers.%s: the value must not contain a line break" % name)
        argv += ["-H", "%s: %s" % (name, value)]
    if params.get("host"):
        argv += ["-host", params["host"]]
    if params.get("body") is not None:
        argv += ["-d", params["body"]]
    if params.get("content_type"):
        argv += ["-T", params["content_type"]]
    if params.get("timeout") is not None:
        if params["timeout"] < 0:
            raise LoadConfigError("timeout must be 0 (no timeout) or a number of seconds, got %d" % params["timeout"])
        argv += ["-t", str(params["timeout"])]
    url = params["url"]
    if not re.match(r"^https?://[^/\s]+", url or ""):
        raise LoadConfigError("url %r must be an http:// or https:// URL" % url)
    argv.append(url)
    return argv


def requests_sent(params):
    """How many requests hey sends: known in request-count mode only (it splits them evenly between workers)."""
    if params.get("duration") is not None:
        return None
    requests = params.get("requests") or HEY_DEFAULT_REQUESTS
    concurrency = params.get("concurrency") or HEY_DEFAULT_CONCURRENCY
    return (requests // concurrency) * concurrency


def parse_csv(text):
    """hey's ``-o csv`` rows as ``(response_seconds, status_code, offset_seconds)``."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines or not lines[0].startswith("response-time"):
        raise ValueError("hey did not print its CSV header; output was: %s" % (text[:300] or "(empty)"))
    rows = []
    reader = csv.DictReader(lines)
    for row in reader:
        rows.append((float(row["response-time"]), int(row["status-code"]), float(row["offset"])))
    return rows


def nearest_rank(sorted_values, percent):
    """The nearest-rank percentile: the smallest value with at least ``percent``% of values at or below it."""
    rank = int(math.ceil(percent / 100.0 * len(sorted_values)))
    return sorted_values[max(rank, 1) - 1]


def summarize(rows, sent=None):
    """The module's numbers from hey's rows; ``sent`` is the number of requests when it is known."""
    responses = len(rows)
    errors = None if sent is None else max(sent - responses, 0)
    requests = responses if errors is None else responses + errors
    codes = {}
    for _seconds, code, _offset in rows:
        codes[str(code)] = codes.get(str(code), 0) + 1
    ok = sum(1 for _seconds, code, _offset in rows if code < 500)
    duration = max(offset + seconds for seconds, _code, offset in rows) if rows else 0.0
    result = dict(
        requests=requests,
        responses=responses,
        errors=errors,
        duration=round(duration, 4),
        rps=round(responses / duration, 2) if duration > 0 else None,
        status_codes=codes,
        success_rate=round(100.0 * ok / requests, 4) if requests else None,
        latency_ms=None,
    )
    if rows:
        millis = sorted(seconds * 1000.0 for seconds, _code, _offset in rows)
        result["latency_ms"] = dict(
            min=round(millis[0], 3),
            mean=round(sum(millis) / len(millis), 3),
            p50=round(nearest_rank(millis, 50), 3),
            p90=round(nearest_rank(millis, 90), 3),
            p95=round(nearest_rank(millis, 95), 3),
            p99=round(nearest_rank(millis, 99), 3),
            max=round(millis[-1], 3),
        )
    return result
