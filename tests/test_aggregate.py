"""Aggregation of synthetic runs, a diverged one included, into the three tables."""
import math

import pandas as pd
import pytest

from mlpstudy.aggregate import FINAL_COLUMNS, load_runs, order_by, ablation_stats
from synthetic_runs import write_run, write_study

pytestmark = pytest.mark.unit


@pytest.fixture
def tables(tmp_path):
    paths = write_study(tmp_path)
    paths.append(write_run(tmp_path, "tiny", "base", 9, 0.5, 203530, benchmark=False))
    metrics, final = load_runs(paths)
    order = ["maxout", "base", "kl_div"]
    return order_by(metrics, order), order_by(final, order)


def test_metrics_table_holds_every_curve_with_run_columns(tables):
    metrics, _ = tables
    assert list(metrics.columns) == ["dataset", "ablation", "seed", "step", "epoch", "split",
                                     "metric", "value"]
    assert set(metrics["ablation"]) == {"base", "maxout", "kl_div"}
    assert metrics["ablation"].iloc[0] == "maxout"  # config order, not alphabetical
    diverged = metrics[(metrics["ablation"] == "maxout") & (metrics["seed"] == 3)]
    assert diverged["step"].max() == 20  # its curves stop where it diverged


def test_final_table_has_one_row_per_run_with_gap_status_and_benchmark(tables):
    _, final = tables
    assert list(final.columns) == FINAL_COLUMNS
    assert len(final) == 3 * 3 + 1 + 1
    row = final[(final["ablation"] == "base") & (final["seed"] == 1)].iloc[0]
    assert row["gap"] == pytest.approx(0.01)
    assert row["max_rss_mb"] == pytest.approx(301.5) and row["bench_s"] == pytest.approx(2.1)
    assert row["param_count"] == 203530 and row["status"] == "ok"
    bad = final[final["status"] == "diverged"]
    assert list(bad["ablation"]) == ["maxout"] and bad["diverged_at_step"].iloc[0] == 30
    no_bench = final[final["seed"] == 9].iloc[0]
    assert math.isnan(no_bench["max_rss_mb"])  # a missing benchmark is NaN, not an error


def test_summary_counts_diverged_runs_but_leaves_them_out_of_the_statistics(tables):
    _, final = tables
    summary = ablation_stats(final, {"maxout": "Maxout <k=2>"}).set_index("ablation")
    maxout = summary.loc["maxout"]
    assert (maxout["n_runs"], maxout["n_ok"], maxout["n_diverged"]) == (4, 3, 1)
    assert maxout["test_acc_pct_mean"] == pytest.approx(93.0)
    assert maxout["test_acc_pct_std"] == pytest.approx(1.0)
    half = 4.302653 * 1.0 / math.sqrt(3)  # t(0.975, 2) * s / sqrt(n)
    assert maxout["test_acc_pct_ci_low"] == pytest.approx(93 - half)
    assert maxout["gap_pct_mean"] == pytest.approx(1.0)
    assert maxout["description"] == "Maxout <k=2>"
    assert summary.loc["base", "n_ok"] == 4 and summary.loc["kl_div", "param_count"] == 203530


def test_tables_round_trip_through_csv(tables, tmp_path):
    _, final = tables
    final.to_csv(tmp_path / "final.csv", index=False)
    again = pd.read_csv(tmp_path / "final.csv")
    assert len(again) == len(final) and set(again["status"]) == {"ok", "diverged"}
