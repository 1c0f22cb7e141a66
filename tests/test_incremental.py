"""Incremental reruns are exact: after a completed tiny study, each kind of edit plans
exactly the jobs it touches (read job by job from `snakemake -n`), no more, no fewer.

One completed study (3 ablations x 2 seeds, one of them diverging) is shared by the
module; each test edits a file, dry-runs, and the edit is undone afterwards. Dry runs
change nothing, and Snakemake compares input checksums, so undoing an edit restores
the "nothing to do" state.
"""
import json
import math
import shutil

import pandas as pd
import pytest
import yaml

from conftest import (assert_mean_run, completed_study, copy_workflow, pack_dir, read_layout,
                      restoring, run_snakemake, seed_file, tiny_config)
from jobplan import planned, rules, train_jobs, train_packs
from mlpstudy.live import FINAL_EVENT_FILE

pytestmark = pytest.mark.workflow

ABLATIONS = {
    "base": {"description": "baseline"},
    "wide": {"hidden": [48]},
    # maxout with a huge step size: NaN within a few steps on the tiny data.
    "unstable": {"activation": "maxout", "lr": 1000.0, "momentum": 0.9},
}
SEEDS = (0, 1)
STUDY_OPTIONS = {
    "figure_groups": {"main": ["base", "wide", "unstable"]},
    "claims": [{"text": "wide is no worse than base", "ablation": "wide", "reference": "base",
                "metric": "test_accuracy", "expect": "at_least", "size": 0, "tolerance": 100}],
}
ALL_TRAIN = {(a, s) for a in ABLATIONS for s in SEEDS}
# Every report rule downstream of the runs (no xor ablation, so no xor_boundary job), and
# the mean run in TensorBoard of the ablation whose seeds ran.
REPORT = {"aggregate", "combine", "claims", "claims_forest", "figures", "per_class", "summary",
          "seed_group"}
EDITABLE = ("config/config.yaml", "workflow/schemas/config.schema.yaml",
            "workflow/scripts/mlpstudy/training.py", "workflow/scripts/mlpstudy/figures.py",
            "environment.yml")


def write_study(workdir):
    return tiny_config(workdir, ablations=ABLATIONS, seeds=SEEDS, **STUDY_OPTIONS)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    return completed_study(tmp_path_factory, "study", write_study)


@pytest.fixture
def done(study):
    """The completed study; every file a test may edit is put back afterwards."""
    yield from restoring(study, EDITABLE)


def edit_config(workdir, change):
    path = workdir / "config" / "config.yaml"
    config = yaml.safe_load(path.read_text())
    change(config)
    path.write_text(yaml.safe_dump(config, sort_keys=False))


def append_comment(path):
    # A real content change: Snakemake ignores a bare `touch` when the checksum is unchanged.
    path.write_text(path.read_text() + "\n# an edit\n")


def test_nothing_to_do_after_the_study(done):
    assert planned(done) == set()


def test_editing_the_conda_environment_reruns_nothing_without_use_conda(done):
    # Every rule names environment.yml, but only --use-conda runs jobs in it: a pip user
    # adding a package must not retrain the study.
    env = done / "environment.yml"
    env.write_text(env.read_text() + "  - tqdm>=4\n")
    assert planned(done) == set()


def test_turning_the_live_curves_off_reruns_nothing(done):
    edit_config(done, lambda c: c.update(tensorboard=False))
    assert planned(done) == set()


def test_editing_one_ablations_hyper_parameter_reruns_exactly_its_seeds(done):
    edit_config(done, lambda c: c["ablations"]["wide"].update(hidden=[40]))
    jobs = planned(done)
    assert train_jobs(jobs) == {("wide", 0), ("wide", 1)}
    assert rules(jobs) == {"train"} | REPORT


def test_adding_a_seed_reruns_the_pack_it_lands_in(done):
    # By default an ablation's seeds are one pack: seed 2 joins it.
    edit_config(done, lambda c: c["seeds"].append(2))
    jobs = planned(done)
    assert train_packs(jobs) == {(a, (0, 1, 2)) for a in ABLATIONS}
    assert rules(jobs) == {"train"} | REPORT


def test_with_fixed_chunks_adding_a_seed_runs_only_the_chunk_it_lands_in(done):
    # Chunks of 2: (0, 1) is complete and unchanged, seed 2 starts a chunk of its own.
    edit_config(done, lambda c: c.update(seeds=[0, 1, 2], seeds_per_job=2))
    jobs = planned(done)
    assert train_packs(jobs) == {(a, (2,)) for a in ABLATIONS}
    assert rules(jobs) == {"train"} | REPORT


def test_adding_an_ablation_runs_only_its_jobs(done):
    edit_config(done, lambda c: c["ablations"].update(narrow={"hidden": [8]}))
    jobs = planned(done)
    assert train_jobs(jobs) == {("narrow", 0), ("narrow", 1)}
    assert rules(jobs) == {"train"} | REPORT


def test_editing_a_figure_group_reruns_only_figures_summary_and_tensorboards_layout(done):
    edit_config(done, lambda c: c["figure_groups"].update(main=["base", "wide"]))
    assert rules(planned(done)) == {"figures", "summary", "tensorboard_layout"}


def test_editing_a_claim_reruns_only_the_claims_check_its_figure_and_summary(done):
    edit_config(done, lambda c: c["claims"][0].update(tolerance=50))
    assert rules(planned(done)) == {"claims", "claims_forest", "summary"}


