"""Check the report's claims (config `claims`) against the runs: claims.csv, for a fixed study
and for adaptive seeds alike (claims_table is the one entry point).

A claim compares one ablation's metric with a reference ablation's (per-seed differences,
paired on the seeds both finished), or, without a reference, the ablation's own values with
a number. Its `expect` and `size` (and `tolerance`) give the band of values it allows. This
module measures: each claim's values per seed, the test they call for (mlpstudy.stats) and
its claims-table row; mlpstudy.sequential decides, testing a dataset's claims as one family
over the looks. Parameter counts do not depend on the seed: they are compared exactly and
stay outside the family.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd

from .plan import compared
from .sequential import ALPHA, Track, holm_adjusted, run_looks, shown_level, spending
from .stats import (INCONCLUSIVE, NO_DATA, Band, BinomialTest, BoxMeanTest, MeanTest,
                    ProportionDifferenceTest, Test, TwoWayMeanTest, verdict)

# Final-value metrics: metric -> (column of the final table, factor to the unit shown, unit).
METRICS = {
    "test_accuracy": ("test_accuracy", 100.0, "pp"),
    "train_accuracy": ("train_accuracy", 100.0, "pp"),
    "gap": ("gap", 100.0, "pp"),
    "test_loss": ("test_loss", 1.0, "nats"),
    "train_loss": ("train_loss", 1.0, "nats"),
    "param_count": ("param_count", 1.0, "parameters"),
}
# Metrics read from each run's curves (see curve_value) and the fraction of diverged seeds.
CURVE_METRICS = {"accuracy_at_step": "pp", "stable_accuracy": "pp", "stability": "pp",
                 "steps_to_accuracy": "steps", "steps_to_stable": "steps"}
# Step counts: known to one evaluation interval, and "never" counts as the run's last step.
STEP_METRICS = ("steps_to_accuracy", "steps_to_stable")
UNITS = {**{m: spec[2] for m, spec in METRICS.items()}, **CURVE_METRICS,
         "diverged_fraction": "fraction of seeds"}
COLUMNS = ["dataset", "claim", "ablation", "reference", "metric", "unit", "expected",
           "band_low", "band_high", "verdict", "difference", "ci_low", "ci_high",
           "ablation_mean", "reference_mean", "n_ablation", "n_reference", "method", "note",
           # how the verdict was tested (mlpstudy.sequential)
           "uncertainty", "seeds", "seeds_run", "looks", "look_levels", "ci_level", "p_value",
           "threshold", "p_adjusted", "seeds_needed", "why_open", "family"]


def band(claim: dict) -> Band:
    size, tol = float(claim.get("size") or 0), float(claim.get("tolerance") or 0)
    return {
        "greater": Band(low=size, low_open=True),
        "less": Band(high=size, high_open=True),
        "about": Band(low=size - tol, high=size + tol),
        "at_most": Band(high=size + tol),
        "at_least": Band(low=size - tol),
    }[claim["expect"]]


def _fmt(value: float, unit: str) -> str:
    if unit == "parameters":
        return f"{value:,.0f}" if math.isfinite(value) else str(value)
    return f"{value:+g}" if math.isfinite(value) else str(value)


def per_dataset(claim: dict, key: str, dataset: str):
    """A claim key given as one value or as dataset -> value (threshold, within): its value
    on `dataset`."""
    value = claim.get(key)
    return value.get(dataset) if isinstance(value, dict) else value


def expected_text(claim: dict, dataset: str | None = None) -> str:
    metric = claim["metric"]
    unit = UNITS[metric]
    what = f"{metric} difference" if claim.get("reference") else metric
    detail = {
        "accuracy_at_step": lambda: f" at step {claim['step']}",
        "steps_to_accuracy": lambda: f" to {per_dataset(claim, 'threshold', dataset)}%",
        "stable_accuracy": lambda: f" (last {claim['last_k']} evaluations)",
        "stability": lambda: f" (last {claim['last_k']} evaluations)",
        "steps_to_stable": lambda: f" (within {per_dataset(claim, 'within', dataset):g} pp of "
                                   f"the mean of the last {claim['last_k']} evaluations)",
    }.get(metric, lambda: "")()
    return f"{what}{detail} {band(claim).text(lambda v: _fmt(v, unit))} {unit}"


# --- values from the curves -----------------------------------------------------------------

def curve_value(curve: pd.DataFrame, claim: dict, dataset: str | None = None) -> float:
    """One run's value of a curve metric. `curve`: its evaluations (columns step, value, the
    accuracy as a fraction), any order; `claim` with its schema defaults (last_k, within).
    Evaluations at step 0 (the untrained model) never count towards the stable accuracy.
    Returns +inf for "never" (steps_to_*), NaN when the run has no evaluation to read."""
    curve = curve.sort_values("step")
    steps = curve["step"].to_numpy()
    acc = curve["value"].to_numpy(dtype=float) * 100.0
    metric = claim["metric"]
    if len(steps) == 0:
        return math.nan
    if metric == "accuracy_at_step":
        # The run must have got that far: a run that stopped earlier has no value at the step.
        at = steps <= claim["step"]
        return float(acc[at][-1]) if at.any() and steps[-1] >= claim["step"] else math.nan
    if metric == "steps_to_accuracy":
        reached = np.flatnonzero(acc >= per_dataset(claim, "threshold", dataset))
        return float(steps[reached[0]]) if len(reached) else math.inf
    later = steps > 0
    window = acc[later][-int(claim["last_k"]):]
    if len(window) == 0:
        return math.nan
    if metric == "stable_accuracy":
        return float(window.mean())
    if metric == "stability":
        return float(window.std(ddof=1)) if len(window) >= 2 else math.nan
    if metric == "steps_to_stable":
        off = np.abs(acc - window.mean()) > float(per_dataset(claim, "within", dataset))
        if off[-1]:
            return math.inf
        # the first evaluation after the last one that was off the stable value
        first = np.flatnonzero(off)[-1] + 1 if off.any() else 0
        return float(steps[first])
    raise ValueError(f"not a curve metric: {metric}")


class StepCount(NamedTuple):
    """One run's step-count value: the evaluation step that found it, how much earlier it may
    have happened (back to the evaluation before), and whether it never happened."""
    observed: float
    resolution: float
    never: bool


def step_count(curve: pd.DataFrame, claim: dict, dataset: str | None = None) -> StepCount:
    """A run's step-count metric. A run that never got there counts as its last step, exactly:
    the mean is then over the steps within the run (a restricted mean), finite and comparable
    whatever the share of "never"."""
    value = curve_value(curve, claim, dataset)
    steps = np.sort(curve["step"].to_numpy(dtype=float))
    if math.isinf(value):
        return StepCount(float(steps[-1]), 0.0, True)
    earlier = steps[steps < value]
    return StepCount(value, float(value - earlier[-1]) if len(earlier) else 0.0, False)


def window_start(curve: pd.DataFrame, last_k: int) -> tuple[float, float]:
    """(first step of the last `last_k` evaluations after step 0, last step) of one run."""
    steps = np.sort(curve["step"].to_numpy())
    later = steps[steps > 0][-int(last_k):]
    return (float(later[0]), float(steps[-1])) if len(later) else (math.nan, math.nan)


def _short_window_note(runs: pd.DataFrame, names: list, claim: dict, curves: dict) -> str:
    """A note when the stable window reaches back into the first half of a run: there the
    curve has not levelled out, and its mean is not a plateau's value."""
    worst = None
    for _, run in runs[runs["ablation"].isin(names) & (runs["status"] == "ok")].iterrows():
        curve = curves.get((run["dataset"], run["ablation"], int(run["seed"])))
        if curve is None:
            continue
        start, last = window_start(curve, claim["last_k"])
        if start < 0.5 * last and (worst is None or start / last < worst[0] / worst[1]):
            worst = (start, last)
    if worst is None:
        return ""
    return (f"the last {claim['last_k']} evaluations reach back to step {worst[0]:.0f} of "
            f"{worst[1]:.0f}: the curves may not have levelled out")


