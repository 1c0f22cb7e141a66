"""Gather every run into three tables: all curves, one row per run, one row per ablation.

- metrics table: each run's metrics.csv with dataset, ablation and seed prepended.
- final table: one row per run from run.json (final accuracies and losses, gap,
  parameter count, status, versions, dataset checksum) plus wall time and peak
  memory from the run's Snakemake benchmark file.
- ablation_stats table: per (dataset, ablation) the number of runs, mean, std and 95% CI
  over seeds of the final test accuracy, of the stable test accuracy (mean of the last
  STABLE_LAST_K evaluations: the claims' default window) and of the gap, in percent. Diverged runs
  are counted but left out of these statistics: their "final" values are those of
  a broken model.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from .claims import curve_value
from .config import claim_defaults
from .stats import describe

# Evaluations averaged into a run's stable accuracy in the tables and figures: the window a
# claim uses unless it sets its own `last_k` (the schema's default).
STABLE_LAST_K = claim_defaults()["last_k"]

ID_COLUMNS = ("dataset", "ablation", "seed")
# ablation_stats.csv: per (dataset, ablation), each statistic of a final.csv column in percent
# over the non-diverged seeds, as the ESTIMATES' columns stat_column(statistic, estimate):
# test_acc_pct_mean, test_acc_pct_std, ... The summary page and figures read them by these names.
TEST_ACC_PCT, GAP_PCT, TRAIN_ACC_PCT, STABLE_ACC_PCT = (
    "test_acc_pct", "gap_pct", "train_acc_pct", "stable_acc_pct")
STATISTICS = {TEST_ACC_PCT: "test_accuracy", GAP_PCT: "gap", TRAIN_ACC_PCT: "train_accuracy",
              STABLE_ACC_PCT: "stable_test_accuracy"}
ESTIMATES = ("mean", "std", "ci_low", "ci_high")  # fields of stats.describe's estimate
# final.csv: one row per run, from its run.json (keys: runs.RUN_JSON) and what final_row and
# load_runs compute from the run's final metrics, its curve and its Snakemake benchmark.
FINAL_COLUMNS = [
    "dataset", "ablation", "seed", "status", "diverged_at_step", "steps", "evaluations",
    "param_count",
    "train_loss", "train_accuracy", "test_loss", "test_accuracy", "gap", "stable_test_accuracy",
    "wall_time_s", "bench_s", "max_rss_mb", "flop", "flop_rate", "probe_flop_rate",
    "device", "device_name", "threads",
    "python_version", "torch_version", "torchvision_version", "dataset_sha256", "started_at",
]


def read_benchmark(path: str | Path | None) -> dict:
    """Seconds and peak resident memory (MB) of a Snakemake benchmark tsv; NaN when absent."""
    if path is None or not Path(path).is_file():
        return {"bench_s": float("nan"), "max_rss_mb": float("nan")}
    table = pd.read_csv(path, sep="\t")
    # Snakemake writes "-" when it could not measure a value (e.g. a very short job).
    rss = pd.to_numeric(table["max_rss"], errors="coerce")
    return {"bench_s": float(table["s"].iloc[-1]), "max_rss_mb": float(rss.iloc[-1])}


def final_row(run: dict, benchmark: str | Path | None = None) -> dict:
    final = run.get("final") or {}
    row = {key: run.get(key) for key in FINAL_COLUMNS if key in run}
    for key in ("train_loss", "train_accuracy", "test_loss", "test_accuracy"):
        row[key] = float(final.get(key, float("nan")))
    row["gap"] = row["train_accuracy"] - row["test_accuracy"]
    row.update(read_benchmark(benchmark))
    return row


def load_runs(runs: list[dict]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(metrics, final) tables from [{"run": path, "metrics": path, "benchmark": path|None}]."""
    curves, finals = [], []
    for paths in runs:
        run = json.loads(Path(paths["run"]).read_text())
        metrics = pd.read_csv(paths["metrics"])
        for i, key in enumerate(ID_COLUMNS):
            metrics.insert(i, key, run[key])
        curves.append(metrics)
        row = final_row(run, paths.get("benchmark"))
        test = metrics[(metrics["split"] == "test") & (metrics["metric"] == "accuracy")]
        row["stable_test_accuracy"] = curve_value(
            test, {"metric": "stable_accuracy", "last_k": STABLE_LAST_K}) / 100.0
        # The grid the curve claims read (step 0, the untrained model, is not one of them).
        row["evaluations"] = int((test["step"] > 0).sum())
        finals.append(row)
    columns = list(ID_COLUMNS) + ["step", "epoch", "split", "metric", "value"]
    metrics = pd.concat(curves, ignore_index=True) if curves else pd.DataFrame(columns=columns)
    final = pd.DataFrame(finals).reindex(columns=FINAL_COLUMNS)
    # A step number, blank for runs that did not diverge (not 4.0 / NaN floats).
    final["diverged_at_step"] = final["diverged_at_step"].astype("Int64")
    return metrics, final


