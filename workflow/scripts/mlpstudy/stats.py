"""Statistics over seeds: the tests the claims' verdicts rest on, and the t interval of a mean
that the tables show. Every rule about uncertainty lives here (in words: VERDICT_RULES, and
config/README.md "Claims and verdicts").

A claim's verdict compares what the runs say about one quantity (a mean over seeds, a mean
difference, a fraction of seeds) with the band of values the claim allows. Each kind of data
gets a test, given as one-sided p-values for any value x: `p_above(x)` is small when the runs
show the quantity is above x, `p_below(x)` when below. The verdict at error rate a is the
(1 - a) interval's: supported when it lies inside the band, contradicted when outside, which
is p_above(low) and p_below(high) both <= a/2, or either p_below(low) or p_above(high) <= a/2.
The tests, and why each is valid at the small error rates the study uses (after Holm and the
looks, a claim is tested at 1e-4 to 5e-3):

- MeanTest: a mean over seeds, or a mean of per-seed differences (pairs of runs with the same
  seed share their batch order and, where shapes match, their initial weights). Student's t,
  exact for normal values, with its p-values doubled (T_MARGIN) so that skewed seeds (a bad
  seed now and then) do not push it over its level. When every value is the same (two
  ablations equal run for run) t would decide at any level on a zero-width interval; instead
  the exact sign-flip test applies, whose smallest p is 2^-n per side: n seeds that all agree
  are as strong as n coins all landing the same way, and no stronger.
- BoxMeanTest: a mean of values each known only to an interval, such as a step count, which
  an evaluation every `eval_every` steps finds up to one interval late. The test is the least
  decisive t test over every set of values the intervals allow, so it is valid whatever the
  true values inside them; ties on the evaluation grid cannot make it decide by themselves,
  and an effect smaller than the grid cannot be decided at any number of seeds.
- BinomialTest / ProportionDifferenceTest: fractions of seeds (k of n diverged). Exact
  binomial (Clopper-Pearson) for one; for a difference of two, the exact unconditional test
  (the tail probability of a score statistic, at its largest over the unknown common rate):
  exact for any rates, 50% included, where score intervals (Newcombe) are not.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
# scipy.special's ufuncs: the distributions without scipy.stats' per-call overhead (the
# repeated-looks simulations call them hundreds of thousands of times).
from scipy.special import bdtr, bdtrc, bdtri, ndtri, stdtr, stdtrit

LEVEL = 0.95
SUPPORTED, CONTRADICTED, INCONCLUSIVE, NO_DATA = "supported", "contradicted", "inconclusive", "no data"


@dataclass(frozen=True)
class Estimate:
    """A mean with its interval (95% unless asked otherwise): what the tables show."""
    n: int
    mean: float
    std: float
    ci_low: float
    ci_high: float
    method: str = ""


def t_quantile(df: float, level: float = LEVEL) -> float:
    return float(stdtrit(df, 0.5 + level / 2))


def _finite(values) -> np.ndarray:
    arr = np.asarray(list(values), dtype=float)
    return arr[np.isfinite(arr)]


def describe(values, level: float = LEVEL) -> Estimate:
    """Mean, sample std and t interval of the finite `values` (the tables' summaries)."""
    arr = _finite(values)
    n = len(arr)
    if n == 0:
        return Estimate(0, math.nan, math.nan, math.nan, math.nan, "no values")
    mean = float(arr.mean())
    if n == 1:
        return Estimate(1, mean, math.nan, math.nan, math.nan, "one value: no interval")
    std = float(arr.std(ddof=1))
    half = t_quantile(n - 1, level) * std / math.sqrt(n)
    return Estimate(n, mean, std, mean - half, mean + half, f"t interval, n={n}")


@dataclass(frozen=True)
class Band:
    """The values a claim allows: an interval, each end open or closed, possibly infinite."""
    low: float = -math.inf
    high: float = math.inf
    low_open: bool = False
    high_open: bool = False

    def text(self, fmt=lambda v: f"{v:g}") -> str:
        if self.low == self.high:
            return f"= {fmt(self.low)}"
        if self.low == -math.inf:
            return f"{'<' if self.high_open else '<='} {fmt(self.high)}"
        if self.high == math.inf:
            return f"{'>' if self.low_open else '>='} {fmt(self.low)}"
        return f"between {fmt(self.low)} and {fmt(self.high)}"


def verdict(ci_low: float, ci_high: float, band: Band) -> str:
    """supported if [ci_low, ci_high] lies inside `band`, contradicted if it misses it entirely
    (exact values, such as parameter counts, are a point interval)."""
    if math.isnan(ci_low) or math.isnan(ci_high):
        return INCONCLUSIVE
    above_low = ci_low > band.low or (not band.low_open and ci_low == band.low)
    below_high = ci_high < band.high or (not band.high_open and ci_high == band.high)
    if above_low and below_high:
        return SUPPORTED
    misses_low = ci_high < band.low or (band.low_open and ci_high == band.low)
    misses_high = ci_low > band.high or (band.high_open and ci_low == band.high)
    if misses_low or misses_high:
        return CONTRADICTED
    return INCONCLUSIVE


class Test:
    """What the runs say about one quantity: `estimate` over `n` seeds, one-sided p-values for
    any value, the two-sided interval at a level, and how many seeds would decide a band."""
    estimate: float = math.nan
    n: int = 0
    method: str = ""
    # why no number of seeds would decide a claim whose seeds_to_decide is inf
    undecidable: str = "no number of seeds decides it at this spread"

    def p_above(self, x: float) -> float:
        raise NotImplementedError

    def p_below(self, x: float) -> float:
        raise NotImplementedError

    def interval(self, level: float = LEVEL) -> tuple[float, float]:
        raise NotImplementedError

    def seeds_to_decide(self, band: Band, alpha: float, hope: float = 0.0) -> float:
        """About how many seeds (per side) the interval at error rate `alpha` would need to
        decide `band` if the spread stayed as it is and the estimate too, or moved `hope`
        standard errors away from the edge it hinges on; inf: no number would."""
        raise NotImplementedError


def evidence(test: Test, band: Band) -> tuple[float, str]:
    """(p, verdict): the smallest error rate at which `test`'s interval decides `band`, and
    the verdict then; (1, inconclusive) when none does."""
    def above(x):
        return 0.0 if x == -math.inf else 1.0 if x == math.inf else test.p_above(x)

    def below(x):
        return 0.0 if x == math.inf else 1.0 if x == -math.inf else test.p_below(x)

    p_in = min(1.0, 2 * max(above(band.low), below(band.high)))
    p_out = min(1.0, 2 * min(below(band.low), above(band.high)))
    if min(p_in, p_out) >= 1.0:
        return 1.0, INCONCLUSIVE
    return (p_in, SUPPORTED) if p_in <= p_out else (p_out, CONTRADICTED)


def distance_to_decide(estimate: float, band: Band) -> float:
    """How far the estimate is from the band edge its verdict hinges on: the nearer edge when
    inside (supported needs both), the band when outside (contradicted needs either)."""
    if band.low <= estimate <= band.high:
        return min(estimate - band.low, band.high - estimate)
    return band.low - estimate if estimate < band.low else estimate - band.high


# --- means over seeds -------------------------------------------------------------------------

# Student's t is exact for normal values; a seed that goes badly (a tenth of the seeds 3 sd
# low, say) skews them, and at the error rates the looks use (1e-4 to 5e-3) a t test is then
# wrong 2-4x as often as its level in the tail the skew favours (simulated: 4.5x at 5e-4 one-
# sided with 20 seeds). So t's p-values are doubled (its intervals taken at half the error
# rate): over four looks, three such skewed claims on their edges are then wrong together 3.9%
# of the time, not 6.4% (tests/test_family_looks.py; config/README.md, The test of a mean).
T_MARGIN = 2.0


def _flat(mean, se):
    return se <= 1e-12 * np.maximum(1.0, np.abs(mean))


def _t_p(mean, se, df, n: int, x: float, sign: int):
    """One-sided p that the mean is above (sign +1) or below (-1) x: Student's t with `df`
    degrees of freedom and standard error `se` (times T_MARGIN), or where there is no spread
    at all (every one of the n seeds equal) the exact sign-flip test: p = 2^-n on the side
    they lie, 1 otherwise. Vectorised over mean and se."""
    mean, se = np.asarray(mean, dtype=float), np.asarray(se, dtype=float)
    shift = sign * (mean - x)
    flat = _flat(mean, se)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(flat, 0.0, shift / np.where(flat, 1.0, se))
    return np.where(flat, np.where(shift > 0, 0.5 ** n, 1.0),
                    np.minimum(1.0, T_MARGIN * stdtr(df, -t)))


def _t_interval(mean, se, df, n: int, level: float):
    """(low, high) of the t interval (at the error rate divided by T_MARGIN), or without any
    spread the sign-flip interval: the common value once 2^-n per side is within the error
    rate, else unbounded."""
    mean, se = np.asarray(mean, dtype=float), np.asarray(se, dtype=float)
    half = t_quantile(df, 1 - (1 - level) / T_MARGIN) * se
    if (1 - level) / 2 < 0.5 ** n:
        half = np.where(_flat(mean, se), math.inf, half)
    return mean - half, mean + half


def _seeds_for_t(spread: float, room: float, alpha: float) -> float:
    """The smallest n whose t interval at `alpha` (half-width t(n-1) * spread / sqrt(n)) fits
    in `room` (about: n grows by a tenth at a time from the normal's answer), or, without
    spread, whose sign-flip test (2^-n a side) gets there."""
    if room <= 0:
        return math.inf
    if spread <= 0:
        return float(max(2, math.ceil(math.log2(2 / alpha))))
    alpha /= T_MARGIN
    n = max(2, math.ceil((float(ndtri(1 - alpha / 2)) * spread / room) ** 2))
    while n <= 1_000_000:
        if t_quantile(n - 1, 1 - alpha) * spread / math.sqrt(n) < room:
            return float(n)
        n += max(1, n // 10)
    return math.inf


class MeanTest(Test):
    """The mean of `values` (one per seed; per-seed differences for a paired comparison)."""

    def __init__(self, values, method: str = "t"):
        arr = _finite(values)
        self.n = len(arr)
        self.estimate = float(arr.mean()) if self.n else math.nan
        self.sd = float(arr.std(ddof=1)) if self.n >= 2 else math.nan
        self.se = self.sd / math.sqrt(self.n) if self.n >= 2 else math.nan
        self.flat = self.n >= 2 and bool(_flat(self.estimate, self.se))
        self.method = (f"{method} over {self.n} seeds" if not self.flat else
                       f"no spread (all {self.n} seeds give {self.estimate:g}): exact "
                       f"sign-flip test, p >= 2^-{self.n} a side")

    def p_above(self, x):
        return 1.0 if self.n < 2 else float(_t_p(self.estimate, self.se, self.n - 1, self.n,
                                                 x, +1))

    def p_below(self, x):
        return 1.0 if self.n < 2 else float(_t_p(self.estimate, self.se, self.n - 1, self.n,
                                                 x, -1))

    def interval(self, level=LEVEL):
        if self.n < 2:
            return math.nan, math.nan
        low, high = _t_interval(self.estimate, self.se, self.n - 1, self.n, level)
        return float(low), float(high)

    def seeds_to_decide(self, band, alpha, hope=0.0):
        if self.n < 2:
            return math.inf
        spread = 0.0 if self.flat else self.sd
        room = distance_to_decide(self.estimate, band) + hope * spread / math.sqrt(self.n)
        return _seeds_for_t(spread, room, alpha)


class BoxMeanTest(Test):
    """The mean of values each known only to an interval: seed i's value lies in
    [observed_i - below_i, observed_i + above_i] (a step count found by an evaluation up to
    one evaluation interval after the accuracy got there). `estimate` is the mean of the
    observed values; the p-values and intervals are the least decisive of the t tests over
    every set of values the intervals allow.

    Why only n + 1 candidates: each interval is widened to the widest one's width (a larger
    box only makes the test more cautious); then a t interval's lower end, mean - c * sd,
    is concave in the values and so is lowest at a corner of the box, and among the corners
    with k values at their upper ends (all with the same mean) the spread is largest when
    those are the k largest. The same corners give the largest p-values wherever those are
    below 1/2, the only ones that can decide anything."""

    undecidable = "undecidable at this resolution"

    def __init__(self, observed, below, above, method: str = "t"):
        observed, below, above = (np.asarray(list(v), dtype=float) for v in (observed, below, above))
        self.n = len(observed)
        self.estimate = float(observed.mean()) if self.n else math.nan
        self.width = float((below + above).max()) if self.n else 0.0
        self.observed_sd = float(observed.std(ddof=1)) if self.n >= 2 else math.nan
        lows = np.sort(observed - below)
        ups = np.arange(self.n + 1)[:, None] > np.arange(self.n)[::-1][None, :]  # top k up
        corners = lows[None, :] + self.width * ups
        self.means = corners.mean(axis=1)
        sds = corners.std(axis=1, ddof=1) if self.n >= 2 else np.full(self.n + 1, np.nan)
        self.ses = sds / math.sqrt(max(self.n, 1))
        self.method = (f"{method} over {self.n} seeds, each value known to within "
                       f"{self.width:g} (the evaluation grid)")

    def p_above(self, x):
        return 1.0 if self.n < 2 else float(_t_p(self.means, self.ses, self.n - 1, self.n,
                                                 x, +1).max())

    def p_below(self, x):
        return 1.0 if self.n < 2 else float(_t_p(self.means, self.ses, self.n - 1, self.n,
                                                 x, -1).max())

    def interval(self, level=LEVEL):
        if self.n < 2:
            return math.nan, math.nan
        low, high = _t_interval(self.means, self.ses, self.n - 1, self.n, level)
        return float(low.min()), float(high.max())

    def seeds_to_decide(self, band, alpha, hope=0.0):
        # The box keeps the interval at least `width` wide around the observed mean whatever
        # the seeds: only the room beyond it can be won.
        if self.n < 2:
            return math.inf
        room = (distance_to_decide(self.estimate, band) - self.width
                + hope * self.observed_sd / math.sqrt(self.n))
        return _seeds_for_t(self.observed_sd, room, alpha)


class TwoWayMeanTest(Test):
    """The mean of `values`, a seeds x test-examples table (per-example correctness of each
    run, or its difference between two ablations on the same examples), with both seeds and
    test examples drawn at random: the claim is about the population of examples, of which
    the test set is a sample. Crossed random effects, value = mean + seed + example +
    interaction; the variance of the grand mean is (MS_seeds + MS_examples - MS_residual) /
    (seeds x examples) from the two-way ANOVA (never below the seeds' part alone), with
    Satterthwaite's degrees of freedom; then t as in MeanTest (T_MARGIN, and the sign-flip
    test where nothing varies)."""

    def __init__(self, values, method: str = "t"):
        table = np.asarray(values, dtype=float)
        self.n, self.examples = table.shape
        self.estimate = float(table.mean()) if table.size else math.nan
        self.undecidable = f"no number of seeds decides it with {self.examples:,} test examples"
        if self.n < 2 or self.examples < 2:
            self.se, self.df, self.flat = math.nan, math.nan, False
            self.method = f"{method} over {self.n} seeds and {self.examples:,} test examples"
            return
        seeds, examples = table.mean(axis=1), table.mean(axis=0)
        ms_seeds = self.examples * seeds.var(ddof=1)
        ms_examples = self.n * examples.var(ddof=1)
        residual = table - seeds[:, None] - examples[None, :] + self.estimate
        ms_residual = float((residual ** 2).sum()) / ((self.n - 1) * (self.examples - 1))
        cells = self.n * self.examples
        # the variance components, each at least 0: seeds, examples, their interaction
        self.components = (max(ms_seeds - ms_residual, 0.0) / self.examples,
                           max(ms_examples - ms_residual, 0.0) / self.n, ms_residual)
        combined = ms_seeds + ms_examples - ms_residual
        if combined <= ms_seeds:  # never narrower than the seeds alone say
            self.se, self.df = math.sqrt(ms_seeds / cells), self.n - 1.0
        else:
            self.se = math.sqrt(combined / cells)
            self.df = combined ** 2 / (ms_seeds ** 2 / (self.n - 1)
                                       + ms_examples ** 2 / (self.examples - 1)
                                       + ms_residual ** 2 / ((self.n - 1) * (self.examples - 1)))
        self.flat = bool(_flat(self.estimate, self.se))
        self.method = (f"{method} over {self.n} seeds and {self.examples:,} test examples "
                       f"(df {self.df:.1f})" if not self.flat else
                       f"no spread (all {self.n} seeds give {self.estimate:g} on every "
                       f"example): exact sign-flip test, p >= 2^-{self.n} a side")

    def p_above(self, x):
        return 1.0 if math.isnan(self.se) else float(_t_p(self.estimate, self.se, self.df,
                                                          self.n, x, +1))

    def p_below(self, x):
        return 1.0 if math.isnan(self.se) else float(_t_p(self.estimate, self.se, self.df,
                                                          self.n, x, -1))

    def interval(self, level=LEVEL):
        if math.isnan(self.se):
            return math.nan, math.nan
        low, high = _t_interval(self.estimate, self.se, self.df, self.n, level)
        return float(low), float(high)

    def seeds_to_decide(self, band, alpha, hope=0.0):
        if math.isnan(self.se):
            return math.inf
        if self.flat:
            return _seeds_for_t(0.0, distance_to_decide(self.estimate, band), alpha)
        seeds, examples, interaction = self.components
        room = distance_to_decide(self.estimate, band) + hope * self.se
        # what the test examples leave however many seeds: their part of the variance
        room -= float(ndtri(1 - alpha / T_MARGIN / 2)) * math.sqrt(examples / self.examples)
        return _seeds_for_t(math.sqrt(seeds + interaction / self.examples), room, alpha)


# --- fractions of seeds ---------------------------------------------------------------------

class BinomialTest(Test):
    """A fraction k/n (of seeds that diverged): the exact binomial test, Clopper-Pearson."""

    def __init__(self, k: int, n: int):
        self.k, self.n = int(k), int(n)
        self.estimate = self.k / self.n if self.n else math.nan
        self.method = f"exact binomial (Clopper-Pearson), {self.k}/{self.n}"

    def p_above(self, x):  # P(K >= k) at rate x
        if x < 0:
            return 0.0
        return 1.0 if x >= 1 or self.k == 0 else float(bdtrc(self.k - 1, self.n, x))

    def p_below(self, x):  # P(K <= k) at rate x
        if x > 1:
            return 0.0
        return 1.0 if x <= 0 or self.k == self.n else float(bdtr(self.k, self.n, x))

    def interval(self, level=LEVEL):
        tail = (1 - level) / 2
        # bdtri(j, n, y): the rate at which P(K <= j) = y
        low = 0.0 if self.k == 0 else float(bdtri(self.k - 1, self.n, 1 - tail))
        high = 1.0 if self.k == self.n else float(bdtri(self.k, self.n, tail))
        return low, high

    def seeds_to_decide(self, band, alpha, hope=0.0):
        rate = (self.k + 1) / (self.n + 2)  # shrunken by a success and a failure: a spread
        variance = rate * (1 - rate)
        room = distance_to_decide(self.estimate, band) + hope * math.sqrt(variance / self.n)
        return _seeds_for_normal(variance, room, alpha)


def _seeds_for_normal(variance: float, room: float, alpha: float) -> float:
    if room <= 0:
        return math.inf
    z = float(ndtri(1 - alpha / 2))
    return float(max(2, math.ceil(z * z * variance / (room * room))))


class ProportionDifferenceTest(Test):
    """k1/n1 - k2/n2: the exact unconditional test. For a difference x, the p-value is the
    probability, at its largest over the common unknown rate (rates r + x and r), of the
    tables at least as far beyond x as the one observed by a score statistic (Agresti and
    Caffo's: each rate shrunk by one success and one failure, so 0/n and n/n have a spread).
    Exact for any rates; the interval is the set of differences neither side rejects."""

    def __init__(self, k1: int, n1: int, k2: int, n2: int):
        self.k1, self.n1, self.k2, self.n2 = int(k1), int(n1), int(k2), int(n2)
        self.n = min(self.n1, self.n2)
        self.estimate = self.k1 / self.n1 - self.k2 / self.n2
        self.method = f"exact unconditional test, {self.k1}/{self.n1} vs {self.k2}/{self.n2}"

    def p_above(self, x):
        if x <= -1:
            return 0.0
        return 1.0 if x >= 1 else _unconditional_tail(self.k1, self.n1, self.k2, self.n2, x, +1)

    def p_below(self, x):
        if x >= 1:
            return 0.0
        return 1.0 if x <= -1 else _unconditional_tail(self.k1, self.n1, self.k2, self.n2, x, -1)

    def interval(self, level=LEVEL):
        tail = (1 - level) / 2

        def edge(p, inside, outside):  # bisect between a difference kept and one rejected
            for _ in range(40):
                mid = (inside + outside) / 2
                inside, outside = (mid, outside) if p(mid) > tail else (inside, mid)
            return inside

        low = -1.0 if self.p_above(-1 + 1e-9) > tail else edge(self.p_above, self.estimate, -1.0)
        high = 1.0 if self.p_below(1 - 1e-9) > tail else edge(self.p_below, self.estimate, 1.0)
        return low, high

    def seeds_to_decide(self, band, alpha, hope=0.0):
        r1, r2 = (self.k1 + 1) / (self.n1 + 2), (self.k2 + 1) / (self.n2 + 2)
        variance = r1 * (1 - r1) + r2 * (1 - r2)
        room = distance_to_decide(self.estimate, band) + hope * math.sqrt(variance / self.n)
        return _seeds_for_normal(variance, room, alpha)


@lru_cache(maxsize=None)
def _scores(n1: int, n2: int) -> tuple[np.ndarray, np.ndarray]:
    """(difference, standard error) of the shrunken rates, for every table (x1, x2)."""
    r1 = (np.arange(n1 + 1) + 1) / (n1 + 2)
    r2 = (np.arange(n2 + 1) + 1) / (n2 + 2)
    se = np.sqrt((r1 * (1 - r1) / (n1 + 2))[:, None] + (r2 * (1 - r2) / (n2 + 2))[None, :])
    return r1[:, None] - r2[None, :], se


@lru_cache(maxsize=100_000)  # the repeated-looks simulations meet the same tables again
def _unconditional_tail(k1: int, n1: int, k2: int, n2: int, x: float, sign: int) -> float:
    """P(score at least the observed one's, beyond x on the `sign` side), at its largest over
    the common rate: a grid of 201 rates, refined around the largest."""
    # Imported here: scipy.stats takes about 1 s to import, which every process that reads
    # runs through this module (aggregate) would pay, most of them for nothing.
    from scipy.stats import binom

    diff, se = _scores(n1, n2)
    score = sign * (diff - x) / se
    extreme = (score >= score[k1, k2] - 1e-12).astype(float)
    low, high = max(0.0, -x), min(1.0, 1.0 - x)

    def prob(rates):
        p1 = binom.pmf(np.arange(n1 + 1)[None, :], n1, np.clip(rates + x, 0, 1)[:, None])
        p2 = binom.pmf(np.arange(n2 + 1)[None, :], n2, rates[:, None])
        return np.einsum("ri,ij,rj->r", p1, extreme, p2)

    grid = np.linspace(low, high, 201)
    values = prob(grid)
    best = int(values.argmax())
    fine = np.linspace(grid[max(best - 1, 0)], grid[min(best + 1, len(grid) - 1)], 41)
    return float(min(1.0, max(values.max(), prob(fine).max())))


# The rules above in words: the summary page and the claims table's caption show them.
VERDICT_RULES = (
    "Each claim allows a band of values for the measured quantity (ablation minus reference, "
    "mean over seeds; accuracies in percentage points) and is checked on each dataset where "
    "its ablations ran. Its interval comes from a test valid at the small error rates it is "
    "used at: a t test of the per-seed differences, paired on the seeds both ablations "
    "finished (or of the values themselves without a reference); where all seeds agree "
    "exactly, the exact sign-flip test (n seeds give at best p = 2^-n per side); a step count "
    "is known only to one evaluation interval, and a seed that never got there counts as the "
    "run's last step (the mean is over steps within the run); fractions of diverged seeds use "
    "exact binomial tests; parameter counts are exact. Verdict: supported when the whole "
    "interval lies inside the band, contradicted when it lies entirely outside it, "
    "inconclusive when it straddles a band edge, no data when an ablation has no finished "
    "runs. Full rules: config/README.md.")
