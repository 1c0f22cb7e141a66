"""Synthetic adaptive studies, for the repeated-looks tests and the claims benchmark.

Each study draws per-seed values of the kinds the workflow produces (stable accuracies with a
seed effect shared by every ablation, optionally skewed; train-test gaps; step counts seen on
an evaluation grid, with ties and runs that never get there; diverged runs; lost runs), then
runs them through the project's own claims code: claims.seed_test picks each claim's test,
sequential.run_looks tests the family over the looks, and each round's seeds go only to the
ablations of the claims that still want them, as plan_round does. A verdict on a claim whose
true value sits on its band's edge is wrong either way; inside the band only "contradicted"
is wrong, outside it only "supported".
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from mlpstudy.claims import StepCount, band, seed_test
from mlpstudy.plan import compared, round_seeds
from mlpstudy.sequential import Track, extend, run_looks, spending
from mlpstudy.stats import CONTRADICTED, SUPPORTED

EVAL_EVERY, LAST_STEP = 20, 938  # the protocol's grid: 47 evaluations, the last at step 938
SEED_SD, STEP_SEED_SD = 0.3, 30.0  # the seed's effect shared by every ablation (pp, steps)


@dataclass(frozen=True)
class Ablation:
    """How an ablation's runs come out, seed to seed."""
    accuracy: float = 90.0  # mean stable accuracy (pp)
    sd: float = 0.5  # its own seed-to-seed spread (pp)
    skewed: bool = False  # a tenth of the seeds 3 sd low (the mean kept where it is)
    gap: float = 1.0  # mean train-test gap (pp)
    gap_sd: float = 0.3
    steps: float = 300.0  # mean step at which the accuracy is reached (continuous)
    steps_sd: float = 5.0
    diverge: float = 0.0  # chance that a run diverges
    lost: float = 0.0  # chance that a run is missing from the results


@dataclass(frozen=True)
class SimClaim:
    claim: dict  # ablation, reference, metric, expect, size, tolerance
    truth: float  # the quantity's true value


@dataclass
class Outcome:
    """Over the simulated studies: the share with some wrong verdict (and by direction), the
    mean number of runs of the claims' ablations, and how the claims ended."""
    wrong: float
    wrong_supported: float
    wrong_contradicted: float
    runs: float
    decided: float
    stopped: float  # open claims that stopped asking for seeds (futility)
    studies: int
    decided_each: list = field(default_factory=list)  # per claim: the share of studies


    def text(self) -> str:
        return (f"wrong {self.wrong:.4f} (supported {self.wrong_supported:.4f}, contradicted "
                f"{self.wrong_contradicted:.4f}) over {self.studies} studies; runs "
                f"{self.runs:.1f}; decided {self.decided:.2f}, stopped for futility "
                f"{self.stopped:.2f} of the claims")


def claim(ablation: str, metric: str, expect: str, size: float = 0.0, tolerance: float = 0.0,
          reference: str | None = None, truth: float | None = None, edge: str = "low",
          ablations: dict | None = None) -> SimClaim:
    """A claim; its truth given, or by default the band's `edge` ("low" or "high")."""
    spec = {"text": f"{ablation} vs {reference} {metric} {expect}", "ablation": ablation,
            "reference": reference, "metric": metric, "expect": expect, "size": size,
            "tolerance": tolerance}
    if truth is None:
        truth = band(spec).low if edge == "low" else band(spec).high
    return SimClaim(spec, truth)


def _errors(sd: float, skewed: bool, shape, rng) -> np.ndarray:
    errors = rng.normal(0.0, sd, shape)
    if skewed:  # a tenth 3 sd low, the rest raised by 0.3 sd: the mean stays at 0
        errors += sd * (0.3 - 3.0 * (rng.random(shape) < 0.1))
    return errors


def _grid(true_steps: np.ndarray) -> list[StepCount]:
    """Step counts as the evaluations every EVAL_EVERY steps (and at the last) find them."""
    grid = np.append(np.arange(0, LAST_STEP, EVAL_EVERY), LAST_STEP).astype(float)
    counts = []
    for t in true_steps:
        if t > LAST_STEP:
            counts.append(StepCount(float(LAST_STEP), 0.0, True))
            continue
        i = int(np.searchsorted(grid, max(t, 0.0)))
        counts.append(StepCount(grid[i], grid[i] - grid[i - 1] if i else 0.0, False))
    return counts


