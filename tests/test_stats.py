"""Statistics with known answers: t intervals, the tests the verdicts rest on (t, sign-flip
where values tie, the box of step counts on an evaluation grid, exact binomial and exact
unconditional tests of fractions), the evidence that decides a band, verdict boundaries."""
import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from mlpstudy.stats import (CONTRADICTED, INCONCLUSIVE, SUPPORTED, T_MARGIN, Band, BinomialTest,
                            BoxMeanTest, MeanTest, ProportionDifferenceTest, TwoWayMeanTest,
                            describe, evidence, t_quantile, verdict)

pytestmark = pytest.mark.unit


def test_t_quantiles_match_tables():
    # Student t 0.975 quantiles from any printed table.
    assert t_quantile(1) == pytest.approx(12.7062, abs=1e-4)
    assert t_quantile(4) == pytest.approx(2.7764, abs=1e-4)
    assert t_quantile(1e9) == pytest.approx(1.95996, abs=1e-4)


def test_describe_gives_mean_sample_std_and_t_interval():
    est = describe([1.0, 2.0, 3.0, 4.0, 5.0])
    assert est.n == 5 and est.mean == 3.0
    assert est.std == pytest.approx(math.sqrt(2.5))  # ddof=1
    half = 2.7764451 * math.sqrt(2.5) / math.sqrt(5)
    assert est.ci_low == pytest.approx(3 - half) and est.ci_high == pytest.approx(3 + half)


def test_describe_ignores_nan_and_has_no_interval_for_one_value():
    est = describe([0.5, float("nan")])
    assert est.n == 1 and est.mean == 0.5 and math.isnan(est.ci_low) and math.isnan(est.std)
    assert describe([]).n == 0


def test_the_mean_test_is_students_t_at_half_its_error_rate():
    values = [0.9, 1.4, 1.1, 1.6, 1.2]
    test = MeanTest(values)
    reference = scipy_stats.ttest_1samp(values, 0.5, alternative="greater").pvalue
    assert test.p_above(0.5) == pytest.approx(T_MARGIN * reference)
    assert test.p_below(2.0) == pytest.approx(
        T_MARGIN * scipy_stats.ttest_1samp(values, 2.0, alternative="less").pvalue)
    assert test.p_below(0.5) == 1.0  # doubled, capped
    low, high = test.interval(0.95)
    est = describe(values, 1 - 0.05 / T_MARGIN)
    assert (low, high) == pytest.approx((est.ci_low, est.ci_high))
    assert "t over 5 seeds" in test.method


def test_values_without_spread_decide_only_as_far_as_a_sign_flip_test_can():
    """Five seeds that all give the same value: t would say p = 0 at any level; the exact
    sign-flip test gives 2^-5 a side, so the value is shown at 90% but not at 99%."""
    test = MeanTest([2.0] * 5)
    assert test.p_above(1.0) == 2 ** -5 and test.p_below(3.0) == 2 ** -5
    assert test.p_above(2.0) == 1.0 and test.p_above(3.0) == 1.0
    assert test.interval(0.9) == (2.0, 2.0)
    assert test.interval(0.99) == (-math.inf, math.inf)
    p, said = evidence(test, Band(1.5, 2.5))
    assert (p, said) == (2 * 2 ** -5, SUPPORTED)
    assert "no spread" in test.method


def test_the_evidence_is_where_the_interval_just_decides():
    test = MeanTest([0.9, 1.4, 1.1, 1.6, 1.2])
    claim_band = Band(0.5, low_open=True)
    p, said = evidence(test, claim_band)
    assert said == SUPPORTED and 0 < p < 0.05
    for factor, expected in ((0.999, INCONCLUSIVE), (1.001, SUPPORTED)):
        low, high = test.interval(1 - p * factor)
        assert verdict(low, high, claim_band) == expected
    p_out, said_out = evidence(test, Band(2.0, 3.0))  # the interval misses [2, 3] below
    assert said_out == CONTRADICTED and 0 < p_out < 0.05
    assert test.interval(1 - p_out * 1.001)[1] < 2.0 <= test.interval(1 - p_out * 0.999)[1]


