"""Statistics over seeds: mean, std, t-based 95% CIs, differences of means, verdicts.

Everything the summary, claims and figures show about uncertainty comes from
here, so the rules are in one place (and written out in config/README.md).

- A mean over n seeds gets the Student t interval mean +- t(0.975, n-1) * s / sqrt(n),
  with s the sample standard deviation (ddof=1). One seed: no interval (NaN).
- A difference of two ablations is *paired by seed* when both have the same seeds
  (at least two): the seed fixes the batch order for every ablation and the initial
  weights whenever the shapes match, so per-seed differences cancel that shared
  noise; the interval is the t interval of the per-seed differences. When the seed
  sets differ (a seed missing or diverged) it falls back to Welch's unequal-variance
  t interval, which assumes nothing about pairing.
- A fraction of seeds (k of n diverged) gets the Wilson score interval; a difference
  of two fractions Newcombe's hybrid score interval built from the two Wilson intervals.
- A verdict compares the interval with the band of values the claim allows:
  inside the band -> supported, disjoint from it -> contradicted, else inconclusive.
  VERDICT_RULES says all of this in words, for readers of the results.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
# scipy.special's ufuncs: the distributions' functions without scipy.stats' per-call overhead
# (~50x faster; the sequential test's simulation calls them tens of thousands of times).
from scipy.special import ndtri, stdtr, stdtrit

LEVEL = 0.95
SUPPORTED, CONTRADICTED, INCONCLUSIVE, NO_DATA = "supported", "contradicted", "inconclusive", "no data"


@dataclass(frozen=True)
class Estimate:
    """A mean (or difference of means) with its interval (95% unless asked otherwise); a t
    interval also keeps its standard error and degrees of freedom (mean +- t(df) * se)."""
    n: int
    mean: float
    std: float
    ci_low: float
    ci_high: float
    method: str = ""
    se: float = math.nan
    df: float = math.nan


def t_quantile(df: float, level: float = LEVEL) -> float:
    return float(stdtrit(df, 0.5 + level / 2))


def _finite(values) -> np.ndarray:
    arr = np.asarray(list(values), dtype=float)
    return arr[np.isfinite(arr)]


def describe(values, level: float = LEVEL) -> Estimate:
    """Mean, sample std and t interval of the finite `values`."""
    arr = _finite(values)
    n = len(arr)
    if n == 0:
        return Estimate(0, math.nan, math.nan, math.nan, math.nan, "no values")
    mean = float(arr.mean())
    if n == 1:
        return Estimate(1, mean, math.nan, math.nan, math.nan, "one value: no interval")
    std = float(arr.std(ddof=1))
    se = std / math.sqrt(n)
    half = t_quantile(n - 1, level) * se
    return Estimate(n, mean, std, mean - half, mean + half, f"t interval, n={n}", se, n - 1)


def welch(a, b, level: float = LEVEL) -> Estimate:
    """Difference mean(a) - mean(b) with Welch's t interval (Welch-Satterthwaite df)."""
    a, b = _finite(a), _finite(b)
    if len(a) < 2 or len(b) < 2:
        d = float(a.mean() - b.mean()) if len(a) and len(b) else math.nan
        return Estimate(min(len(a), len(b)), d, math.nan, math.nan, math.nan,
                        "fewer than two values on a side: no interval")
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    d = float(a.mean() - b.mean())
    se = math.sqrt(va + vb)
    if se == 0:  # both sides constant: the difference is known exactly
        return Estimate(min(len(a), len(b)), d, 0.0, d, d, "Welch t (no spread)", 0.0)
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    half = t_quantile(df, level) * se
    return Estimate(min(len(a), len(b)), d, se, d - half, d + half, f"Welch t, df={df:.1f}",
                    se, df)


def difference(a: dict, b: dict, level: float = LEVEL) -> Estimate:
    """mean(a) - mean(b) for seed -> value dicts: paired t when the seeds match, else Welch."""
    a = {s: v for s, v in a.items() if np.isfinite(v)}
    b = {s: v for s, v in b.items() if np.isfinite(v)}
    if set(a) == set(b) and len(a) >= 2:
        diffs = [a[s] - b[s] for s in sorted(a)]
        est = describe(diffs, level)
        return Estimate(est.n, est.mean, est.std, est.ci_low, est.ci_high,
                        f"paired t over {est.n} seeds", est.se, est.df)
    return welch(list(a.values()), list(b.values()), level)


def _z(level: float = LEVEL) -> float:
    return float(ndtri(0.5 + level / 2))


def wilson(k: int, n: int, level: float = LEVEL) -> tuple[float, float]:
    """Wilson score interval of a proportion k/n (stays inside [0, 1], sane at 0/n and n/n)."""
    if n == 0:
        return math.nan, math.nan
    z, p = _z(level), k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def proportion(k: int, n: int, level: float = LEVEL) -> Estimate:
    """The fraction k/n (e.g. of seeds that diverged) with its Wilson score interval."""
    low, high = wilson(k, n, level)
    return Estimate(n, k / n if n else math.nan, math.nan, low, high, f"Wilson score, {k}/{n}")


