"""Check the report's claims (config `claims`) against the final table of the runs.

A claim compares one ablation's metric with a reference ablation's (their
difference of means over seeds), or, without a reference, the ablation's own
mean with a value. Its `expect` and `size` (and `tolerance`) define the band of
values the claim allows; the verdict compares the 95% interval with that band
(see mlpstudy.stats.verdict and config/README.md). Parameter counts do not depend
on the seed, so their "interval" is the exact value and the check is exact.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from .stats import (LEVEL, NO_DATA, Band, Estimate, describe, difference, evidence, proportion,
                    proportion_difference, verdict)

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
CENSORED = ("steps_to_accuracy", "steps_to_stable")  # "never" is a value: +inf
# Evaluations averaged into a run's "stable accuracy" in the tables and figures (claims
# choose their own with `last_k`; the default is the same).
STABLE_LAST_K = 10
UNITS = {**{m: spec[2] for m, spec in METRICS.items()}, **CURVE_METRICS,
         "diverged_fraction": "fraction of seeds"}
COLUMNS = ["dataset", "claim", "ablation", "reference", "metric", "unit", "expected",
           "band_low", "band_high", "verdict", "difference", "ci_low", "ci_high",
           "ablation_mean", "reference_mean", "n_ablation", "n_reference", "method", "note",
           # how the verdict was tested (mlpstudy.sequential with adaptive seeds)
           "looks", "look_levels", "ci_level", "p_value", "family"]
FIXED_FAMILY = "none: each claim on its own at 95% (fixed seeds)"


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


def threshold_of(claim: dict, dataset: str):
    threshold = claim.get("threshold")
    return threshold.get(dataset) if isinstance(threshold, dict) else threshold


def expected_text(claim: dict, dataset: str | None = None) -> str:
    metric = claim["metric"]
    unit = UNITS[metric]
    what = f"{metric} difference" if claim.get("reference") else metric
    detail = {
        "accuracy_at_step": lambda: f" at step {claim.get('step')}",
        "steps_to_accuracy": lambda: f" to {threshold_of(claim, dataset)}%",
        "stable_accuracy": lambda: f" (last {claim.get('last_k', STABLE_LAST_K)} evaluations)",
        "stability": lambda: f" (last {claim.get('last_k', STABLE_LAST_K)} evaluations)",
        "steps_to_stable": lambda: f" (within {claim.get('within', 1.0):g} pp of the mean of "
                                   f"the last {claim.get('last_k', STABLE_LAST_K)} evaluations)",
    }.get(metric, lambda: "")()
    return f"{what}{detail} {band(claim).text(lambda v: _fmt(v, unit))} {unit}"


# --- values from the curves -----------------------------------------------------------------

def curve_value(curve: pd.DataFrame, claim: dict, dataset: str | None = None) -> float:
    """One run's value of a curve metric. `curve`: its evaluations (columns step, value, the
    accuracy as a fraction), any order. Evaluations at step 0 (the untrained model) never
    count towards the stable accuracy. Returns +inf for "never" (steps_to_*), NaN when the
    run has no evaluation to read."""
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
        reached = np.flatnonzero(acc >= threshold_of(claim, dataset))
        return float(steps[reached[0]]) if len(reached) else math.inf
    later = steps > 0
    window = acc[later][-int(claim.get("last_k", STABLE_LAST_K)):]
    if len(window) == 0:
        return math.nan
    if metric == "stable_accuracy":
        return float(window.mean())
    if metric == "stability":
        return float(window.std(ddof=1)) if len(window) >= 2 else math.nan
    if metric == "steps_to_stable":
        off = np.abs(acc - window.mean()) > float(claim.get("within", 1.0))
        if off[-1]:
            return math.inf
        # the first evaluation after the last one that was off the stable value
        first = np.flatnonzero(off)[-1] + 1 if off.any() else 0
        return float(steps[first])
    raise ValueError(f"not a curve metric: {metric}")


def window_start(curve: pd.DataFrame, last_k: int) -> tuple[float, float]:
    """(first step of the last `last_k` evaluations after step 0, last step) of one run."""
    steps = np.sort(curve["step"].to_numpy())
    later = steps[steps > 0][-int(last_k):]
    return (float(later[0]), float(steps[-1])) if len(later) else (math.nan, math.nan)


def _short_window_note(final: pd.DataFrame, names: list, claim: dict, curves: dict) -> str:
    """A note when the stable window reaches back into the first half of a run: there the
    curve has not levelled out, and its mean is not a plateau's value."""
    worst = None
    for _, run in final[final["ablation"].isin(names) & (final["status"] == "ok")].iterrows():
        curve = curves.get((run["dataset"], run["ablation"], int(run["seed"])))
        if curve is None:
            continue
        start, last = window_start(curve, claim.get("last_k", STABLE_LAST_K))
        if start < 0.5 * last and (worst is None or start / last < worst[0] / worst[1]):
            worst = (start, last)
    if worst is None:
        return ""
    return (f"the last {claim.get('last_k', STABLE_LAST_K)} evaluations reach back to step "
            f"{worst[0]:.0f} of {worst[1]:.0f}: the curves may not have levelled out")


