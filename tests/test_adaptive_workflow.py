"""Adaptive seeds through the real snakemake CLI: one command runs every round, only the
ablations of open claims get more seeds, a finished study plans nothing, an edit reruns
only what depends on it, and the claims' forest plot is drawn."""
import json

import pandas as pd
import pytest
import yaml

from conftest import assert_mean_run, completed_study, restoring, tiny_config
from jobplan import planned, rules, train_packs
from mlpstudy.live import FINAL_EVENT_FILE

pytestmark = pytest.mark.workflow

SEEDS, MAX, STEP = (0, 1), 6, 2
ABLATIONS = {"base": {}, "slow": {"lr": 0.002}, "narrow": {"hidden": [8]}}
CLAIMS = [
    # A 50x smaller learning rate leaves the test loss clearly higher, but two seeds decide
    # nothing at the family's level (t with 1 degree of freedom); the spread so far says a
    # few more would, so the claim asks for them.
    {"text": "slow reaches a higher test loss than base", "ablation": "slow",
     "reference": "base", "metric": "test_loss", "expect": "greater"},
    # Exact: decided in the first round, so narrow never gets more seeds.
    {"text": "narrow has 6,388 parameters", "ablation": "narrow", "metric": "param_count",
     "expect": "about", "size": 784 * 8 + 8 + 8 * 4 + 4},
]


def write_study(workdir):
    return tiny_config(workdir, ablations=ABLATIONS, seeds=SEEDS, claims=CLAIMS,
                       adaptive_seeds={"max": MAX, "step": STEP})


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    return completed_study(tmp_path_factory, "adaptive", write_study)


def test_only_the_ablations_of_open_claims_get_more_seeds_up_to_max(study):
    final = pd.read_csv(study / "results/final.csv")
    seeds = final.groupby("ablation")["seed"].apply(sorted).to_dict()
    assert seeds["narrow"] == list(SEEDS)  # only in a parameter-count claim
    assert seeds["base"] == seeds["slow"] and len(seeds["base"]) > len(SEEDS)
    assert len(seeds["base"]) <= MAX and seeds["base"] == list(range(len(seeds["base"])))
    first = json.loads((study / "results/rounds/tiny/look0.json").read_text())
    assert first["extend"] == ["slow", "base"] and first["open"] == [CLAIMS[0]["text"]]
    # each round's seeds in packs of their own
    assert (study / "results/runs/tiny/slow/seeds2-3/seed3/run.json").is_file()
    # TensorBoard's mean run of an ablation is over the seeds of every round it took part in
    metrics = pd.read_csv(study / "results/metrics.csv")
    for ablation in ("base", "narrow"):
        assert_mean_run(study / "results/tensorboard/tiny" / ablation / "mean",
                        metrics[metrics["ablation"] == ablation], "tiny", ablation)
        assert [p.name for p in (study / "results/tensorboard/tiny" / ablation / "mean")
                .iterdir()] == [FINAL_EVENT_FILE]
    # ... and, while the study ran, over the seeds finished so far: after each round's job
    log = (study / "results/logs/train/tiny/slow/seeds2-3.log").read_text()
    assert "mean so far, over seeds 0, 1, 2, 3 -> events.out.tfevents." in log


def test_claims_say_how_many_seeds_and_looks_and_at_which_levels(study):
    claims = pd.read_csv(study / "results/claims.csv").set_index("claim")
    loss = claims.loc[CLAIMS[0]["text"]]
    looks = int(loss["looks"])
    assert looks >= 2 and len(str(loss["look_levels"]).split()) == looks
    assert loss["n_ablation"] == loss["n_reference"] > len(SEEDS)
    assert 0.95 < loss["ci_level"] < 1 and "Holm" in loss["family"]
    assert loss["seeds"] == loss["n_ablation"] and loss["seeds_run"] >= loss["seeds"]
    assert loss["verdict"] != "inconclusive" or loss["p_adjusted"] > 0.05
    exact = claims.loc[CLAIMS[1]["text"]]
    assert exact["verdict"] == "supported" and exact["family"] == "not tested: exact"
    assert (study / "results/figures/tiny/claims_forest.png").stat().st_size > 1000
    html = (study / "results/summary.html").read_text()
    assert "With adaptive seeds the claims are tested after each round" in html
    assert "Holm over this dataset" in html


def test_a_finished_adaptive_study_plans_nothing(study):
    assert planned(study) == set()
    assert planned(study, "--config", "tensorboard=false") == set()


@pytest.fixture
def done(study):
    yield from restoring(study, ["config/config.yaml"])


def test_editing_one_ablation_reruns_only_what_depends_on_it(done):
    path = done / "config/config.yaml"
    config = yaml.safe_load(path.read_text())
    config["ablations"]["narrow"]["hidden"] = [9]
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    jobs = planned(done)
    assert train_packs(jobs) == {("narrow", SEEDS)}
    assert "plan_round" in rules(jobs)  # the first look sees narrow's new runs
