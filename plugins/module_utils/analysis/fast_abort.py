# -*- coding: utf-8 -*-
# Copyright (c) progressive.delivery contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fast abort: roll a failing canary back as soon as the evidence is certain, inside the interval.

Flagger waits ``interval x threshold`` before it rolls back. Here the canary's requests and failed
requests so far in the interval are tested, each time new counts arrive, with Wald's sequential
probability ratio test on the error rate: H0 "the error rate is the acceptable one" (``p0``, from
the success-rate threshold: min 99 % -> 1 %) against H1 "it is ``ratio`` times that" (``p1``). The
log-likelihood ratio of ``failed`` errors in ``requests`` requests is

    failed * ln(p1 / p0) + (requests - failed) * ln((1 - p1) / (1 - p0))

and the canary is aborted when it reaches ``ln((1 - beta) / alpha)``: under H0 that happens with
probability at most ``alpha`` (the false-alarm rate, default 1 %). A second, certain rule needs no
statistics: when the failures already counted make the threshold unreachable for the interval's
expected request count, the interval is lost whatever comes next.

Plain Python: no Ansible, no network.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import math
import time

from ansible_collections.progressive.delivery.plugins.module_utils.analysis import providers
from ansible_collections.progressive.delivery.plugins.module_utils.analysis.render import TemplateError, render

DEFAULT_ALPHA = 0.01
DEFAULT_BETA = 0.1
DEFAULT_RATIO = 3.0


class FastAbortError(ValueError):
    """A fast-abort option is invalid; ``field`` names it."""

    def __init__(self, message, field):
        super(FastAbortError, self).__init__(message)
        self.message = message
        self.field = field


def _probability(value, field):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
        raise FastAbortError("%s must be a number between 0 and 1 (exclusive), got %r" % (field, value), field)
    return float(value)


def settings(min_success_rate, alpha=DEFAULT_ALPHA, beta=DEFAULT_BETA, ratio=DEFAULT_RATIO):
    """The test for a success-rate threshold ``min_success_rate`` (percent), checked."""
    if isinstance(min_success_rate, bool) or not isinstance(min_success_rate, (int, float)) or not 0 < min_success_rate < 100:
        raise FastAbortError("the success-rate threshold must be above 0 and below 100 %% for a fast abort, got %r" % (min_success_rate,),
                             "threshold_range.min")
    alpha = _probability(alpha, "fast_abort.false_alarm_rate")
    beta = _probability(beta, "fast_abort.missed_rate")
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or ratio <= 1:
        raise FastAbortError("fast_abort.ratio must be a number above 1 (how many times the acceptable error rate is a failure), got %r"
                             % (ratio,), "fast_abort.ratio")
    p0 = 1 - min_success_rate / 100.0
    p1 = min(p0 * ratio, (1 + p0) / 2)  # never 1: a ratio that high means "half of the remaining"
    return {"p0": p0, "p1": p1, "alpha": alpha, "beta": beta, "ratio": float(ratio),
            "upper": math.log((1 - beta) / alpha), "lower": math.log(beta / (1 - alpha)),
            "min_success_rate": float(min_success_rate)}


def log_likelihood_ratio(test, requests, failed):
    return failed * math.log(test["p1"] / test["p0"]) + (requests - failed) * math.log((1 - test["p1"]) / (1 - test["p0"]))


def decide(test, requests, failed, expected_requests=None):
    """``{"abort": bool, "rule", "llr", "reason"}`` for ``failed`` of ``requests`` so far in the interval.

    ``expected_requests``: the requests the whole interval will have (for example the load's rate x
    the interval); with it, failures that already make the threshold unreachable abort at once.
    """
    if isinstance(requests, bool) or not isinstance(requests, int) or requests < 0:
        raise FastAbortError("requests must be a whole number >= 0, got %r" % (requests,), "requests")
    if isinstance(failed, bool) or not isinstance(failed, int) or not 0 <= failed <= requests:
        raise FastAbortError("failed must be a whole number between 0 and requests (%d), got %r" % (requests, failed), "failed")
    limit = test["min_success_rate"]
    if expected_requests and expected_requests >= requests:
        best = 100.0 * (expected_requests - failed) / expected_requests
        if best < limit:
            return {"abort": True, "rule": "unreachable", "llr": None,
                    "reason": "%d failed requests of at most %d in the interval: the success rate cannot reach %g %% (at best %.2f %%)"
                              % (failed, expected_requests, limit, best)}
    llr = log_likelihood_ratio(test, requests, failed)
    if requests and llr >= test["upper"]:
        return {"abort": True, "rule": "sequential", "llr": llr,
                "reason": "%d of %d requests failed (%.2f %%): worse than %g %% success with %g %% false-alarm risk (sequential test)"
                          % (failed, requests, 100.0 * failed / requests, limit, 100 * test["alpha"])}
    return {"abort": False, "rule": None, "llr": llr, "reason": ""}