def stat_column(statistic: str, estimate: str) -> str:
    """The ablation_stats column of one estimate of a statistic: test_acc_pct_mean, ..."""
    return f"{statistic}_{estimate}"


def seed_curves(rows: pd.DataFrame) -> pd.DataFrame:
    """The step x seed table of one curve's rows of the metrics table (one ablation, split and
    metric); a seed that stopped early ends in NaN."""
    return rows.pivot_table(index="step", columns="seed", values="value", aggfunc="first")


def over_seeds(table: pd.DataFrame) -> pd.DataFrame:
    """The band of a step x seed table of curves: per step the mean, min and max over the seeds
    with a finite value there (a diverged seed's curve stops early; an infinite loss counts as
    missing). The curve figures draw it, and TensorBoard's seed groups hold it."""
    finite = table.replace([np.inf, -np.inf], np.nan)
    return pd.DataFrame({"mean": finite.mean(axis=1), "min": finite.min(axis=1),
                         "max": finite.max(axis=1)})


def order_by(table: pd.DataFrame, ablation_order: list[str]) -> pd.DataFrame:
    """Rows in config order (then seed), so every table and figure lists ablations alike."""
    rank = {name: i for i, name in enumerate(ablation_order)}
    keys = table["ablation"].map(lambda a: rank.get(a, len(rank)))
    sort_cols = [c for c in ("seed", "step") if c in table.columns]
    return (table.assign(_rank=keys).sort_values(["_rank", "dataset", *sort_cols], kind="stable")
            .drop(columns="_rank").reset_index(drop=True))


def ablation_stats(final: pd.DataFrame, descriptions: dict | None = None) -> pd.DataFrame:
    """One row per (dataset, ablation): seeds, test accuracy and gap statistics in percent."""
    rows = []
    for (dataset, ablation), group in final.groupby(["dataset", "ablation"], sort=False):
        ok = group[group["status"] == "ok"]
        row = {"dataset": dataset, "ablation": ablation,
               "description": (descriptions or {}).get(ablation, ""),
               "n_runs": len(group), "n_ok": len(ok),
               "n_diverged": int((group["status"] == "diverged").sum()),
               "seeds": " ".join(str(s) for s in sorted(group["seed"])),
               "param_count": int(group["param_count"].iloc[0])}
        for statistic, column in STATISTICS.items():
            est = describe(ok[column] * 100)
            row.update({stat_column(statistic, e): getattr(est, e) for e in ESTIMATES})
        row["wall_time_s_mean"] = float(group["wall_time_s"].mean())
        row["max_rss_mb_max"] = float(group["max_rss_mb"].max())
        rows.append(row)
    # Six decimals of a percentage: far below a seed's noise, and no float noise in the CSV.
    return pd.DataFrame(rows).round(6)