def test_editing_a_description_reruns_no_training(done):
    edit_config(done, lambda c: c["ablations"]["wide"].update(description="48 units"))
    jobs = planned(done)
    assert train_jobs(jobs) == set()
    assert "aggregate" in rules(jobs)


def test_editing_training_code_reruns_every_training_job(done):
    append_comment(done / "workflow/scripts/mlpstudy/training.py")
    jobs = planned(done)
    assert train_jobs(jobs) == ALL_TRAIN
    assert rules(jobs) == {"train"} | REPORT  # the prepared data does not depend on it


def test_editing_plotting_code_reruns_only_figures_and_summary(done):
    append_comment(done / "workflow/scripts/mlpstudy/figures.py")
    # TensorBoard's layout takes its charts from the figures' panels.
    assert rules(planned(done)) == {"figures", "claims_forest", "per_class", "summary",
                                    "tensorboard_layout"}


def test_changing_a_protocol_value_all_ablations_inherit_reruns_every_training_job(done):
    edit_config(done, lambda c: c["protocol"].update(eval_every=3))
    jobs = planned(done)
    assert train_jobs(jobs) == ALL_TRAIN
    assert rules(jobs) == {"train"} | REPORT


def test_changing_a_schema_default_all_ablations_inherit_reruns_every_training_job(done):
    # weight_decay is set by no ablation and not by the protocol: its default comes from the schema.
    schema = done / "workflow/schemas/config.schema.yaml"
    text = schema.read_text()
    old = "        description: SGD weight decay (adds weight_decay*w to every gradient).\n        default: 0.0\n"
    assert old in text
    schema.write_text(text.replace(old, old.replace("default: 0.0", "default: 0.0001")))
    assert train_jobs(planned(done)) == ALL_TRAIN


def test_moving_the_project_directory_reruns_nothing(done, tmp_path):
    moved = tmp_path / "elsewhere"
    shutil.copytree(done, moved, symlinks=True)  # copy2 keeps modification times, like `mv`
    assert planned(moved) == set()


# --- what the study produced -------------------------------------------------------------

def test_a_diverging_run_is_recorded_with_its_step_and_curves_and_the_study_finishes(done):
    for seed in SEEDS:
        run = json.loads((done / seed_file("tiny", "unstable", "seeds0-1", seed, "run.json"))
                         .read_text())
        assert run["status"] == "diverged"
        step = run["diverged_at_step"]
        assert isinstance(step, int) and 0 < step <= 6 and run["steps"] == step
        metrics = pd.read_csv(done / seed_file("tiny", "unstable", "seeds0-1", seed,
                                               "metrics.csv"))
        assert metrics["step"].max() == step  # curves up to the divergence, nothing after
        assert {"batch", "train", "test"} <= set(metrics["split"])
        losses = metrics[(metrics["step"] == step) & (metrics["metric"] == "loss")]["value"]
        assert not all(math.isfinite(v) for v in losses)
    final = pd.read_csv(done / "results/final.csv")
    assert set(final[final["ablation"] == "unstable"]["status"]) == {"diverged"}
    assert set(final[final["ablation"] != "unstable"]["status"]) == {"ok"}
    html = (done / "results/summary.html").read_text()
    assert "diverged" in html
    assert (done / "results/figures/tiny/curves_main.png").stat().st_size > 0


def test_tensorboard_has_each_ablations_mean_with_its_band_and_the_figure_groups(done):
    root = done / "results/tensorboard"
    for ablation in ABLATIONS:
        curves = pd.concat(pd.read_csv(done / seed_file("tiny", ablation, "seeds0-1", seed,
                                                        "metrics.csv")).assign(seed=seed)
                           for seed in SEEDS)
        # unstable's seeds diverge: its mean goes on over the seeds still running, if any
        assert_mean_run(root / "tiny" / ablation / "mean", curves, "tiny", ablation)
        assert {p.name for p in (root / "tiny" / ablation).iterdir()} == {
            "mean", *(f"seed{s}" for s in SEEDS)}  # the seeds' own runs stay
        # seed_group's file alone: the ablation's one training job left the mean to it
        assert [p.name for p in (root / "tiny" / ablation / "mean").iterdir()] == [
            FINAL_EVENT_FILE]
        log = (done / "results/logs/train/tiny" / ablation / "seeds0-1.log").read_text()
        assert "mean over the seeds: written by the seed_group job next" in log
    (category,) = read_layout(root / "figure.groups").category
    assert category.title == "tiny: main (mean over seeds, min-max band)"
    assert [c.title for c in category.chart] == [
        "training loss (full training set)", "train accuracy", "test accuracy"]
    assert [s.value for s in category.chart[2].margin.series] == [
        f"band/tiny/{a}/test/accuracy/mean" for a in STUDY_OPTIONS["figure_groups"]["main"]]


def test_metrics_are_byte_identical_across_runs_and_core_counts(done, tmp_path):
    """The module's study ran with --cores 2; a fresh copy with --cores 1 writes the same bytes."""
    again = copy_workflow(tmp_path / "again")
    write_study(again)
    run_snakemake(again, *[pack_dir("tiny", a, "seeds0-1") for a in ABLATIONS], cores=1)
    for ablation in ABLATIONS:
        for seed in SEEDS:
            target = seed_file("tiny", ablation, "seeds0-1", seed, "metrics.csv")
            assert (again / target).read_bytes() == (done / target).read_bytes(), target