# -- the canary's counts in the interval (canary_wait polls them) -------------------------------------------------

# The poll when Prometheus' scrape interval cannot be read (the role says which one it used).
FALLBACK_POLL = 1.0


def check_poll(poll, scrape_interval_seconds, name="rollout_analysis.fast_abort.poll"):
    """The poll to use: ``poll`` (seconds, or None for the scrape interval) checked against Prometheus' scrape interval
    (None when unreadable). Returns ``{"poll", "source"}`` (source: ``setting``, ``scrape_interval`` or ``fallback``);
    raises FastAbortError naming ``name`` when ``poll`` is shorter than the scrape interval (the counters cannot change
    between two scrapes, so a shorter poll only loads Prometheus)."""
    if poll is not None:
        if isinstance(poll, bool) or not isinstance(poll, (int, float)) or poll <= 0:
            raise FastAbortError("%s must be a positive number of seconds, got %r" % (name, poll), name)
        if scrape_interval_seconds and poll < scrape_interval_seconds:
            raise FastAbortError("%s is %gs, shorter than Prometheus' scrape interval of %gs: the canary's counters change once a "
                                 "scrape; set %s to at least %g, or leave it unset to poll once a scrape"
                                 % (name, poll, scrape_interval_seconds, name, scrape_interval_seconds), name)
        return {"poll": float(poll), "source": "setting"}
    if scrape_interval_seconds:
        return {"poll": float(scrape_interval_seconds), "source": "scrape_interval"}
    return {"poll": FALLBACK_POLL, "source": "fallback"}


def count_queries(provider, variables):
    """``{"requests": expr, "failed": expr}``: the canary's request counters (the provider's label set, values escaped).

    ``variables``: the template variables of the metric checks (checks.template_variables: namespace, target, ...)."""
    try:
        templates = providers.count_templates(provider)
    except KeyError as exc:
        raise FastAbortError(str(exc.args[0]), "rollout_analysis.provider")
    try:
        return dict((key, render(template, variables)) for key, template in templates.items())
    except TemplateError as exc:
        raise FastAbortError("cannot render the fast abort's queries: %s" % exc, "rollout_analysis.fast_abort")


def sample_sum(result):
    """The sum of an instant query's vector (a Prometheus ``QueryResult``-like ``result_type``/``result``); 0 without series."""
    if result.result_type == "scalar":
        return float(result.result[1])
    if result.result_type != "vector":
        raise FastAbortError("the counter query answered a %s, not a vector" % (result.result_type,), "query")
    return sum(float(sample["value"][1]) for sample in result.result)


def interval_counts(before, after):
    """``(requests, failed)`` in the interval from the counters at its start (``before``) and now (``after``), both
    ``{"requests", "failed"}``; a counter reset (a restarted canary) counts from 0."""
    counts = {}
    for key in ("requests", "failed"):
        delta = after[key] - before[key]
        counts[key] = int(round(after[key] if delta < 0 else delta))
    return counts["requests"], min(counts["failed"], counts["requests"])


class Probe(object):
    """The fast abort of one wait: ``look()`` reads the canary's counters through ``query(expr, time=None)`` (a
    PrometheusClient's), tests them and answers decide()'s dict plus ``requests``, ``failed`` and ``seconds`` (into the
    interval). The counters at ``started`` (Unix time) are read once, at the first look. ``every``: seconds between looks;
    ``errors``: the exception classes of ``query`` that mean "no counts this time" (the watch goes on)."""

    def __init__(self, query, queries, test, started, every, expected_requests=None, wall_clock=time.time, errors=()):
        self.errors = tuple(errors) + (FastAbortError,)
        self.query, self.queries, self.test, self.started = query, queries, test, float(started)
        self.every, self.expected_requests, self.wall_clock = float(every), expected_requests, wall_clock
        self.baseline = None
        self.looks = 0

    def _counters(self, at=None):
        return dict((key, sample_sum(self.query(expr, time=at) if at is not None else self.query(expr)))
                    for key, expr in self.queries.items())

    def look(self):
        if self.baseline is None:
            self.baseline = self._counters(self.started)
        requests, failed = interval_counts(self.baseline, self._counters())
        self.looks += 1
        answer = decide(self.test, requests, failed, self.expected_requests)
        answer.update(requests=requests, failed=failed, seconds=round(self.wall_clock() - self.started, 3), looks=self.looks,
                      llr=None if answer["llr"] is None else round(answer["llr"], 3))
        return answer
