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

import pandas as pd

from .stats import NO_DATA, Band, Estimate, describe, difference, verdict

# metric -> (column of the final table, factor to the unit shown, unit)
METRICS = {
    "test_accuracy": ("test_accuracy", 100.0, "pp"),
    "train_accuracy": ("train_accuracy", 100.0, "pp"),
    "gap": ("gap", 100.0, "pp"),
    "test_loss": ("test_loss", 1.0, "nats"),
    "train_loss": ("train_loss", 1.0, "nats"),
    "param_count": ("param_count", 1.0, "parameters"),
}
EXPECTS = ("greater", "less", "about", "at_most", "at_least")
COLUMNS = ["claim", "ablation", "reference", "metric", "unit", "expected", "verdict",
           "difference", "ci_low", "ci_high", "ablation_mean", "reference_mean",
           "n_ablation", "n_reference", "method", "note"]


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


def expected_text(claim: dict) -> str:
    metric = claim["metric"]
    unit = METRICS[metric][2]
    what = f"{metric} difference" if claim.get("reference") else metric
    return f"{what} {band(claim).text(lambda v: _fmt(v, unit))} {unit}"


def _values(final: pd.DataFrame, ablation: str, column: str, factor: float) -> tuple[dict, int, int]:
    """seed -> value of the ok runs of `ablation`, and the counts of all and of diverged runs."""
    runs = final[final["ablation"] == ablation]
    ok = runs[runs["status"] == "ok"]
    values = {int(s): float(v) * factor for s, v in zip(ok["seed"], ok[column])}
    return values, len(runs), len(runs) - len(ok)


def _param_count(final: pd.DataFrame, ablation: str) -> float:
    counts = final.loc[final["ablation"] == ablation, "param_count"].dropna().unique()
    return float(counts[0]) if len(counts) == 1 else math.nan


def check_claim(claim: dict, final: pd.DataFrame) -> dict:
    metric, ablation, reference = claim["metric"], claim["ablation"], claim.get("reference")
    column, factor, unit = METRICS[metric]
    row = {"claim": claim["text"], "ablation": ablation, "reference": reference or "",
           "metric": metric, "unit": unit, "expected": expected_text(claim),
           "difference": math.nan, "ci_low": math.nan, "ci_high": math.nan,
           "ablation_mean": math.nan, "reference_mean": math.nan,
           "n_ablation": 0, "n_reference": 0, "method": "", "note": ""}
    names = [ablation] + ([reference] if reference else [])
    missing = [n for n in names if not (final["ablation"] == n).any()]
    if missing:
        return {**row, "verdict": NO_DATA,
                "note": f"no runs of {', '.join(missing)} in the results"}

    notes = []
    if metric == "param_count":
        a = _param_count(final, ablation)
        b = _param_count(final, reference) if reference else 0.0
        d = a - b
        est = Estimate(1, d, 0.0, d, d, "exact (parameter counts do not depend on the seed)")
        row.update(ablation_mean=a, reference_mean=b if reference else math.nan,
                   n_ablation=int((final["ablation"] == ablation).sum()),
                   n_reference=int((final["ablation"] == reference).sum()) if reference else 0)
    else:
        a, n_a, div_a = _values(final, ablation, column, factor)
        b, n_b, div_b = ({}, 0, 0) if not reference else _values(final, reference, column, factor)
        for name, div in ((ablation, div_a), (reference, div_b)):
            if div:
                notes.append(f"{div} diverged run(s) of {name} left out")
        row.update(n_ablation=len(a), n_reference=len(b),
                   ablation_mean=describe(a.values()).mean,
                   reference_mean=describe(b.values()).mean if reference else math.nan)
        if not a or (reference and not b):
            return {**row, "verdict": NO_DATA,
                    "note": "; ".join(notes + ["no finished (non-diverged) runs to compare"])}
        est = difference(a, b) if reference else describe(a.values())
        if math.isnan(est.ci_low):
            notes.append("too few seeds for a 95% interval (need at least 2 on each side)")
    row.update(difference=est.mean, ci_low=est.ci_low, ci_high=est.ci_high, method=est.method,
               verdict=verdict(est.ci_low, est.ci_high, band(claim)), note="; ".join(notes))
    return row


def check_claims(claims: list[dict], final: pd.DataFrame) -> pd.DataFrame:
    table = pd.DataFrame([check_claim(c, final) for c in claims], columns=COLUMNS)
    # Six decimals: far below a seed's noise, and no 80.10000000000001 in the CSV.
    return table.round({c: 6 for c in ("difference", "ci_low", "ci_high", "ablation_mean",
                                       "reference_mean")})