def test_a_step_count_box_is_the_least_decisive_t_test_over_it():
    """Per-seed differences known to within [d - 20, d + 20]: the interval is the widest of
    the t intervals over every set of values the boxes allow (checked by brute force over all
    corners), and its p-values the largest where they can decide anything (below 1/2)."""
    rng = np.random.default_rng(3)
    observed = [20.0, 40.0, 0.0, 20.0, 60.0, 40.0]
    test = BoxMeanTest(observed, [20.0] * 6, [20.0] * 6)
    corners = np.array(np.meshgrid(*[[d - 20, d + 20] for d in observed])).reshape(6, -1).T
    lows = [describe(c, 1 - 0.01 / T_MARGIN).ci_low for c in corners]
    highs = [describe(c, 1 - 0.01 / T_MARGIN).ci_high for c in corners]
    assert test.interval(0.99) == pytest.approx((min(lows), max(highs)))
    for x in rng.uniform(-40, 80, 8):
        for side in ("p_above", "p_below"):
            largest = max(getattr(MeanTest(c), side)(x) for c in corners)
            if largest < 0.5:
                assert getattr(test, side)(x) == pytest.approx(largest)
    assert test.estimate == pytest.approx(np.mean(observed))


def test_tied_step_counts_never_decide_by_themselves():
    """Every seed's difference is 0 on a 20-step grid: the true difference may be anything
    within a grid interval, so neither "slower" nor "not slower" is ever shown, and no number
    of seeds changes that."""
    test = BoxMeanTest([0.0] * 20, [20.0] * 20, [20.0] * 20)
    assert evidence(test, Band(0, low_open=True)) == (1.0, INCONCLUSIVE)
    low, high = test.interval(0.95)
    assert low <= -20 and high >= 20
    assert test.seeds_to_decide(Band(0, low_open=True), 0.001) == math.inf
    # 40 steps slower on every seed is beyond the grid's doubt
    slower = BoxMeanTest([40.0, 40.0, 60.0, 40.0, 40.0, 60.0], [20.0] * 6, [20.0] * 6)
    assert evidence(slower, Band(0, low_open=True))[1] == SUPPORTED


def test_exact_binomial_intervals_are_clopper_pearson():
    test = BinomialTest(0, 10)
    assert test.interval(0.95) == pytest.approx((0.0, 1 - 0.025 ** 0.1))
    low, high = BinomialTest(3, 5).interval(0.95)
    assert BinomialTest(3, 5).p_above(low) == pytest.approx(0.025)
    assert BinomialTest(3, 5).p_below(high) == pytest.approx(0.025)
    assert (low, high) == pytest.approx((0.1466, 0.9473), abs=1e-4)  # published tables


def test_the_exact_unconditional_test_of_two_fractions():
    # 5/5 against 0/5: the most extreme table; its probability is largest at a common rate of
    # one half: 2^-10.
    test = ProportionDifferenceTest(5, 5, 0, 5)
    assert test.p_above(0.0) == pytest.approx(2 ** -10)
    assert evidence(test, Band(0, low_open=True)) == (pytest.approx(2 ** -9), SUPPORTED)
    # Its interval holds every difference neither side rejects: inside (-1, 1), containing
    # the estimate, and each end where the one-sided p crosses 2.5%.
    low, high = ProportionDifferenceTest(56, 70, 48, 80).interval(0.95)
    assert 0.0 < low < 0.2 < high < 0.4
    assert ProportionDifferenceTest(56, 70, 48, 80).p_above(low) == pytest.approx(0.025, abs=1e-3)


@pytest.mark.parametrize("rate", [0.5, 0.3])
def test_the_exact_unconditional_test_keeps_its_level_at_any_common_rate(rate):
    """Both arms at the same rate (the edge of "diverges more"), 10 seeds each: the chance
    that the test says "more" at 1% is at most 1%, computed exactly over every table."""
    pmf = scipy_stats.binom.pmf(np.arange(11), 10, rate)
    rejects = sum(pmf[k1] * pmf[k2] for k1 in range(11) for k2 in range(11)
                  if ProportionDifferenceTest(k1, 10, k2, 10).p_above(0.0) <= 0.01)
    assert 0 < rejects <= 0.01


@pytest.mark.parametrize("low, high, band, expected", [
    # about 2 +- 1: inside, touching the closed edges, straddling, outside
    (1.5, 2.5, Band(1, 3), SUPPORTED),
    (1.0, 3.0, Band(1, 3), SUPPORTED),
    (0.5, 2.5, Band(1, 3), INCONCLUSIVE),
    (3.0001, 4, Band(1, 3), CONTRADICTED),
    (-1, 0.99, Band(1, 3), CONTRADICTED),
    # greater than 0 (open): an interval starting exactly at 0 is not inside
    (0.1, 0.5, Band(low=0, low_open=True), SUPPORTED),
    (0.0, 0.5, Band(low=0, low_open=True), INCONCLUSIVE),
    (-0.5, 0.0, Band(low=0, low_open=True), CONTRADICTED),
    (-0.5, -0.1, Band(low=0, low_open=True), CONTRADICTED),
    # at most 0.5
    (-3, 0.5, Band(high=0.5), SUPPORTED),
    (0.4, 0.6, Band(high=0.5), INCONCLUSIVE),
    (0.6, 2, Band(high=0.5), CONTRADICTED),
    # exact values (parameter counts): a point interval
    (203530, 203530, Band(199434, 199434), CONTRADICTED),
    (9550, 9550, Band(9550, 9550), SUPPORTED),
    # no interval at all
    (math.nan, math.nan, Band(1, 3), INCONCLUSIVE),
])
def test_verdict_boundaries(low, high, band, expected):
    assert verdict(low, high, band) == expected