def _curves(metrics: pd.DataFrame, split: str) -> dict:
    """(dataset, ablation, seed) -> evaluation table (step, value) of one split's accuracy."""
    rows = metrics[(metrics["split"] == split) & (metrics["metric"] == "accuracy")]
    return {(d, a, int(s)): g[["step", "value"]]
            for (d, a, s), g in rows.groupby(["dataset", "ablation", "seed"], sort=False)}


def curves_by_split(metrics: pd.DataFrame | None) -> dict:
    """split -> (dataset, ablation, seed) -> that split's accuracy curve, for the curve metrics."""
    if metrics is None:
        return {}
    return {split: _curves(metrics, split) for split in ("test", "train")}


@dataclass
class Observations:
    """What the runs recorded beyond final.csv: their accuracy curves (split -> (dataset,
    ablation, seed) -> curve, see curves_by_split) and, where the test set's own sampling counts
    (config `uncertainty`), the test examples each run got right at its stored evaluations:
    (dataset, ablation, seed) -> (steps, right: bool array, evaluations x examples)."""
    curves: dict
    right: dict | None = None


# Metrics whose value is an average over the test examples: with the examples' predictions
# their interval counts the test set's sampling too.
EXAMPLE_METRICS = ("stable_accuracy", "test_accuracy", "gap")


