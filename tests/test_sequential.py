"""Adaptive seeds: the rounds, the error spending over the looks, Holm over a family, and
by simulation (synthetic differences, no training) that the wrong-verdict rate stays at or
below the stated 5% however often the claims are looked at, where naive re-testing at
95% after every round does not."""
import math

import numpy as np
import pytest

from mlpstudy.claims import Measurement, band
from mlpstudy.config import round_seeds
from mlpstudy.sequential import ALPHA, holm, sequential_family, spending
from mlpstudy.stats import INCONCLUSIVE, describe, evidence, proportion_difference, verdict

pytestmark = pytest.mark.unit

REPEATS = 4000
# Monte Carlo error of a rate near 5% over REPEATS: about 0.0034.
MARGIN = 3 * math.sqrt(ALPHA * (1 - ALPHA) / REPEATS)


def test_rounds_add_step_seeds_counting_on_until_max():
    assert round_seeds({"seeds": [0, 1, 2]}) == [[0, 1, 2]]
    adaptive = {"seeds": [0, 1, 2], "adaptive_seeds": {"max": 9, "step": 3}}
    assert round_seeds(adaptive) == [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    uneven = {"seeds": [4, 0], "adaptive_seeds": {"max": 7, "step": 2}}
    assert round_seeds(uneven) == [[4, 0], [5, 6], [7, 8], [9]]


def test_the_looks_spend_the_error_rate_once_in_all_little_at_first():
    weights = spending([[0, 1, 2, 3, 4], [5, 6, 7, 8, 9], [10, 11, 12, 13, 14], [15, 16, 17, 18, 19]])
    assert sum(weights) == pytest.approx(1.0)
    assert weights == pytest.approx([1 / 16, 3 / 16, 5 / 16, 7 / 16])
    assert spending([[0, 1, 2]]) == [1.0]


def test_holm_steps_down_from_the_smallest_evidence_and_stops_at_the_first_failure():
    thresholds, passed = holm([0.04, 0.001, 0.015, 0.5, 0.03], alpha=0.05)
    assert thresholds == pytest.approx([0.05 / 2, 0.05 / 5, 0.05 / 4, 0.05 / 1, 0.05 / 3])
    # 0.001 <= 0.01, 0.015 <= 0.0125? no: the step-down stops at the second smallest
    assert passed == [False, True, False, False, False]
    _, passed = holm([0.04, 0.001, 0.012, 0.5, 0.016], alpha=0.05)
    assert passed == [False, True, True, False, True]  # 0.04 > 0.025 stops it before 0.5


def test_the_evidence_of_a_t_interval_is_where_it_just_decides():
    values = [0.9, 1.4, 1.1, 1.6, 1.2]
    claim_band = band({"expect": "greater", "size": 0.5})

    def interval(level):
        return describe(values, level)

    p, said = evidence(interval, claim_band)
    assert said == "supported" and 0 < p < 0.05
    just_wider, just_narrower = interval(1 - p * 0.999), interval(1 - p * 1.001)
    assert verdict(just_wider.ci_low, just_wider.ci_high, claim_band) == INCONCLUSIVE
    assert verdict(just_narrower.ci_low, just_narrower.ci_high, claim_band) == "supported"


def test_the_evidence_of_other_intervals_is_bisected_to_the_same_point():
    claim_band = band({"expect": "greater", "size": 0})

    def interval(level):
        return proportion_difference(9, 10, 2, 10, level)

    p, said = evidence(interval, claim_band)
    assert said == "supported" and 0 < p < 0.05
    assert interval(1 - p * 1.0001).ci_low > 0 >= interval(1 - p * 0.9999).ci_low


def claim_on_the_edge(expect: str) -> tuple[dict, float]:
    """A claim and a true difference sitting on its band's edge."""
    claim = {"expect": expect, "size": 1.0, "tolerance": 0.5 if expect == "about" else 0}
    edge = band(claim).high if expect == "about" else band(claim).low
    return claim, edge


def wrong_rate(claims: list[dict], truths: list[float], rounds, weights, rng) -> float:
    """How often, over REPEATS studies of normal per-seed differences (sd 1) with these
    true differences, some claim on its edge gets a verdict (a wrong one either way)."""
    edges = [t in (band(c).low, band(c).high) for c, t in zip(claims, truths)]
    seen = np.cumsum([len(r) for r in rounds])
    wrong = 0
    for _ in range(REPEATS):
        diffs = {i: rng.normal(t, 1.0, seen[-1]) for i, t in enumerate(truths)}
        by_claim = {id(c): i for i, c in enumerate(claims)}

        def measure_at(claim, k, diffs=diffs, by_claim=by_claim):
            values = diffs[by_claim[id(claim)]][:seen[k]]
            return Measurement({"metric": "stable_accuracy"},
                               lambda level, values=values: describe(values, level))

        tracks = sequential_family(claims, measure_at, weights, len(rounds))
        wrong += any(edge and t.decided_at is not None for edge, t in zip(edges, tracks))
    return wrong / REPEATS


@pytest.mark.parametrize("expect", ["greater", "about"])
@pytest.mark.parametrize("schedule", [([0, 1, 2], 3, 9), ([0, 1, 2, 3, 4], 5, 20)],
                         ids=["3-to-9-seeds", "5-to-20-seeds"])
def test_repeated_looks_keep_wrong_verdicts_on_the_edge_at_or_below_the_level(expect, schedule):
    seeds, step, most = schedule
    rounds = round_seeds({"seeds": seeds, "adaptive_seeds": {"max": most, "step": step}})
    claim, edge = claim_on_the_edge(expect)
    rng = np.random.default_rng(0)
    ours = wrong_rate([claim], [edge], rounds, spending(rounds), rng)
    naive = wrong_rate([claim], [edge], rounds, [1.0] * len(rounds), rng)  # 95% at every look
    once = wrong_rate([claim], [edge], rounds[:1], [1.0], rng)  # the fixed study: one look
    print(f"\n{expect} claim on its edge, {len(rounds)} looks at {np.cumsum([len(r) for r in rounds])} "
          f"seeds: wrong verdicts {ours:.4f} with the spending (stated level {ALPHA}), "
          f"{naive:.4f} re-testing at 95% after every round, {once:.4f} with one look")
    assert ours <= ALPHA
    assert naive > ALPHA + MARGIN
    assert once <= ALPHA + MARGIN  # a single 95% look: its level (a one-sided band's exactly)


def test_repeated_looks_keep_the_familys_wrong_verdicts_within_the_level():
    """Five claims looked at three times: three true differences on their edges, two far
    inside their bands (decided early, which frees error rate for the others under Holm)."""
    rounds = round_seeds({"seeds": [0, 1, 2], "adaptive_seeds": {"max": 9, "step": 3}})
    claims = [{"expect": "greater", "size": 1.0}, {"expect": "about", "size": 0, "tolerance": 1.0},
              {"expect": "less", "size": 0.0}, {"expect": "greater", "size": 0},
              {"expect": "at_most", "size": 0, "tolerance": 0}]
    truths = [1.0, 1.0, 0.0, 6.0, -6.0]
    rng = np.random.default_rng(1)
    holm_rate = wrong_rate(claims, truths, rounds, spending(rounds), rng)
    each_alone = wrong_rate([claims[0]], [truths[0]], rounds, spending(rounds), rng)
    print(f"\nfamily of 5, 3 on their edges: some wrong verdict {holm_rate:.4f} under Holm "
          f"(stated level {ALPHA}); one edge claim alone {each_alone:.4f}")
    assert holm_rate <= ALPHA
