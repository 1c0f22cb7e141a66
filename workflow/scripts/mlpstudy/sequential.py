"""The procedure that tests a dataset's claims as one family, over one look (a fixed study)
or over rounds of seeds (adaptive seeds): error spending over the looks, Holm's step-down
across the family, and a stopping rule for claims no affordable number of seeds decides.
mlpstudy.claims measures the claims and builds the table; this module only decides.

- Looks. The first round trains the config's `seeds`; with `adaptive_seeds` every claim still
  open after a look asks for `step` more seeds for its ablation and reference, up to `max`
  (plan.round_seeds): K planned looks at n_1 < ... < n_K seeds. A fixed study is one look.
- Spending. Look k may spend the share w_k = t_k - t_(k-1) of the error rate, t_k = n_k / n_K
  the share of the planned seeds seen by then (linear, as AdaStop spends; the power-2 share
  used before, t_k^2 - t_(k-1)^2, spent 1/16 at the first look, so claims clear after 5 seeds
  waited for 10: simulated on Fashion-MNIST-like effects, 9% more runs). A claim's evidence is the smallest p_k / w_k over its looks, p_k the
  smallest error rate at which look k's interval decides it: by the union bound it is a valid
  p-value however the looks depend on each other, provided each look's test is valid at its
  level (mlpstudy.stats: exact or normal-theory tests, never a zero-width interval).
- The family. Holm's step-down over a dataset's tested claims (all but parameter counts):
  the smallest evidence against a/m, the next against a/(m - 1), ..., stopping at the first
  that fails; those that pass are decided and take no more seeds. Evidence only shrinks and
  Holm's thresholds only grow, so a decided claim stays decided. The chance of any wrong
  verdict in the family stays at most a = 5%, a verdict on a claim whose truth sits on its
  band's edge counting as wrong either way (tests/test_sequential.py simulates it on every
  kind of data the study produces).
- Stopping for futility. After each look, every open claim's seeds to decide at the last
  look's level (mlpstudy.stats Test.seeds_to_decide, from the spread so far) are estimated;
  a claim that would need more than `max` even with its estimate HOPE standard errors further
  from its edge stops asking for seeds. It stays in the family and is tested at every later
  look as planned, so the rule is non-binding: it cannot raise the error rate, only save runs
  (simulated, 14% of the Fashion-MNIST-like family's runs, tests/test_family_looks.py).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

from .stats import INCONCLUSIVE, LEVEL, Band, Test, evidence

ALPHA = round(1 - LEVEL, 12)  # the family's error rate: 5%
# The estimate after a few seeds is rough: taken as it is, the stopping rule stopped claims
# that would have been decided (simulated, 0.80 of the family decided instead of 0.84).
HOPE = 1.0


def spending(rounds: list[list[int]]) -> list[float]:
    """The share of the error rate each look spends (they sum to 1): w_k = t_k - t_(k-1),
    t_k the share of the planned seeds seen at look k."""
    sizes = [len(r) for r in rounds]
    total = sum(sizes)
    return [size / total for size in sizes]


def holm(evidences: list[float], alpha: float = ALPHA) -> tuple[list[float], list[bool]]:
    """Holm's step-down over the family: each member's threshold (alpha / (m - rank), rank 0
    for the smallest evidence) and whether it passes (it and every smaller one below theirs)."""
    m = len(evidences)
    order = sorted(range(m), key=lambda i: (evidences[i], i))
    thresholds, passed, still = [0.0] * m, [False] * m, True
    for rank, i in enumerate(order):
        thresholds[i] = alpha / (m - rank)
        still = still and evidences[i] <= thresholds[i]
        passed[i] = still
    return thresholds, passed


def holm_adjusted(evidences: list[float]) -> list[float]:
    """Holm-adjusted p-values: a member is decided exactly when its adjusted p <= alpha."""
    m = len(evidences)
    order = sorted(range(m), key=lambda i: (evidences[i], i))
    adjusted, running = [1.0] * m, 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * evidences[i]))
        adjusted[i] = running
    return adjusted


@dataclass
class Track:
    """One claim of the family through the looks."""
    claim: object  # what the caller tests (mlpstudy.claims passes the claim's dict)
    band: Band
    evidence: float = 1.0  # the smallest p_k / w_k so far
    verdict: str = INCONCLUSIVE  # the verdict of the look that gave it
    evidence_look: int = 0
    tests: dict = field(default_factory=dict)  # look -> its Test (None: no data)
    levels: list = field(default_factory=list)  # the error rate each look tested at
    threshold: float = 0.0  # its Holm threshold: when decided, or at its last look
    decided_at: int | None = None
    seeds_needed: float = math.nan  # after its last look, to decide at the last look's level
    wants_seeds: bool = True  # open, and decidable within the planned seeds

    @property
    def looks(self) -> int:
        return len(self.tests)

    @property
    def last_look(self) -> int:
        return max(self.tests)


def run_looks(tracks: list[Track], test_at: Callable[[object, int], Test], weights: list[float],
              looks: int, max_seeds: float, alpha: float = ALPHA) -> list[Track]:
    """The procedure over `looks` of the planned len(weights) looks; test_at(claim, k) is what
    the runs of rounds 0..k say about a claim. Tracks are updated in place and returned."""
    m = len(tracks)
    for k in range(looks):
        open_ = [t for t in tracks if t.decided_at is None]
        if not open_:
            break
        for track in open_:
            track.tests[k] = test = test_at(track.claim, k)
            p, said = evidence(test, track.band)
            if p / weights[k] < track.evidence:
                track.evidence, track.verdict, track.evidence_look = p / weights[k], said, k
        thresholds, passed = holm([t.evidence for t in tracks], alpha)
        for track, threshold, decided in zip(tracks, thresholds, passed):
            if track.decided_at is None and k in track.tests:
                track.threshold = threshold
                track.levels.append(weights[k] * threshold)
                track.decided_at = k if decided else None
                track.wants_seeds = track.wants_seeds and not decided
        still_open = [t for t in tracks if t.decided_at is None]
        # The level an open claim would be tested at in the last look, at the least: Holm's
        # threshold once every claim decided so far has left the family.
        final_level = weights[-1] * alpha / max(len(still_open), 1)
        for track in still_open:
            test = track.tests[k]
            track.seeds_needed = test.seeds_to_decide(track.band, final_level)
            track.wants_seeds = test.seeds_to_decide(track.band, final_level, HOPE) <= max_seeds
    return tracks


def shown_level(track: Track, weights: list[float], m: int, alpha: float = ALPHA) -> float:
    """The error rate of the interval a claim's row shows, which agrees with its verdict: a
    decided claim's at the look and threshold that decided it; an open claim's at the first
    Holm step of its last look (alpha / m of that look's share), at which no open claim's
    interval decides (its evidence would be at most alpha / m, which Holm always passes)."""
    if track.decided_at is not None:
        return weights[track.evidence_look] * track.threshold
    return weights[track.last_look] * alpha / m


def extend(tracks: list[Track], ablations_of: Callable[[object], list[str]]) -> list[str]:
    """The ablations the open claims that can still be decided want more seeds for."""
    names = [n for t in tracks if t.wants_seeds for n in ablations_of(t.claim)]
    return list(dict.fromkeys(names))


TESTING = (
    "A dataset's claims are tested as one family (parameter counts, which are exact, apart): "
    "Holm's step-down keeps the chance of any wrong verdict among them at most 5%. With "
    "adaptive seeds the claims are tested after each round of seeds (a look) and only the "
    "ablations of claims still open get more seeds; look k spends the share of the 5% that "
    "its round adds to the planned seeds, and a claim's evidence is the smallest of its looks' "
    "p-values, each divided by its look's share. A claim that would need more seeds than "
    "planned (from the spread so far) stops getting seeds but stays tested. Each row shows "
    "the seeds its test used, the error rate of each look, its evidence and Holm-adjusted "
    "p-value, and its interval at the level its verdict rests on (an open claim's at the "
    "family's first Holm step).")