# --- one claim on the runs of one dataset ---------------------------------------------------

@dataclass
class Measurement:
    """What the runs say about one claim on one dataset: its claims-table row so far (what is
    compared, each side's mean and seeds, notes) and the test of the measured quantity (None:
    no data). Parameter counts are `exact`: the row's interval is the value itself."""
    row: dict
    test: Test | None = None
    exact: bool = False


def seed_values(runs: pd.DataFrame, ablation: str, claim: dict, curves: dict,
                dataset: str | None) -> dict:
    """seed -> the claim's value of each finished run of `ablation` that has one: a number, or
    for step counts a StepCount."""
    ok = runs[(runs["ablation"] == ablation) & (runs["status"] == "ok")]
    metric = claim["metric"]
    if metric in METRICS:
        column, factor, _ = METRICS[metric]
        values = {int(s): float(v) * factor for s, v in zip(ok["seed"], ok[column])}
        return {s: v for s, v in values.items() if not math.isnan(v)}
    read = step_count if metric in STEP_METRICS else curve_value
    values = {}
    for d, s in zip(ok["dataset"], ok["seed"]):
        curve = curves.get((d, ablation, int(s)))
        if curve is not None:
            values[int(s)] = read(curve, claim, dataset or d)
    return {s: v for s, v in values.items() if not math.isnan(_observed(v))}


def _observed(value) -> float:
    return value.observed if isinstance(value, StepCount) else value


def seed_test(metric: str, a: dict, b: dict | None) -> Test:
    """The test of a claim on its seed -> value dicts: the ablation's `a` against the reference's
    `b` (None: the values themselves), paired on the seeds both have; for diverged_fraction
    the values are 1 for a diverged run, 0 for a finished one, and every run counts."""
    if metric == "diverged_fraction":
        if b is None:
            return BinomialTest(sum(a.values()), len(a))
        return ProportionDifferenceTest(sum(a.values()), len(a), sum(b.values()), len(b))
    seeds = sorted(test_seeds(a, b))
    if metric in STEP_METRICS:
        if b is None:
            return BoxMeanTest([a[s].observed for s in seeds], [a[s].resolution for s in seeds],
                               [0.0] * len(seeds))
        # the ablation's true step may be up to its resolution earlier (the difference lower),
        # the reference's up to its own (the difference higher)
        return BoxMeanTest([a[s].observed - b[s].observed for s in seeds],
                           [a[s].resolution for s in seeds], [b[s].resolution for s in seeds],
                           "paired t")
    if b is None:
        return MeanTest([a[s] for s in seeds])
    return MeanTest([a[s] - b[s] for s in seeds], "paired t")