def _curves(metrics: pd.DataFrame, split: str) -> dict:
    """(dataset, ablation, seed) -> evaluation table (step, value) of one split's accuracy."""
    rows = metrics[(metrics["split"] == split) & (metrics["metric"] == "accuracy")]
    return {(d, a, int(s)): g[["step", "value"]]
            for (d, a, s), g in rows.groupby(["dataset", "ablation", "seed"], sort=False)}


def _runs(final: pd.DataFrame, ablation: str) -> pd.DataFrame:
    return final[final["ablation"] == ablation]


def _values(final: pd.DataFrame, ablation: str, claim: dict, curves: dict | None,
            dataset: str | None) -> tuple[dict, dict, int]:
    """seed -> value of the ok runs of `ablation` that have one (NaN, such as a curve metric's
    step the run never got to, is left out), seed -> the value a "never" is at least (the
    run's last step), and the count of diverged runs."""
    runs = _runs(final, ablation)
    ok = runs[runs["status"] == "ok"]
    metric = claim["metric"]
    if metric in METRICS:
        column, factor, _ = METRICS[metric]
        values = {int(s): float(v) * factor for s, v in zip(ok["seed"], ok[column])}
    else:
        values = {}
        for d, s in zip(ok["dataset"], ok["seed"]):
            curve = curves.get((d, ablation, int(s)))
            values[int(s)] = math.nan if curve is None else curve_value(curve, claim, dataset or d)
    last = {int(s): float(n) for s, n in zip(ok["seed"], ok["steps"])}
    values = {s: v for s, v in values.items() if not math.isnan(v)}
    return values, last, len(runs) - len(ok)


def _param_count(final: pd.DataFrame, ablation: str) -> float:
    counts = final.loc[final["ablation"] == ablation, "param_count"].dropna().unique()
    return float(counts[0]) if len(counts) == 1 else math.nan


def _mean_shown(values: dict, last: dict) -> float:
    """Mean with each "never" counted at the run's last step (a lower bound)."""
    return describe([last[s] if math.isinf(v) else v for s, v in values.items()]).mean


def censored_estimate(a: dict, a_last: dict, b: dict | None, b_last: dict | None,
                      level: float = LEVEL) -> Estimate:
    """Difference (or mean) of step counts where "never" (+inf) may occur.

    A "never" lies somewhere above the run's last step. The lower end of the interval comes
    from the smallest values the data allow for the ablation (never -> its last step) and the
    largest for the reference (never -> +inf); the upper end the other way round. Without any
    "never" this is the ordinary interval (paired t / Welch / one-sample t)."""
    def sub(values, last):
        return {s: (last[s] if math.isinf(v) else v) for s, v in values.items()}

    a_never = any(math.isinf(v) for v in a.values())
    a_low = sub(a, a_last)
    if b is None:
        est = describe(a_low.values(), level)
        if not a_never:
            return est
        return Estimate(est.n, est.mean, est.std, est.ci_low, math.inf, est.method)
    b_never = any(math.isinf(v) for v in b.values())
    b_low = sub(b, b_last)
    point = difference(a_low, b_low, level)
    if not (a_never or b_never):
        return point
    low = -math.inf if b_never else difference(a_low, b, level).ci_low
    high = math.inf if a_never else difference(a, b_low, level).ci_high
    return Estimate(point.n, point.mean, point.std, low, high, point.method)


@dataclass
class Measurement:
    """What the runs say about one claim on one dataset, before any test: its claims-table
    row so far (what is compared, each side's mean and count, notes) and `interval(level)`,
    the difference (or value) with its interval at that confidence level (None: no data)."""
    row: dict
    interval: Callable[[float], Estimate] | None = None

    @property
    def exact(self) -> bool:
        """A parameter count: no uncertainty, nothing to test."""
        return self.row["metric"] == "param_count"


