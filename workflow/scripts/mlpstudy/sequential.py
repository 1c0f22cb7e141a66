"""Rounds of seeds: more seeds only where a claim is still open, under a test that stays
valid however often it looks.

The procedure (README "Adaptive seeds"; config `adaptive_seeds`):

- Looks. The first round trains the config's `seeds`; after each round the claims are
  tested (a look), and every claim still open asks for `step` more seeds for its ablation
  and reference, up to `max` seeds (config.round_seeds). So there are K planned looks, at
  n_1 < ... < n_K seeds.
- Error spending. Look k may spend the share w_k = t_k^2 - t_(k-1)^2 of the error rate, with
  t_k = n_k / n_K the share of the planned seeds seen by then (a power-2 spending function:
  little at the first looks, whose few seeds decide little, most at the last). A claim
  tested at look k at level w_k * a, at every look, is wrong with probability at most a
  whatever the looks' dependence and whatever the interval (t, Welch, Newcombe,
  censored): the union bound, where classic group-sequential boundaries assume normal
  statistics that a handful of seeds do not give.
- Evidence. At a look, a claim's p is the smallest alpha for which its (1 - alpha) interval
  decides it (lies inside its band: supported; misses it: contradicted). Its evidence is
  the smallest p_k / w_k over the looks it took.
- The family. A dataset's claims that are tested (not parameter counts, which are exact)
  form the family. Holm's step-down compares the smallest evidence with a/m, the next with
  a/(m-1), ..., stopping at the first that fails; those that pass are decided and take no
  more seeds. The chance that any verdict of the family is wrong stays at most a = 5%,
  where a verdict on a claim whose true difference sits on its band's edge counts as wrong
  either way. Evidence only shrinks and Holm only grows its decisions as p-values shrink,
  so a claim decided at one look stays decided at every later one.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import pandas as pd

from .claims import (Measurement, band, check_claims, claims_frame, curves_by_split,
                     look_columns, measure, verdict_row)
from .stats import INCONCLUSIVE, LEVEL, evidence

ALPHA = round(1 - LEVEL, 12)  # the family's error rate: 5%


def spending(rounds: list[list[int]]) -> list[float]:
    """The share of the error rate each look spends (they sum to 1): w_k = t_k^2 - t_(k-1)^2
    with t_k the share of the planned seeds seen at look k."""
    sizes = [len(r) for r in rounds]
    total = sum(sizes)
    seen = [sum(sizes[:k + 1]) / total for k in range(len(sizes))]
    return [t * t - (seen[k - 1] ** 2 if k else 0.0) for k, t in enumerate(seen)]


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


@dataclass
class Track:
    """One claim of the family through the looks."""
    claim: dict
    evidence: float = 1.0  # the smallest p_k / w_k so far
    verdict: str = INCONCLUSIVE  # the verdict of the look that gave it
    evidence_look: int = 0
    measured: dict = field(default_factory=dict)  # look -> its Measurement
    levels: list = field(default_factory=list)  # the alpha each look tested at
    threshold: float = 0.0  # its Holm threshold: at its last look, or when it was decided
    decided_at: int | None = None

    @property
    def looks(self) -> int:
        return len(self.measured)


def sequential_family(claims: list[dict], measure_at: Callable[[dict, int], Measurement],
                      weights: list[float], looks: int, alpha: float = ALPHA) -> list[Track]:
    """The procedure over `looks` looks (of the planned len(weights)) for one dataset's
    family of tested `claims`; measure_at(claim, k) is what the runs of rounds 0..k say."""
    tracks = [Track(c) for c in claims]
    for k in range(looks):
        open_ = [t for t in tracks if t.decided_at is None]
        if not open_:
            break
        for track in open_:
            track.measured[k] = measure_at(track.claim, k)
            p, said = evidence(track.measured[k].interval, band(track.claim))
            if p / weights[k] < track.evidence:
                track.evidence, track.verdict, track.evidence_look = p / weights[k], said, k
        thresholds, passed = holm([t.evidence for t in tracks], alpha)
        for track, threshold, decided in zip(tracks, thresholds, passed):
            if track.decided_at is None and k in track.measured:
                track.threshold = threshold
                track.levels.append(weights[k] * threshold)
                track.decided_at = k if decided else None
    return tracks


def track_row(track: Track, weights: list[float], family: str) -> dict:
    """The claims-table row of a tracked claim: its verdict, and the interval of the look
    that gave its evidence (decided) or of its last look (open), at the level tested there."""
    look = track.evidence_look if track.decided_at is not None else max(track.measured)
    level = weights[look] * track.threshold
    row = verdict_row(track.measured[look], track.claim, 1 - level)
    row["verdict"] = track.verdict if track.decided_at is not None else INCONCLUSIVE
    return {**row, **look_columns(track.looks, track.levels, 1 - level, track.evidence, family)}


def sequential_claims(claims: list[dict], final: pd.DataFrame, metrics: pd.DataFrame | None,
                      dataset: str, rounds: list[list[int]], looks: int | None = None,
                      alpha: float = ALPHA) -> tuple[list[dict], list[Track]]:
    """The claims-table rows of one dataset's claims after `looks` looks (all planned ones by
    default), and the tracks of its family (those still open want more seeds)."""
    looks = len(rounds) if looks is None else looks
    weights = spending(rounds)
    curves = curves_by_split(metrics)
    # One order of the runs, whatever table they come from: a look's numbers are then the
    # same in its plan_round job and in the final claims check.
    final = final[final["dataset"] == dataset].sort_values(["ablation", "seed"], kind="stable")
    seen = [set().union(*rounds[:k + 1]) for k in range(len(rounds))]
    measured = {}  # (claim, look) -> Measurement: the first look's serves the family and the rows

    def measure_at(claim, k):
        if (id(claim), k) not in measured:
            measured[id(claim), k] = measure(claim, final[final["seed"].isin(seen[k])], None,
                                             dataset, curves.get(claim.get("split") or "test"))
        return measured[id(claim), k]

    first = [(c, measure_at(c, 0)) for c in claims]
    family = [c for c, m in first if not m.exact and m.interval is not None]
    tracks = sequential_family(family, measure_at, weights, looks, alpha)
    name = (f"Holm over this dataset's {len(family)} tested claims, error rate {alpha:g}, "
            f"{len(rounds)} planned looks")
    rows_by_claim = {id(t.claim): track_row(t, weights, name) for t in tracks}
    rows = []
    for claim, at_first in first:
        if id(claim) in rows_by_claim:
            rows.append(rows_by_claim[id(claim)])
        else:  # no data, or a parameter count: exact, outside the family
            why = "not tested: exact" if at_first.exact else "not tested: no data"
            rows.append({**verdict_row(at_first, claim), **look_columns(1, [], 1.0, math.nan, why)})
    return rows, tracks


def claims_table(claims: list[dict], final: pd.DataFrame, metrics: pd.DataFrame | None,
                 rounds: list[list[int]] | None = None) -> pd.DataFrame:
    """claims.csv: each claim on each of its `datasets`; with `rounds` (adaptive seeds) each
    dataset's claims tested as a family over the looks, else each on its own at 95%."""
    if rounds is None:
        return check_claims(claims, final, metrics)
    rows = {}
    for dataset in dict.fromkeys(d for c in claims for d in c["datasets"]):
        mine = [c for c in claims if dataset in c["datasets"]]
        for claim, row in zip(mine, sequential_claims(mine, final, metrics, dataset, rounds)[0]):
            rows[id(claim), dataset] = row
    return claims_frame([rows[id(c), d] for c in claims for d in c["datasets"]])


def extend(tracks: list[Track]) -> list[str]:
    """The ablations the still-open claims want more seeds for: each one's and its reference."""
    names = [n for t in tracks if t.decided_at is None
             for n in (t.claim["ablation"], t.claim.get("reference")) if n]
    return list(dict.fromkeys(names))