def draw(ablations: dict[str, Ablation], seeds: int, rng) -> dict:
    """name -> metric -> per-seed values (None where the run diverged or is missing), and
    "diverged" -> per-seed 0/1 (None where missing)."""
    seed_effect = rng.normal(0.0, SEED_SD, seeds)
    step_effect = rng.normal(0.0, STEP_SEED_SD, seeds)
    out = {}
    for name, a in ablations.items():
        diverged = rng.random(seeds) < a.diverge
        lost = rng.random(seeds) < a.lost
        accuracy = a.accuracy + seed_effect + _errors(a.sd, a.skewed, seeds, rng)
        gap = a.gap + rng.normal(0.0, a.gap_sd, seeds)
        steps = _grid(a.steps + step_effect + rng.normal(0.0, a.steps_sd, seeds))
        finished = ~diverged & ~lost
        out[name] = {
            "stable_accuracy": [v if ok else None for v, ok in zip(accuracy, finished)],
            "gap": [v if ok else None for v, ok in zip(gap, finished)],
            "steps_to_accuracy": [v if ok else None for v, ok in zip(steps, finished)],
            "diverged_fraction": [None if gone else int(d) for d, gone in zip(diverged, lost)],
        }
    return out


def _wrong(said: str, truth: float, claim_band) -> bool:
    if truth in (claim_band.low, claim_band.high):
        return said in (SUPPORTED, CONTRADICTED)
    inside = claim_band.low < truth < claim_band.high
    return said == (CONTRADICTED if inside else SUPPORTED)


@dataclass
class _Study:
    """One simulated study: its values, and the seeds each ablation has been given."""
    values: dict
    given: dict
    step: int
    most: int
    every_round: bool = False  # every claim's ablations get each round, open or not
    tracks: list = field(default_factory=list)
    look: int = 0

    def test_at(self, claim_spec: dict, k: int):
        while self.look < k:  # a new round: seeds for the claims that still want them
            wanted = (list(self.given) if self.every_round else extend(self.tracks, compared))
            for name in wanted:
                self.given[name] = min(self.given[name] + self.step, self.most)
            self.look += 1
        metric = claim_spec["metric"]
        sides = [self._seeds(name, metric) for name in compared(claim_spec)]
        return seed_test(metric, sides[0], sides[1] if len(sides) > 1 else None)

    def _seeds(self, name: str, metric: str) -> dict:
        column = self.values[name][metric]
        return {s: column[s] for s in range(self.given[name]) if column[s] is not None}


def simulate(claims: list[SimClaim], ablations: dict[str, Ablation], seeds: int = 5,
             step: int = 5, most: int = 20, studies: int = 2000, seed: int = 0,
             weights: list[float] | None = None, every_round: bool = False,
             futility: bool = True) -> Outcome:
    """`studies` adaptive studies of `claims`: `seeds` seeds, then `step` more a round up to
    `most` (one look when most == seeds); `weights` replaces the spending (e.g. 95% at each
    look: [1, 1, ...]) to show what the procedure guards against; `every_round` gives every
    round's seeds to every ablation, as a study that trained them all anyway would;
    `futility` False keeps every open claim asking for seeds up to `most`."""
    rounds = round_seeds({"seeds": list(range(seeds)),
                          "adaptive_seeds": {"max": most, "step": step} if most > seeds else None})
    weights = weights or spending(rounds)
    rng = np.random.default_rng(seed)
    wrong = wrong_sup = wrong_con = runs = decided = stopped = 0
    decided_each = np.zeros(len(claims))
    names = list(dict.fromkeys(n for c in claims for n in compared(c.claim)))
    for _ in range(studies):
        study = _Study(draw(ablations, most, rng), {n: seeds for n in ablations}, step, most,
                       every_round)
        study.tracks = [Track(c.claim, band(c.claim)) for c in claims]
        run_looks(study.tracks, study.test_at, weights, len(rounds),
                  most if futility else math.inf)
        said = [t.verdict if t.decided_at is not None else "inconclusive" for t in study.tracks]
        errors = [_wrong(v, c.truth, band(c.claim)) for v, c in zip(said, claims)]
        wrong += any(errors)
        wrong_sup += any(e and v == SUPPORTED for e, v in zip(errors, said))
        wrong_con += any(e and v == CONTRADICTED for e, v in zip(errors, said))
        runs += sum(study.given[n] for n in names)
        decided += sum(t.decided_at is not None for t in study.tracks)
        decided_each += [t.decided_at is not None for t in study.tracks]
        stopped += sum(t.decided_at is None and not t.wants_seeds for t in study.tracks)
    n = studies * len(claims)
    return Outcome(wrong / studies, wrong_sup / studies, wrong_con / studies, runs / studies,
                   decided / n, stopped / n, studies, list(decided_each / studies))