def measure(claim: dict, runs: pd.DataFrame, observed: Observations | None = None,
            dataset: str | None = None) -> Measurement:
    """The runs (of one dataset) on one claim."""
    row = _empty_row(claim, runs, dataset)
    names = compared(claim)
    missing = [n for n in names if not (runs["ablation"] == n).any()]
    if missing:
        return Measurement({**row, "note": f"no runs of {', '.join(missing)} in the results"})
    if claim["metric"] == "param_count":
        return _param_count_measurement(claim, runs, row)
    if claim["metric"] == "diverged_fraction":
        return _diverged_measurement(claim, runs, row)
    return _seed_measurement(claim, runs, names, observed or Observations({}), dataset, row)


def _empty_row(claim: dict, runs: pd.DataFrame, dataset: str | None) -> dict:
    """The claims table's row of `claim` before anything is measured."""
    return {"dataset": dataset if dataset is not None else
            ", ".join(dict.fromkeys(runs["dataset"].astype(str))),
            "claim": claim["text"], "ablation": claim["ablation"],
            "reference": claim.get("reference") or "", "metric": claim["metric"],
            "unit": UNITS[claim["metric"]], "expected": expected_text(claim, dataset),
            "band_low": band(claim).low, "band_high": band(claim).high,
            "difference": math.nan, "ci_low": math.nan, "ci_high": math.nan,
            "ablation_mean": math.nan, "reference_mean": math.nan,
            "n_ablation": 0, "n_reference": 0, "method": "", "note": "", "uncertainty": "seeds"}


def seeds_run(runs: pd.DataFrame, claim: dict) -> int:
    """The seeds trained for the claim: the fewer of its ablation's and reference's."""
    return min(int((runs["ablation"] == n).sum()) for n in compared(claim))


def _param_count(runs: pd.DataFrame, ablation: str) -> float:
    counts = runs.loc[runs["ablation"] == ablation, "param_count"].dropna().unique()
    return float(counts[0]) if len(counts) == 1 else math.nan


def _param_count_measurement(claim: dict, runs: pd.DataFrame, row: dict) -> Measurement:
    ablation, reference = claim["ablation"], claim.get("reference")
    a = _param_count(runs, ablation)
    b = _param_count(runs, reference) if reference else 0.0
    return Measurement({**row, "difference": a - b, "ci_low": a - b, "ci_high": a - b,
                        "ablation_mean": a, "reference_mean": b if reference else math.nan,
                        "n_ablation": int((runs["ablation"] == ablation).sum()),
                        "n_reference": int((runs["ablation"] == reference).sum()) if reference else 0,
                        "method": "exact (parameter counts do not depend on the seed)",
                        "uncertainty": "none: exact"},
                       exact=True)


def _diverged_measurement(claim: dict, runs: pd.DataFrame, row: dict) -> Measurement:
    def diverged(ablation):  # seed -> 1 if that run diverged, else 0
        mine = runs[runs["ablation"] == ablation]
        return {int(s): int(status != "ok") for s, status in zip(mine["seed"], mine["status"])}

    a = diverged(claim["ablation"])
    b = diverged(claim["reference"]) if claim.get("reference") else None
    sides = dict(ablation_mean=sum(a.values()) / len(a), n_ablation=len(a),
                 reference_mean=sum(b.values()) / len(b) if b else math.nan,
                 n_reference=len(b) if b else 0)
    note = " vs ".join(f"{sum(v.values())}/{len(v)} diverged" for v in (a, b) if v is not None)
    return Measurement({**row, **sides, "note": note}, seed_test("diverged_fraction", a, b))