def measure(claim: dict, final: pd.DataFrame, metrics: pd.DataFrame | None = None,
            dataset: str | None = None, curves: dict | None = None) -> Measurement:
    """The runs of `final` (of `dataset` when given) on one claim."""
    if dataset is not None:
        final = final[final["dataset"] == dataset]
    row = _empty_row(claim, final, dataset)
    names = [claim["ablation"]] + ([claim["reference"]] if claim.get("reference") else [])
    missing = [n for n in names if not (final["ablation"] == n).any()]
    if missing:
        return Measurement({**row, "note": f"no runs of {', '.join(missing)} in the results"})
    if claim["metric"] == "param_count":
        interval, sides, notes = _param_count_estimate(claim, final)
    elif claim["metric"] == "diverged_fraction":
        interval, sides, notes = _diverged_estimate(claim, final, names)
    else:
        interval, sides, notes = _seed_estimate(claim, final, names, metrics, curves, dataset)
    return Measurement({**row, **sides, "note": "; ".join(notes)}, interval)


def verdict_row(measurement: Measurement, claim: dict, level: float = LEVEL) -> dict:
    """The claims-table row: the measurement's interval at `level` against the claim's band."""
    row = measurement.row
    if measurement.interval is None:
        return {**row, "verdict": NO_DATA}
    est = measurement.interval(level)
    note = row["note"]
    if math.isnan(est.ci_low) or math.isnan(est.ci_high):
        note = "; ".join(filter(None, [note, "too few seeds for an interval "
                                             "(need at least 2 on each side)"]))
    return {**row, "difference": est.mean, "ci_low": est.ci_low, "ci_high": est.ci_high,
            "method": est.method, "verdict": verdict(est.ci_low, est.ci_high, band(claim)),
            "note": note}


def check_claim(claim: dict, final: pd.DataFrame, metrics: pd.DataFrame | None = None,
                dataset: str | None = None, curves: dict | None = None,
                level: float = LEVEL) -> dict:
    """The verdict of one claim on the runs of `final` (of `dataset` when given), its
    interval at confidence `level`."""
    return verdict_row(measure(claim, final, metrics, dataset, curves), claim, level)


def _empty_row(claim: dict, final: pd.DataFrame, dataset: str | None) -> dict:
    """The claims table's row of `claim` before anything is measured."""
    return {"dataset": dataset if dataset is not None else
            ", ".join(dict.fromkeys(final["dataset"].astype(str))),
            "claim": claim["text"], "ablation": claim["ablation"],
            "reference": claim.get("reference") or "", "metric": claim["metric"],
            "unit": UNITS[claim["metric"]], "expected": expected_text(claim, dataset),
            "band_low": band(claim).low, "band_high": band(claim).high,
            "difference": math.nan, "ci_low": math.nan, "ci_high": math.nan,
            "ablation_mean": math.nan, "reference_mean": math.nan,
            "n_ablation": 0, "n_reference": 0, "method": "", "note": ""}


# Each estimate below returns (level -> Estimate, or None when a side has no finished run to
# compare; the row's means and counts of both sides; notes for the row).

def _param_count_estimate(claim: dict, final: pd.DataFrame) -> tuple[Callable, dict, list]:
    ablation, reference = claim["ablation"], claim.get("reference")
    a = _param_count(final, ablation)
    b = _param_count(final, reference) if reference else 0.0
    d = a - b
    est = Estimate(1, d, 0.0, d, d, "exact (parameter counts do not depend on the seed)")
    sides = dict(ablation_mean=a, reference_mean=b if reference else math.nan,
                 n_ablation=int((final["ablation"] == ablation).sum()),
                 n_reference=int((final["ablation"] == reference).sum()) if reference else 0)
    return lambda level: est, sides, []


def _diverged_estimate(claim: dict, final: pd.DataFrame,
                       names: list) -> tuple[Callable, dict, list]:
    reference = claim.get("reference")
    counts = [(int((_runs(final, n)["status"] != "ok").sum()), len(_runs(final, n)))
              for n in names]

    def interval(level):
        return (proportion(*counts[0], level=level) if not reference
                else proportion_difference(*counts[0], *counts[1], level=level))
    sides = dict(ablation_mean=counts[0][0] / counts[0][1], n_ablation=counts[0][1],
                 reference_mean=counts[1][0] / counts[1][1] if reference else math.nan,
                 n_reference=counts[1][1] if reference else 0)
    return interval, sides, [" vs ".join(f"{k}/{n} diverged" for k, n in counts)]