def margin(studies: int, alpha: float = 0.05) -> float:
    """Three standard errors of a rate near alpha over `studies` studies."""
    return 3 * math.sqrt(alpha * (1 - alpha) / studies)


# The config's tested claims on Fashion-MNIST-like ablations: the first round's measured
# differences and spreads (5 seeds, default config), or every claim on its band's edge.
# The two step-count claims are modelled on one steps metric (to an accuracy).
def config_family(edges: bool = False, skewed: bool = False) -> tuple[list, dict]:
    """(claims, ablations); `edges` puts every truth on its band's edge, `skewed` makes the
    compared ablations' seeds skewed (a tenth 3 sd low)."""
    def acc(mean, sd):
        return Ablation(mean, sd, skewed=skewed)

    measured = {"gelu": -0.31, "maxout": 0.18, "kl_div": 0.24, "hidden_2048": 1.47,
                "deep_512_256": -0.39, "l2": 0.01, "gap": 1.21, "kl_steps": -3.0,
                "maxout_steps": 120.0}
    edge = {"gelu": 0.5, "maxout": 1.0, "kl_div": 0.0, "hidden_2048": 4.5, "deep_512_256": 0.5,
            "l2": 0.1, "gap": 1.0, "kl_steps": 0.0, "maxout_steps": 0.0}
    d = edge if edges else measured
    diverge = 0.5 if edges else 1.0
    ablations = {
        "base": Ablation(85.0, 0.05, gap=d["gap"], gap_sd=0.2, steps=200.0, steps_sd=3.0),
        "gelu": acc(85 + d["gelu"], 0.07), "maxout": Ablation(
            85 + d["maxout"], 0.19, skewed=skewed, steps=200 + d["maxout_steps"],
            steps_sd=3.0 if edges else 200.0),
        "kl_div": Ablation(85 + d["kl_div"], 0.15, skewed=skewed, steps=200 + d["kl_steps"],
                           steps_sd=5.0 if not edges else 3.0),
        "hidden_24": Ablation(83.5, 0.05), "hidden_2048": acc(83.5 + d["hidden_2048"], 0.3),
        "hidden_784": Ablation(85.0, 0.05), "deep_512_256": acc(85 + d["deep_512_256"], 0.18),
        "weight_decay": Ablation(85.0, 0.005), "l2": acc(85 + d["l2"], 0.011),
        "maxout_lr1": Ablation(diverge=diverge), "base_lr1": Ablation(diverge=0.5 if edges else 0),
        "maxout_lr0p5": Ablation(diverge=diverge),
        "base_lr0p5": Ablation(diverge=0.5 if edges else 0),
    }
    fractions = 0.0 if edges else 1.0
    claims = [
        claim("gelu", "stable_accuracy", "at_most", 0, 0.5, reference="base", truth=d["gelu"]),
        claim("maxout", "stable_accuracy", "about", 2, 1, reference="base", truth=d["maxout"]),
        claim("kl_div", "stable_accuracy", "less", reference="base", truth=d["kl_div"]),
        claim("kl_div", "steps_to_accuracy", "greater", reference="base", truth=d["kl_steps"]),
        claim("maxout", "steps_to_accuracy", "greater", reference="base", truth=d["maxout_steps"]),
        claim("maxout_lr1", "diverged_fraction", "greater", reference="base_lr1", truth=fractions),
        claim("maxout_lr0p5", "diverged_fraction", "greater", reference="base_lr0p5",
              truth=fractions),
        claim("hidden_2048", "stable_accuracy", "about", 3.5, 1, reference="hidden_24",
              truth=d["hidden_2048"]),
        claim("deep_512_256", "stable_accuracy", "about", 1, 0.5, reference="hidden_784",
              truth=d["deep_512_256"]),
        claim("base", "gap", "about", 0, 1, truth=d["gap"]),
        claim("l2", "stable_accuracy", "about", 0, 0.1, reference="weight_decay", truth=d["l2"]),
    ]
    return claims, ablations