def _seed_measurement(claim: dict, runs: pd.DataFrame, names: list, observed: Observations,
                      dataset: str | None, row: dict) -> Measurement:
    """A final-table metric or one read from the curves, over seeds; diverged runs and runs
    without a value are left out, and a paired comparison uses the seeds both sides have.
    Where the examples' predictions are there, the test set's sampling counts too."""
    metric, reference = claim["metric"], claim.get("reference")
    curves = observed.curves.get(claim["split"], {})
    a = seed_values(runs, claim["ablation"], claim, curves, dataset)
    b = seed_values(runs, reference, claim, curves, dataset) if reference else None
    notes = _seed_notes(claim, runs, names, curves, a, b)
    sides = dict(n_ablation=len(a), n_reference=len(b) if b is not None else 0,
                 ablation_mean=_mean(a), reference_mean=_mean(b) if b is not None else math.nan,
                 uncertainty="seeds")
    if not a or (b is not None and not b):
        return Measurement({**row, **sides, "note": "; ".join(
            notes + ["no finished (non-diverged) runs to compare"])})
    test = seed_test(metric, a, b)
    if observed.right is not None and metric in EXAMPLE_METRICS:
        table, missing = _example_table(claim, runs, observed, dataset, sorted(test_seeds(a, b)))
        if table is not None:
            test = TwoWayMeanTest(table, "paired t" if b is not None else "t")
            sides["uncertainty"] = f"seeds and {table.shape[1]:,} test examples"
        else:
            notes.append(f"no stored test predictions for {missing}: seeds only")
    if test.n < 2:
        notes.append("too few seeds for an interval (need at least 2"
                     + (" that both finished)" if b is not None else ")"))
    return Measurement({**row, **sides, "note": "; ".join(notes)}, test)


def test_seeds(a: dict, b: dict | None) -> set:
    """The seeds a claim's test uses: all of `a`'s, or those `a` and `b` both have."""
    return set(a) if b is None else set(a) & set(b)


def _example_table(claim: dict, runs: pd.DataFrame, observed: Observations,
                   dataset: str | None, seeds: list) -> tuple[np.ndarray | None, str]:
    """The claim's value per seed and test example (seeds x examples; ablation minus reference
    on the same examples), or (None, which run lacks the evaluations it needs)."""
    sides = []
    for ablation in compared(claim):
        rows = []
        for seed in seeds:
            run = runs[(runs["ablation"] == ablation) & (runs["seed"] == seed)].iloc[0]
            key = (run["dataset"], ablation, int(seed))
            values = _example_values(claim, run, observed.right.get(key),
                                     observed.curves.get("test", {}).get(key))
            if values is None:
                return None, f"{ablation} seed {seed}"
            rows.append(values)
        sides.append(np.array(rows))
    return (sides[0] - sides[1] if len(sides) > 1 else sides[0]), ""


def _example_values(claim: dict, run, stored, curve) -> np.ndarray | None:
    """One run's value of the claim per test example: its correctness (in percent) averaged
    over the stable window, or at the last evaluation; for the gap, the run's train accuracy
    minus that. None when the run's stored evaluations do not hold the ones needed."""
    if stored is None or curve is None:
        return None
    steps, right = stored
    evaluations = np.sort(curve["step"].to_numpy())
    if claim["metric"] == "stable_accuracy":
        wanted = evaluations[evaluations > 0][-int(claim["last_k"]):]
    else:
        wanted = evaluations[-1:]
    rows = [np.flatnonzero(np.asarray(steps) == step) for step in wanted]
    if any(len(r) == 0 for r in rows):
        return None
    percent = 100.0 * np.asarray(right)[[r[0] for r in rows]].mean(axis=0)
    return 100.0 * float(run["train_accuracy"]) - percent if claim["metric"] == "gap" else percent