def proportion_difference(k1: int, n1: int, k2: int, n2: int, level: float = LEVEL) -> Estimate:
    """k1/n1 - k2/n2 with Newcombe's hybrid score interval (his method 10: built from the
    two Wilson intervals; good coverage even at 0/n and n/n, where Wald's fails)."""
    if n1 == 0 or n2 == 0:
        return Estimate(0, math.nan, math.nan, math.nan, math.nan, "no runs on a side")
    p1, p2 = k1 / n1, k2 / n2
    (l1, u1), (l2, u2) = wilson(k1, n1, level), wilson(k2, n2, level)
    d = p1 - p2
    low = d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return Estimate(min(n1, n2), d, math.nan, low, high,
                    f"Newcombe hybrid score, {k1}/{n1} vs {k2}/{n2}")


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


# The rules above in words: the summary page and the claims table's caption show them.
VERDICT_RULES = (
    "Each claim allows a band of values for the measured difference (ablation minus "
    "reference, mean over seeds; accuracies in percentage points) and is checked on each "
    "dataset where its ablations ran. The 95% interval is a paired t interval over seeds "
    "when both sides have the same seeds, else Welch's t interval; steps to an accuracy count "
    "a seed that never got there as its last step for the lower end and as unbounded for "
    "the upper; fractions of diverged seeds use Wilson / Newcombe score intervals; "
    "parameter counts are exact. Verdict: supported when the whole interval lies "
    "inside the band, contradicted when it lies entirely outside it, inconclusive when it "
    "straddles a band edge, no data when an ablation has no finished runs. "
    "Full rules: config/README.md.")


# How a dataset's claims are tested together, in words: the fixed study's rule and adaptive
# seeding's (mlpstudy.sequential); the summary page and the claims table's caption show them.
FIXED_TESTING = (
    "Fixed seeds: each claim is tested on its own with its 95% interval, with no correction "
    "for testing a dataset's claims together (with a dozen claims, one may get a wrong verdict "
    "by chance). With adaptive_seeds the claims are tested as a family, over repeated looks.")
ADAPTIVE_TESTING = (
    "Adaptive seeds: after each round of seeds the claims still open are tested again (a look), "
    "and only their ablations get more seeds. Look k spends the share t_k^2 - t_(k-1)^2 of the "
    "error rate (t_k: the share of the planned seeds seen by then), which keeps a claim tested at "
    "every look wrong at most as often as one tested once. A claim's evidence is the smallest "
    "error rate at which its interval decides it, divided by the look's share, over its looks; "
    "Holm's step-down across each dataset's tested claims (parameter counts are exact and not "
    "tested) then keeps the chance of any wrong verdict in that family at most 5%. Each claim's "
    "interval is shown at the level it was tested at, with its seeds and looks.")


def verdict(ci_low: float, ci_high: float, band: Band) -> str:
    """supported if [ci_low, ci_high] lies inside `band`, contradicted if it misses it entirely."""
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


def evidence(interval: Callable[[float], Estimate], claim_band: Band) -> tuple[float, str]:
    """(p, verdict): the smallest alpha for which the (1 - alpha) interval decides the claim,
    and the verdict it gives then; (1, inconclusive) when no interval decides it."""
    est = interval(LEVEL)
    if math.isfinite(est.se) and est.se > 0 and math.isfinite(est.df) and \
            math.isfinite(est.ci_low) and math.isfinite(est.ci_high):
        return _t_evidence(est, claim_band)
    return _bisected_evidence(interval, claim_band)


def _t_evidence(est: Estimate, claim_band: Band) -> tuple[float, str]:
    """For a t interval mean +- t(df) * se: the alpha at which it just fits inside the band,
    or just misses it, from the t distribution itself."""
    room = min(est.mean - claim_band.low, claim_band.high - est.mean) / est.se
    miss = max(claim_band.low - est.mean, est.mean - claim_band.high) / est.se
    p_in, p_out = (min(1.0, 2 * float(stdtr(est.df, -z))) for z in (room, miss))
    if min(p_in, p_out) >= 1.0:
        return 1.0, INCONCLUSIVE
    return (p_in, SUPPORTED) if p_in <= p_out else (p_out, CONTRADICTED)


def _bisected_evidence(interval, claim_band: Band) -> tuple[float, str]:
    """Any other interval (Newcombe, censored, exact): bisect on alpha, the intervals being
    nested (a larger alpha, a narrower interval, decides whatever a wider one decided)."""
    def decided(alpha):
        est = interval(1 - alpha)
        return verdict(est.ci_low, est.ci_high, claim_band)

    if decided(1e-15) != INCONCLUSIVE:
        return 0.0, decided(1e-15)
    if decided(1.0) == INCONCLUSIVE:
        return 1.0, INCONCLUSIVE
    low, high = math.log(1e-15), 0.0  # log alpha: undecided at low, decided at high
    for _ in range(60):
        mid = (low + high) / 2
        low, high = (low, mid) if decided(math.exp(mid)) != INCONCLUSIVE else (mid, high)
    return math.exp(high), decided(math.exp(high))
