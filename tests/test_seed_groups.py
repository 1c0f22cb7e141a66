"""TensorBoard's seed groups: an ablation's mean run holds the mean over its seeds with their
min-max band at every step, read back by TensorBoard; the custom-scalars layout draws each
figure group's ablations as a margin chart per panel."""
import numpy as np
import pandas as pd
import pytest

from conftest import assert_mean_run, event_scalars, read_layout
from mlpstudy.figures import PANELS
from mlpstudy.seed_groups import layout, write_layout, write_mean_run

pytestmark = pytest.mark.unit

CURVES = [("batch", "loss"), ("train", "loss"), ("train", "accuracy"), ("test", "loss"),
          ("test", "accuracy")]


def seed_curves(seeds=(0, 1, 2), steps=range(0, 12, 2), diverges=None):
    """Curves of several seeds, as the metrics table has them; seed `diverges` stops at step 6
    with an infinite loss there (a diverged run's curves end where it diverged)."""
    rng = np.random.default_rng(0)
    rows = []
    for seed in seeds:
        for step in steps:
            if seed == diverges and step > 6:
                break
            for split, metric in CURVES:
                value = rng.uniform(0.5, 1.0) if metric == "accuracy" else rng.uniform(0.1, 2)
                if seed == diverges and step == 6 and metric == "loss":
                    value = np.inf
                rows.append((seed, step, 0, split, metric, value))
    return pd.DataFrame(rows, columns=["seed", "step", "epoch", "split", "metric", "value"])


@pytest.mark.parametrize("diverges", [None, 2])
def test_the_mean_run_holds_the_mean_over_seeds_and_their_band_at_every_step(tmp_path, diverges):
    curves = seed_curves(diverges=diverges)
    write_mean_run(tmp_path / "mean", curves, "data", "abl")
    assert_mean_run(tmp_path / "mean", curves, "data", "abl")
    # After a seed diverged, the mean is over the others: not over a shorter curve's NaN.
    late = curves[(curves["step"] == 10) & (curves["split"] == "test")
                  & (curves["metric"] == "accuracy")]["value"]
    assert len(late) == (2 if diverges is not None else 3)
    steps = dict(event_scalars(tmp_path / "mean")["test/accuracy"])
    assert steps[10] == pytest.approx(late.mean(), rel=1e-6)


def test_the_check_of_a_mean_run_fails_on_a_run_of_other_seeds(tmp_path):
    """The check above can fail: a mean run over two of three seeds is not theirs."""
    curves = seed_curves()
    write_mean_run(tmp_path / "mean", curves[curves["seed"] != 2], "data", "abl")
    with pytest.raises(AssertionError):
        assert_mean_run(tmp_path / "mean", curves, "data", "abl")


def test_a_rewritten_mean_run_is_one_event_file_and_starts_its_steps_over(tmp_path):
    curves = seed_curves()
    first = write_mean_run(tmp_path / "mean", curves[curves["seed"] == 0], "data", "abl")
    first.unlink()  # as Snakemake removes a job's outputs before running it again
    write_mean_run(tmp_path / "mean", curves, "data", "abl")
    assert [p.name.startswith("events.out.tfevents.") for p in (tmp_path / "mean").iterdir()] \
        == [True]
    assert_mean_run(tmp_path / "mean", curves, "data", "abl")


def test_the_layout_has_a_margin_chart_per_panel_and_a_series_per_ablation(tmp_path):
    groups = {"d1": {"activation": ["base", "gelu"], "xor_only": []},
              "d2": {"activation": ["base", "gelu"]}}
    write_layout(tmp_path / "figure.groups", layout(groups, PANELS))
    categories = read_layout(tmp_path / "figure.groups").category
    # a group with no ablation on a dataset has no category there
    assert [c.title for c in categories] == ["d1: activation (mean over seeds, min-max band)",
                                             "d2: activation (mean over seeds, min-max band)"]
    for category, dataset in zip(categories, ("d1", "d2")):
        assert [c.title for c in category.chart] == [
            "training loss (full training set)", "train accuracy", "test accuracy"]
        test_accuracy = category.chart[2].margin.series
        assert [(s.value, s.lower, s.upper) for s in test_accuracy] == [
            (f"band/{dataset}/{a}/test/accuracy/mean", f"band/{dataset}/{a}/test/accuracy/min",
             f"band/{dataset}/{a}/test/accuracy/max") for a in ("base", "gelu")]