def _mean(values: dict) -> float:
    return float(np.mean([_observed(v) for v in values.values()])) if values else math.nan


def _seed_notes(claim: dict, runs: pd.DataFrame, names: list, curves: dict, a: dict,
                b: dict | None) -> list[str]:
    """Diverged runs left out, unpaired seeds, a short stable window, "never"s, and two
    ablations equal run for run."""
    notes = []
    for name in names:
        diverged = int(((runs["ablation"] == name) & (runs["status"] != "ok")).sum())
        if diverged:
            notes.append(f"{diverged} diverged run(s) of {name} left out")
    if b is not None and set(a) != set(b):
        alone = sorted(set(a) ^ set(b))
        notes.append(f"paired on the {len(set(a) & set(b))} seeds both finished "
                     f"(seed{'s' if len(alone) > 1 else ''} {', '.join(map(str, alone))} "
                     "on one side only)")
    if claim["metric"] in ("stable_accuracy", "stability", "steps_to_stable"):
        note = _short_window_note(runs, names, claim, curves)
        if note:
            notes.append(note)
    if claim["metric"] in STEP_METRICS:
        for name, values in ((claim["ablation"], a), (claim.get("reference"), b)):
            never = sum(v.never for v in (values or {}).values())
            if never:
                notes.append(f"{name}: never on {never} of {len(values)} seed(s), counted as "
                             "the run's last step")
    if b is not None:
        common = set(a) & set(b)
        if len(common) >= 2 and all(a[s] == b[s] for s in common):
            notes.append(f"the two ablations are equal run for run on all {len(common)} seeds")
    return notes


# --- the table ------------------------------------------------------------------------------

def claims_table(claims: list[dict], final: pd.DataFrame, metrics: pd.DataFrame | None,
                 rounds: list[list[int]] | None = None, right: dict | None = None) -> pd.DataFrame:
    """claims.csv: each claim on each of its `datasets`, each dataset's claims tested as one
    family (mlpstudy.sequential): over the looks of `rounds` (adaptive seeds), or in one look
    of every seed when `rounds` is None; `right`: the runs' test examples got right
    (Observations), when the test set's sampling counts."""
    rows = {}
    observed = Observations(curves_by_split(metrics), right)
    for dataset in dict.fromkeys(d for c in claims for d in c["datasets"]):
        mine = [c for c in claims if dataset in c["datasets"]]
        runs = final[final["dataset"] == dataset]
        plan = rounds or [sorted(set(runs["seed"].astype(int)))]
        for claim, row in zip(mine, dataset_claims(mine, runs, observed, dataset, plan)[0]):
            rows[id(claim), dataset] = row
    table = pd.DataFrame([rows[id(c), d] for c in claims for d in c["datasets"]],
                         columns=COLUMNS)
    # Six decimals: far below a seed's noise, and no 80.10000000000001 in the CSV.
    return table.round({c: 6 for c in ("difference", "ci_low", "ci_high", "ablation_mean",
                                       "reference_mean")})