def _seed_estimate(claim: dict, final: pd.DataFrame, names: list, metrics: pd.DataFrame | None,
                   curves: dict | None, dataset: str | None) -> tuple[Callable | None, dict, list]:
    """Difference (or mean) over seeds of a final-table metric or one read from the curves;
    diverged runs and runs without a value are left out."""
    metric, reference = claim["metric"], claim.get("reference")
    if metric in CURVE_METRICS and curves is None:
        if metrics is None:
            raise ValueError(f"metric {metric} needs the curves (metrics table)")
        curves = _curves(metrics, claim.get("split") or "test")
    a, a_last, div_a = _values(final, claim["ablation"], claim, curves, dataset)
    b, b_last, div_b = (_values(final, reference, claim, curves, dataset) if reference
                        else ({}, {}, 0))
    notes = [f"{div} diverged run(s) of {name} left out"
             for name, div in ((claim["ablation"], div_a), (reference, div_b)) if div]
    notes += _seed_notes(claim, final, names, curves, a, b)
    censored = metric in CENSORED
    sides = dict(n_ablation=len(a), n_reference=len(b),
                 ablation_mean=_side_mean(a, a_last, censored),
                 reference_mean=_side_mean(b, b_last, censored) if reference else math.nan)
    if not a or (reference and not b):
        return None, sides, notes + ["no finished (non-diverged) runs to compare"]
    if censored:
        if any(math.isinf(v) for v in list(a.values()) + list(b.values())):
            notes.append("never counted as the run's last step for the measured value; "
                         "the interval covers every step it could have taken")

        def interval(level):
            return censored_estimate(a, a_last, b if reference else None,
                                     b_last if reference else None, level)
    else:
        def interval(level):
            return difference(a, b, level) if reference else describe(a.values(), level)
    return interval, sides, notes


def _seed_notes(claim: dict, final: pd.DataFrame, names: list, curves: dict | None,
                a: dict, b: dict) -> list[str]:
    """Where the stable window is short, and on how many seeds a step count is "never"."""
    notes = []
    if claim["metric"] in ("stable_accuracy", "stability", "steps_to_stable"):
        note = _short_window_note(final, names, claim, curves)
        if note:
            notes.append(note)
    if claim["metric"] in CENSORED:
        for name, vals in ((claim["ablation"], a), (claim.get("reference"), b)):
            never = sum(math.isinf(v) for v in vals.values())
            if never:
                notes.append(f"{name}: never on {never} of {len(vals)} seed(s)")
    return notes


def _side_mean(values: dict, last: dict, censored: bool) -> float:
    return _mean_shown(values, last) if censored else describe(values.values()).mean


def look_columns(looks: int, levels: list[float], ci_level: float, p_value: float,
                 family: str) -> dict:
    """The claims table's columns on how a verdict was tested."""
    return {"looks": looks, "look_levels": " ".join(f"{a:.3g}" for a in levels),
            "ci_level": round(ci_level, 6), "p_value": p_value, "family": family}


def seeds_and_looks(row) -> str:
    """A claims-table row's seeds (the fewer of its two sides) and looks, in words ("" for
    no data): the forest plot and the summary page show it beside the verdict."""
    if row["verdict"] == NO_DATA:
        return ""
    n = min(row["n_ablation"], row["n_reference"]) if row["reference"] else row["n_ablation"]
    looks = int(row.get("looks", 1) or 1)
    return f"{int(n)} seeds" + (f", {looks} looks" if looks > 1 else "")


def curves_by_split(metrics: pd.DataFrame | None) -> dict:
    """split -> (dataset, ablation, seed) -> that split's accuracy curve, for the curve metrics."""
    if metrics is None:
        return {}
    return {split: _curves(metrics, split) for split in ("test", "train")}


def check_claims(claims: list[dict], final: pd.DataFrame,
                 metrics: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per claim and dataset, each claim on its own at 95% (the fixed-seeds study;
    mlpstudy.sequential tests them as a family over rounds). A claim is checked on its
    `datasets` when it lists them (the workflow passes those where its ablations run), else
    on every dataset of `final` where its ablation has runs (or once over all of `final`)."""
    curves = curves_by_split(metrics)
    rows = []
    for claim in claims:
        datasets = claim.get("datasets")
        if datasets is None:
            datasets = list(dict.fromkeys(
                final.loc[final["ablation"] == claim["ablation"], "dataset"])) or [None]
        for dataset in datasets:
            measured = measure(claim, final, metrics, dataset,
                               curves.get(claim.get("split") or "test"))
            p = (evidence(measured.interval, band(claim))[0]
                 if measured.interval is not None and not measured.exact else math.nan)
            levels = [] if math.isnan(p) else [1 - LEVEL]
            rows.append({**verdict_row(measured, claim),
                         **look_columns(1, levels, LEVEL, p, FIXED_FAMILY)})
    return claims_frame(rows)


def claims_frame(rows: list[dict]) -> pd.DataFrame:
    table = pd.DataFrame(rows, columns=COLUMNS)
    # Six decimals: far below a seed's noise, and no 80.10000000000001 in the CSV.
    return table.round({c: 6 for c in ("difference", "ci_low", "ci_high", "ablation_mean",
                                       "reference_mean")})
