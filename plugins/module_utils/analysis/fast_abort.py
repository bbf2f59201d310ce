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