def dataset_claims(claims: list[dict], runs: pd.DataFrame, observed: Observations, dataset: str,
                   rounds: list[list[int]], looks: int | None = None
                   ) -> tuple[list[dict], list[Track]]:
    """The claims-table rows of one dataset's claims after `looks` of the looks of `rounds`
    (all by default), and the tracks of its family (mlpstudy.sequential)."""
    looks = len(rounds) if looks is None else looks
    weights = spending(rounds)
    # One order of the runs, whatever table they come from: a look's numbers are then the
    # same in its plan_round job and in the final claims check.
    runs = runs.sort_values(["ablation", "seed"], kind="stable")
    seen = [set().union(*rounds[:k + 1]) for k in range(len(rounds))]
    measured = {}  # (claim, look) -> Measurement

    def measure_at(claim, k):
        if (id(claim), k) not in measured:
            measured[id(claim), k] = measure(claim, runs[runs["seed"].isin(seen[k])],
                                             observed, dataset)
        return measured[id(claim), k]

    first = [(c, measure_at(c, 0)) for c in claims]
    family = [Track(c, band(c)) for c, m in first if not m.exact and m.test is not None]
    most = sum(len(r) for r in rounds)  # the seeds an ablation may get: adaptive_seeds.max
    run_looks(family, lambda c, k: measure_at(c, k).test, weights, looks, most)
    adjusted = holm_adjusted([t.evidence for t in family])
    name = (f"Holm over this dataset's {len(family)} tested claims, error rate {ALPHA:g}, "
            f"{len(rounds)} planned look{'s' if len(rounds) > 1 else ''}")
    rows_by_claim = {id(t.claim): _track_row(t, measure_at, weights, len(family), p_adj, name)
                     for t, p_adj in zip(family, adjusted)}
    rows = []
    for claim, at_first in first:
        if id(claim) in rows_by_claim:
            rows.append({**rows_by_claim[id(claim)], "seeds_run": seeds_run(runs, claim)})
        elif at_first.exact:
            rows.append({**at_first.row, "verdict": verdict(at_first.row["ci_low"],
                                                            at_first.row["ci_high"], band(claim)),
                         "seeds_run": seeds_run(runs, claim), **_untested("not tested: exact")})
        else:
            rows.append({**at_first.row, "verdict": NO_DATA, "seeds_run": seeds_run(runs, claim),
                         **_untested("not tested: no data")})
    return rows, family


def _track_row(track: Track, measure_at, weights: list[float], m: int, p_adjusted: float,
               family: str) -> dict:
    """A tested claim's row: decided, the look that decided it, its interval at the level it
    was decided at; open, its last look, at a level whose interval cannot decide it."""
    look = track.evidence_look if track.decided_at is not None else track.last_look
    measured, test = measure_at(track.claim, look), track.tests[look]
    level = shown_level(track, weights, m)
    low, high = test.interval(1 - level)
    return {**measured.row, "difference": test.estimate, "ci_low": low, "ci_high": high,
            "method": test.method, "verdict": track.verdict if track.decided_at is not None
            else INCONCLUSIVE, "seeds": test.n, "looks": track.looks,
            "look_levels": " ".join(f"{a:.3g}" for a in track.levels),
            "ci_level": round(1 - level, 6), "p_value": min(track.evidence, 1.0),
            "threshold": track.threshold, "p_adjusted": p_adjusted,
            "seeds_needed": track.seeds_needed if track.decided_at is None else math.nan,
            "why_open": needed_text(track) if track.decided_at is None else "",
            "family": family}


def _untested(why: str) -> dict:
    return {"seeds": 0, "looks": 1, "look_levels": "", "ci_level": 1.0, "p_value": math.nan,
            "threshold": math.nan, "p_adjusted": math.nan, "seeds_needed": math.nan,
            "why_open": "", "family": why}


def seeds_and_looks(row) -> str:
    """A claims-table row's seeds and looks in words ("" for no data): what its test used, what
    was trained when more, and for an open claim the seeds that would decide it."""
    if row["verdict"] == NO_DATA:
        return ""
    if row["metric"] == "param_count":
        return "exact"
    looks = int(row.get("looks", 1) or 1)
    text = f"{int(row['seeds'])} seeds" + (f", {looks} looks" if looks > 1 else "")
    if int(row.get("seeds_run", row["seeds"]) or 0) > int(row["seeds"]):
        text += f" ({int(row['seeds_run'])} run)"
    why_open = row.get("why_open")
    return text + (f"; {why_open}" if isinstance(why_open, str) and why_open else "")


def needed_text(track: Track) -> str:
    """What would decide an open claim: about how many seeds, or why no number would."""
    if math.isinf(track.seeds_needed):
        return track.tests[track.last_look].undecidable
    return f"about {int(track.seeds_needed)} seeds would decide it"
