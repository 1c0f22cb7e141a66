"""The sweep figure: a line per starting ablation against the swept value, diverged seeds
counted and marked, even where every seed of a point diverged."""
import matplotlib.pyplot as plt
import pandas as pd
import pytest

from mlpstudy.plan import sweep_points
from mlpstudy.figures import save, sweep_figure

pytestmark = pytest.mark.unit

SWEEP = {"ablations": ["base", "maxout"], "values": {"lr": [0.1, 1.0, 10.0]}}
# lr 0.1 is the protocol's: those points are base and maxout themselves.
CONFIG = {"datasets": ["tiny"], "protocol": {"lr": 0.1}, "dataset_protocol": {},
          "ablations": {"base": {}, "maxout": {"activation": "maxout"}}}


def final_table():
    rows = []
    for point in sweep_points("lr", SWEEP, CONFIG):
        lr = point["values"]["lr"]
        for seed in range(3):
            diverged = point["start"] == "maxout" and (lr == 10.0 or (lr == 1.0 and seed == 0))
            rows.append({"dataset": "tiny", "ablation": point["ablation"], "seed": seed,
                         "status": "diverged" if diverged else "ok",
                         "stable_test_accuracy": 0.9 - 0.01 * seed + (0.02 if lr == 1.0 else 0)})
    return pd.DataFrame(rows)


def test_sweep_figure_marks_diverged_seeds_and_draws_a_line_per_starting_ablation(tmp_path):
    sweep = {"description": "lr", "keys": ["lr"], "points": sweep_points("lr", SWEEP, CONFIG)}
    fig = sweep_figure(final_table(), "lr", sweep, "tiny")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["base", "maxout"]
    assert sorted(t.get_text() for t in ax.texts) == ["1/3", "3/3"]
    assert ax.get_xscale() == "log" and "lr" in ax.get_xlabel()
    assert "Sweep lr: tiny" in ax.get_title()
    save(fig, tmp_path / "sweep_lr.png", tmp_path / "sweep_lr.svg")
    assert (tmp_path / "sweep_lr.png").stat().st_size > 1000
    plt.close("all")
