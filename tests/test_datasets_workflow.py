"""Several datasets and a sweep in one study, through the real snakemake CLI: every
ablation on every dataset, claims per dataset, a sweep figure per dataset, a dataset's own
protocol, and adding or removing a dataset or editing its protocol plans exactly that
dataset's jobs (read job by job from `snakemake -n`).

One completed study (two tiny datasets, one with a protocol of its own, two ablations and
a two-value lr sweep, 2 seeds)
is shared by the module; each test edits the config and dry-runs, and the config is put
back afterwards.
"""
import json

import pandas as pd
import pytest
import yaml

from conftest import completed_study, restoring, run_snakemake, tiny_config, write_tiny_idx_dataset
from jobplan import parse_jobs

pytestmark = pytest.mark.workflow

SEEDS = (0, 1)
ABLATIONS = {"base": {"description": "baseline"}, "wide": {"hidden": [48]}}
SWEEP_POINTS = ("base_lr0p05", "base_lr0p3")
EVERY_ABLATION = tuple(ABLATIONS) + SWEEP_POINTS


def write_study(workdir):
    config = tiny_config(
        workdir, ablations=ABLATIONS, seeds=SEEDS,
        sweeps={"lr": {"ablations": ["base"], "values": {"lr": [0.05, 0.3]}}},
        figure_groups={"main": ["base", "wide"]},
        claims=[{"text": "wide is no worse than base", "ablation": "wide", "reference": "base",
                 "metric": "stable_accuracy", "expect": "at_least", "tolerance": 100},
                {"text": "a large lr diverges more often", "ablation": "base_lr0p3",
                 "reference": "base_lr0p05", "metric": "diverged_fraction", "expect": "at_least",
                 "tolerance": 1}])
    for name in ("tiny2", "tiny3"):
        write_tiny_idx_dataset(workdir / f"{name}-data", seed=len(name))
    config.pop("dataset")
    config["datasets"] = ["tiny", "tiny2"]
    config["custom_datasets"].update({n: str(workdir / f"{n}-data") for n in ("tiny2", "tiny3")})
    # tiny2 runs a protocol of its own: 4 steps where the protocol's max_steps is 6.
    config["dataset_protocol"] = {"tiny2": {"max_steps": 4}}
    (workdir / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    return completed_study(tmp_path_factory, "datasets", write_study)


@pytest.fixture
def done(study):
    yield from restoring(study, ["config/config.yaml"])


def edit_config(workdir, change):
    path = workdir / "config" / "config.yaml"
    config = yaml.safe_load(path.read_text())
    change(config)
    path.write_text(yaml.safe_dump(config, sort_keys=False))


def planned(workdir, *args):
    """(rule, dataset, ablation, seeds) of every job a dry run plans, `all` left out; seeds
    of a train job as its pack's name ("seeds0-1")."""
    jobs = set()
    for rule, wildcards in parse_jobs(run_snakemake(workdir, "-n", *args).stdout):
        w = dict(wildcards)
        if rule != "all":
            jobs.add((rule, w.get("dataset"), w.get("ablation"), w.get("pack")))
    return jobs


PACK = f"seeds{SEEDS[0]}-{SEEDS[-1]}"  # the default: all seeds in one training job


def dataset_jobs(dataset):
    """Every job that exists for `dataset` alone."""
    return ({("prepare_dataset", dataset, None, None), ("aggregate", dataset, None, None),
             ("figures", dataset, None, None), ("per_class", dataset, None, None)}
            | {("train", dataset, a, PACK) for a in EVERY_ABLATION}
            | {("seed_group", dataset, a, None) for a in EVERY_ABLATION})


# TensorBoard's layout has a category per dataset: it changes with the datasets.
STUDY_WIDE = {("combine", None, None, None), ("claims", None, None, None),
              ("summary", None, None, None), ("tensorboard_layout", None, None, None)}


def forests(*datasets):
    """Each dataset's forest plot of the claims: redrawn whenever claims.csv changes."""
    return {("claims_forest", d, None, None) for d in datasets}


def test_every_ablation_ran_on_both_datasets_and_the_report_shows_both(done):
    final = pd.read_csv(done / "results/final.csv")
    assert set(zip(final["dataset"], final["ablation"])) == {
        (d, a) for d in ("tiny", "tiny2") for a in EVERY_ABLATION}
    assert "stable_test_accuracy" in final
    claims = pd.read_csv(done / "results/claims.csv")
    assert list(claims.columns[:2]) == ["dataset", "claim"]
    assert list(claims["dataset"]) == ["tiny", "tiny2", "tiny", "tiny2"]
    assert set(claims["verdict"]) <= {"supported", "inconclusive", "contradicted"}
    for dataset in ("tiny", "tiny2"):
        for name in ("claims_forest", "curves_main", "final_accuracy", "per_class", "sweep_lr"):
            for ext in ("png", "svg"):
                assert (done / f"results/figures/{dataset}/{name}.{ext}").stat().st_size > 1000
    html = (done / "results/summary.html").read_text()
    assert html.count("data:image/png;base64,") == 2 * 5
    assert "Figures: tiny2" in html and "Sweep lr (tiny2)" in html
    assert "tiny2: verdict, measured, interval, seeds" in html


def test_each_dataset_ran_its_own_protocol_and_the_page_says_which(done):
    final = pd.read_csv(done / "results/final.csv")
    ran = final[final["status"] == "ok"].groupby("dataset")
    assert ran["steps"].unique().map(list).to_dict() == {"tiny": [6], "tiny2": [4]}
    # eval_every 2: evaluations at steps 2, 4, 6 and 2, 4 (step 0 is not counted).
    assert ran["evaluations"].unique().map(list).to_dict() == {"tiny": [3], "tiny2": [2]}
    runs = list((done / "results/runs/tiny2").glob("*/*/seed0/run.json"))
    assert len(runs) == len(EVERY_ABLATION)
    assert all(json.loads(r.read_text())["hparams"]["max_steps"] == 4 for r in runs)
    html = (done / "results/summary.html").read_text()
    assert ("<li><b>tiny</b>: the protocol; its runs trained 6 steps with 3 evaluations "
            "after step 0</li>") in html
    assert ("<li><b>tiny2</b>: the protocol with <code>max_steps=4</code>; its runs trained 4 "
            "steps with 2 evaluations after step 0</li>") in html


def test_nothing_to_do_after_the_study(done):
    assert planned(done) == set()


def test_editing_one_datasets_protocol_reruns_exactly_that_datasets_jobs(done):
    edit_config(done, lambda c: c["dataset_protocol"]["tiny2"].update(max_steps=5))
    prepare = {("prepare_dataset", "tiny2", None, None)}  # the data do not change
    layout = {("tensorboard_layout", None, None, None)}  # the same datasets and figure groups
    assert planned(done) == ((dataset_jobs("tiny2") - prepare) | (STUDY_WIDE - layout)
                             | forests("tiny", "tiny2"))


def test_a_protocol_for_a_dataset_outside_the_study_retrains_nothing(done):
    # Only the summary, whose config hash covers the whole config.
    edit_config(done, lambda c: c["dataset_protocol"].update(tiny3={"max_steps": 2}))
    assert planned(done) == {("summary", None, None, None)}


def test_adding_a_dataset_plans_exactly_its_jobs(done):
    edit_config(done, lambda c: c["datasets"].append("tiny3"))
    assert planned(done) == dataset_jobs("tiny3") | STUDY_WIDE | forests("tiny", "tiny2", "tiny3")


def test_removing_a_dataset_reruns_no_other_datasets_jobs(done):
    edit_config(done, lambda c: c.update(datasets=["tiny"]))
    assert planned(done) == STUDY_WIDE | forests("tiny")


def test_adding_a_sweep_value_runs_only_the_new_ablation_on_each_dataset(done):
    edit_config(done, lambda c: c["sweeps"]["lr"]["values"]["lr"].append(0.2))
    jobs = planned(done)
    assert {j for j in jobs if j[0] == "train"} == {
        ("train", d, "base_lr0p2", PACK) for d in ("tiny", "tiny2")}
    assert {j[0] for j in jobs} == {"train", "aggregate", "figures", "combine", "claims",
                                    "claims_forest", "summary", "seed_group", "per_class"}