def test_seeds_to_decide_follow_the_spread():
    test = MeanTest([1.0, 1.5, 0.5, 1.2, 0.8])  # mean 1, sd 0.39
    n = test.seeds_to_decide(Band(0.5, 1.5), 0.001)  # room 0.5 on either side
    level = 1 - 0.001 / T_MARGIN
    assert 5 < n < 40
    assert t_quantile(n - 1, level) * test.sd / math.sqrt(n) < 0.5
    assert t_quantile(n - 2, level) * test.sd / math.sqrt(n - 1) >= 0.5 * 0.95
    assert test.seeds_to_decide(Band(1.0, 2.0), 0.001) == math.inf  # on the edge


def _coverage(one_arm: bool, seeds: int, level: float, studies: int = 1000):
    """Coverage of the true population value by the seeds-and-examples interval and by the
    seeds-only one, over studies that draw both the seeds and the 1,000 test examples: each
    example has its own difficulty (and, between two ablations, its own difference), each
    seed shifts a model's logits, each run gets each example right at random."""
    from scipy.special import expit
    rng = np.random.default_rng(11)
    difficulty = rng.normal(2.0, 1.5, 50_000)
    gain = rng.normal(0.05, 0.6, 50_000)
    nodes, weights = np.polynomial.hermite_e.hermegauss(40)
    weights = weights / weights.sum()

    def expected(logit):  # over the seed's shift, N(0, 0.1)
        return (expit(logit[:, None] + 0.1 * nodes[None, :]) * weights).sum(axis=1)

    truth = float((expected(difficulty + gain) - (0 if one_arm else expected(difficulty))).mean())
    both = alone = 0
    for _ in range(studies):
        pick = rng.integers(0, len(difficulty), 1000)
        shifts = rng.normal(0.0, 0.1, (2, seeds, 1))
        right = rng.random((seeds, 1000)) < expit(difficulty[pick] + gain[pick] + shifts[0])
        table = right.astype(float)
        if not one_arm:
            table -= rng.random((seeds, 1000)) < expit(difficulty[pick] + shifts[1])
        low, high = TwoWayMeanTest(table).interval(level)
        both += low <= truth <= high
        low, high = MeanTest(table.mean(axis=1)).interval(level)
        alone += low <= truth <= high
    return both / studies, alone / studies


@pytest.mark.parametrize("one_arm", [True, False], ids=["an accuracy", "a paired difference"])
def test_intervals_over_seeds_and_test_examples_cover_at_their_level(one_arm):
    """With seeds and test examples both drawn at random, the two-way interval covers the
    population's value at least as often as its level; an accuracy's seeds-only interval does
    not once there are enough seeds (it takes the 1,000 test examples as the population)."""
    margin = 3 * math.sqrt(0.05 * 0.95 / 1000)
    for seeds, level in ((5, 0.95), (20, 0.95), (20, 0.99)):
        both, alone = _coverage(one_arm, seeds, level)
        print(f"\n{'accuracy' if one_arm else 'paired difference'}, {seeds} seeds, "
              f"{level:.0%} interval: covers {both:.3f} with the test examples, {alone:.3f} "
              "with the seeds alone")
        assert both >= level - margin
        if one_arm and seeds == 20:
            assert alone < level - 0.1


def test_the_two_way_variance_is_the_anova_estimate():
    rng = np.random.default_rng(2)
    table = rng.normal(0, 1, (4, 50)) + rng.normal(0, 1, (4, 1)) + rng.normal(0, 0.5, (1, 50))
    test = TwoWayMeanTest(table)
    seeds, examples = table.mean(axis=1), table.mean(axis=0)
    ms_a, ms_b = 50 * seeds.var(ddof=1), 4 * examples.var(ddof=1)
    resid = table - seeds[:, None] - examples[None, :] + table.mean()
    ms_e = (resid ** 2).sum() / (3 * 49)
    assert test.se ** 2 == pytest.approx(max(ms_a + ms_b - ms_e, ms_a) / 200)
    assert test.estimate == pytest.approx(table.mean())
    same = TwoWayMeanTest(np.ones((5, 30)))
    assert "no spread" in same.method and same.p_above(0.5) == 2 ** -5
