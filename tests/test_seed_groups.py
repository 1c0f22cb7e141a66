"""TensorBoard's seed groups: an ablation's mean run holds the mean over its seeds with their
min-max band at every step, read back by TensorBoard, over the seeds finished so far while the
study runs and over all of them at its end; the custom-scalars layout draws each figure group's
ablations as a margin chart per panel."""
import shutil

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import REPO, assert_mean_run, event_scalars, read_layout
from mlpstudy.figures import PANELS
from mlpstudy.live import FINAL_EVENT_FILE, mean_so_far
from mlpstudy.seed_groups import layout, write_layout, write_mean_run
from synthetic_runs import write_run

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


def test_so_far_files_give_way_to_the_final_one_which_sorts_after_them(tmp_path):
    """Training jobs write the mean over the seeds finished so far, one file at a time; the
    seed_group job's file over all seeds replaces them. TensorBoard reads a run's files in
    name order and forward only: the final name must sort after every so-far one."""
    curves = seed_curves()
    mean = tmp_path / "mean"
    first = write_mean_run(mean, curves[curves["seed"] == 0], "data", "abl", final=False)
    assert first.name.endswith(".seeds-so-far")
    second = write_mean_run(mean, curves[curves["seed"] < 2], "data", "abl", final=False)
    assert [p.name for p in mean.iterdir()] == [second.name]  # one so-far file at a time
    assert_mean_run(mean, curves[curves["seed"] < 2], "data", "abl")
    assert sorted([second.name, FINAL_EVENT_FILE])[-1] == FINAL_EVENT_FILE
    final = write_mean_run(mean, curves, "data", "abl")
    assert [p.name for p in mean.iterdir()] == [final.name] == [FINAL_EVENT_FILE]
    assert_mean_run(mean, curves, "data", "abl")
    # A pack trained after the study was done (a seed added): its so-far file takes the
    # place of the old final one, which the seed_group job writes anew.
    again = write_mean_run(mean, curves[curves["seed"] == 1], "data", "abl", final=False)
    assert [p.name for p in mean.iterdir()] == [again.name]


def pack_of_runs(runs_root, pack, seeds, metrics_only=()):
    """Synthetic runs of ablation "abl" on dataset "data", in the directory of `pack`; a seed
    in `metrics_only` is mid-write (its run.json, written last, is not there yet)."""
    for seed in seeds:
        write_run(runs_root.parent / "scratch", "data", "abl", seed, 0.9 + seed / 100, 1000,
                  benchmark=False)
        done = runs_root / "data" / "abl" / pack / f"seed{seed}"
        done.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(runs_root.parent / "scratch" / "runs" / "data" / "abl" / f"seed{seed}", done)
        if seed in metrics_only:
            (done / "run.json").unlink()


def metrics_of(runs_root, pack, seeds):
    return pd.concat(pd.read_csv(runs_root / "data" / "abl" / pack / f"seed{s}" / "metrics.csv")
                     .assign(seed=s) for s in seeds)


def test_a_training_job_writes_its_ablations_mean_over_the_seeds_finished_so_far(tmp_path):
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config.update(seeds=[0, 1, 2, 3], seeds_per_job=2)  # packs seeds0-1 and seeds2-3
    runs = tmp_path / "runs"
    pack_of_runs(runs, "seeds0-1", [0, 1])
    pack_of_runs(runs, "seeds2-3", [2, 3], metrics_only=[3])  # that job is writing its seeds
    pack_of_runs(runs, "seeds0-4", [0, 4])  # an earlier study's pack, not among these
    logs = []
    mean_so_far(runs / "data" / "abl" / "seeds0-1", tmp_path / "mean", config, logs.append)
    assert logs and "over seeds 0, 1, 2 ->" in logs[0], logs
    (written,) = (tmp_path / "mean").iterdir()
    assert written.name.endswith(".seeds-so-far")
    curves = pd.concat([metrics_of(runs, "seeds0-1", [0, 1]), metrics_of(runs, "seeds2-3", [2])])
    assert_mean_run(tmp_path / "mean", curves, "data", "abl")


def test_a_mean_so_far_that_cannot_be_written_is_logged_and_the_job_goes_on(tmp_path):
    logs = []
    mean_so_far(tmp_path / "runs" / "data" / "abl" / "seeds0-1", tmp_path / "mean",
                {"seeds": "not a list"}, logs.append)
    assert len(logs) == 1 and "is not in TensorBoard (exit status 1)" in logs[0]
    assert "seeds" in logs[0]  # the child's error says what was wrong
    assert not (tmp_path / "mean").exists()


def test_an_ablations_only_job_leaves_the_mean_to_the_seed_group_job(tmp_path):
    """One job per ablation (no seeds_per_job, no adaptive rounds): seed_group, which runs
    right after it, writes the same mean, so the training job's child writes nothing."""
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    runs = tmp_path / "runs"
    pack_of_runs(runs, "seeds0-4", [0, 1, 2, 3, 4])
    logs = []
    mean_so_far(runs / "data" / "abl" / "seeds0-4", tmp_path / "mean", config, logs.append)
    assert logs == ["mean over the seeds: written by the seed_group job next"]
    assert not (tmp_path / "mean").exists()
