"""Our pure-Python Mann-Whitney U test against SciPy (a test dependency only) on many seeded random samples.

SciPy's ``mannwhitneyu(x, y, alternative=..., method=..., use_continuity=True)`` is the reference:
U (of the first sample) and the p-value must agree to 1e-9 for every alternative, with and without
ties, for the exact and the asymptotic method and for ``auto``'s choice between them.
"""

import random

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils.analysis import compare

scipy_stats = pytest.importorskip("scipy.stats")

TOLERANCE = 1e-9
ALTERNATIVES = ("two-sided", "greater", "less")


def continuous(rng, n, shift=0.0):
    return [rng.gauss(100.0 + shift, 10.0) for _draw in range(n)]


def tied(rng, n, shift=0):
    # Few distinct values: many ties, as rounded latencies or rates give.
    return [float(rng.randint(0, 6) + shift) for _draw in range(n)]


def cases(seed, count, sizes, generator):
    rng = random.Random(seed)
    for _draw in range(count):
        n1, n2 = rng.randint(*sizes), rng.randint(*sizes)
        shift = rng.choice([0, 0, 1, 3])
        yield generator(rng, n1), generator(rng, n2, shift)


def assert_matches(x, y, alternative, method="auto"):
    ours = compare.mann_whitney_u(x, y, alternative=alternative, method=method)
    theirs = scipy_stats.mannwhitneyu(x, y, alternative=alternative, method=method, use_continuity=True)
    assert abs(ours.u - float(theirs.statistic)) <= TOLERANCE, (x, y, alternative, ours, theirs)
    assert abs(ours.p_value - float(theirs.pvalue)) <= TOLERANCE, (x, y, alternative, ours, theirs)
    if theirs.pvalue > 1e-6:
        assert ours.p_value == pytest.approx(float(theirs.pvalue), rel=1e-9, abs=0)
    return ours


@pytest.mark.parametrize("alternative", ALTERNATIVES)
def test_auto_small_samples_without_ties_are_exact(alternative):
    methods = set()
    for x, y in cases(1, 400, (1, 12), continuous):
        methods.add(assert_matches(x, y, alternative).method)
    assert methods == {"exact", "asymptotic"}


@pytest.mark.parametrize("alternative", ALTERNATIVES)
def test_auto_with_ties_is_asymptotic_with_tie_correction(alternative):
    for x, y in cases(2, 400, (1, 40), tied):
        result = assert_matches(x, y, alternative)
        if len(set(x + y)) < len(x + y):
            assert result.method == "asymptotic"


@pytest.mark.parametrize("alternative", ALTERNATIVES)
def test_auto_large_samples(alternative):
    for x, y in cases(3, 150, (9, 200), continuous):
        assert assert_matches(x, y, alternative).method == "asymptotic"


@pytest.mark.parametrize("alternative", ALTERNATIVES)
@pytest.mark.parametrize("method", ["exact", "asymptotic"])
def test_each_method_forced(alternative, method):
    for x, y in cases(4, 200, (1, 20), continuous):
        assert assert_matches(x, y, alternative, method).method == method


@pytest.mark.parametrize("alternative", ALTERNATIVES)
def test_exact_one_small_side_against_a_long_one(alternative):
    rng = random.Random(5)
    for _draw in range(60):
        x, y = continuous(rng, rng.randint(1, 8)), continuous(rng, rng.randint(50, 300), rng.choice([0, 5]))
        assert assert_matches(x, y, alternative).method == "exact"
        assert assert_matches(y, x, alternative).method == "exact"


@pytest.mark.parametrize("alternative", ALTERNATIVES)
def test_degenerate_samples(alternative):
    # All values equal (zero variance), one value each, complete separation.
    for x, y in (([1.0] * 10, [1.0] * 12), ([3.0], [4.0]), ([1.0, 2.0, 3.0], [10.0, 11.0, 12.0]),
                 ([5.0] * 20, [6.0] * 20), (list(range(30)), list(range(100, 130))), ([2.0, 2.0], [2.0, 3.0])):
        assert_matches([float(v) for v in x], [float(v) for v in y], alternative)


def test_mixed_ties_and_real_values_against_scipy_many_seeds():
    rng = random.Random(6)
    for _draw in range(300):
        n1, n2 = rng.randint(2, 60), rng.randint(2, 60)
        pool = [round(rng.gauss(50, 5), 1) for _draw in range(rng.randint(3, 80))]
        x = [rng.choice(pool) for _draw in range(n1)]
        y = [rng.choice(pool) + rng.choice([0.0, 0.0, 0.5]) for _draw in range(n2)]
        for alternative in ALTERNATIVES:
            assert_matches(x, y, alternative)
