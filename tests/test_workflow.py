"""The study through the real snakemake CLI, on a tiny generated dataset."""
import json
import shutil

import pandas as pd
import pytest

from conftest import planned_jobs, run_snakemake, tiny_config, train_job_count
from jobplan import planned, train_packs
from mlpstudy.runs import RUN_JSON

pytestmark = pytest.mark.workflow


def test_default_config_plans_one_training_job_per_ablation(workdir):
    # The report's 14 ablations and the lr sweep's 2 x 5 points less the two at lr 0.1 (the
    # protocol's: base and maxout themselves), all 5 seeds of each in one job.
    counts = planned_jobs(workdir)
    assert counts["train"] == 14 + 8 and train_job_count(counts) == 14 + 8


def test_one_seed_per_job_plans_one_training_job_per_ablation_and_seed(workdir):
    counts = planned_jobs(workdir, "--config", "seeds_per_job=1")
    assert train_job_count(counts) == (14 + 8) * 5 and counts["train_seed4"] == 14 + 8


@pytest.mark.parametrize("per_job, packs", [
    (None, [(0, 1, 2, 3, 4)]),
    (1, [(0,), (1,), (2,), (3,), (4,)]),
    (2, [(0, 1), (2, 3), (4,)]),
    (3, [(0, 1, 2), (3, 4)]),
])
def test_seeds_are_packed_in_fixed_chunks_in_the_listed_order(workdir, per_job, packs):
    tiny_config(workdir, ablations={"base": {}, "wide": {"hidden": [64]}}, seeds=(0, 1, 2, 3, 4),
                seeds_per_job=per_job)
    assert train_packs(planned(workdir)) == {(a, p) for a in ("base", "wide") for p in packs}


def test_dataset_can_be_chosen_on_the_command_line(workdir):
    out = run_snakemake(workdir, "-n", "--config", "dataset=fashion-mnist").stdout
    assert "results/runs/fashion-mnist/base/seed0/run.json" in out
    assert "results/runs/mnist/" not in out


def test_several_datasets_can_be_chosen_on_the_command_line(workdir):
    out = run_snakemake(workdir, "-n", "--config", "datasets=[fashion-mnist,mnist-5k]").stdout
    for dataset in ("fashion-mnist", "mnist-5k"):
        assert f"results/runs/{dataset}/base/seed0/run.json" in out
        assert f"results/runs/{dataset}/maxout_lr0p5/seed4/run.json" in out
        assert f"results/figures/{dataset}/sweep_lr.png" in out
    assert "results/runs/xor/xor/seed0/run.json" in out  # XOR keeps its own dataset
    assert "results/runs/mnist/" not in out and "results/runs/mnist-5k/xor/" not in out
    # one job per (dataset, ablation): 21 ablations on each of the two, xor on its own
    assert planned_jobs(workdir, "--config", "datasets=[fashion-mnist,mnist-5k]")["train"] == \
        2 * (14 - 1 + 8) + 1


def test_tiny_study_end_to_end(workdir):
    config = tiny_config(workdir)
    run_snakemake(workdir)
    for ablation in config["ablations"]:
        for seed in config["seeds"]:
            run_dir = workdir / "results" / "runs" / "tiny" / ablation / f"seed{seed}"
            metrics = pd.read_csv(run_dir / "metrics.csv")
            assert list(metrics.columns) == ["step", "epoch", "split", "metric", "value"]
            assert set(metrics["split"]) == {"batch", "train", "test"}
            evals = metrics[metrics["split"] == "test"]
            assert sorted(evals["step"].unique()) == [0, 2, 4, 6]  # eval_every 2, max_steps 6
            assert evals[evals["metric"] == "accuracy"]["value"].between(0, 1).all()
            run = json.loads((run_dir / "run.json").read_text())
            assert set(run) == set(RUN_JSON)
            assert run["status"] == "ok" and run["steps"] == 6 and run["device"] == "cpu"
            assert run["hparams"]["activation"] == config["ablations"][ablation].get("activation", "relu")
            expected_params = {"base": 784 * 32 + 32 + 32 * 4 + 4, "gelu": 784 * 32 + 32 + 32 * 4 + 4,
                               "maxout": 784 * 32 + 32 + (32 * 32 + 32) * 2 + 32 * 4 + 4}
            assert run["param_count"] == expected_params[ablation]
            assert run["pack_seeds"] == [0, 1] and run["batched"] is False
            # One job per pack: its log and benchmark are named after the pack's seeds.
            log = workdir / "results" / "logs" / "train" / "tiny" / ablation / "seeds0-1.log"
            assert f"seed {seed}: step 6/6" in log.read_text()
            bench = workdir / "results" / "benchmarks" / "train" / "tiny" / ablation / "seeds0-1.tsv"
            assert "max_rss" in bench.read_text()
    # Nothing left to do afterwards.
    assert "Nothing to be done" in run_snakemake(workdir, "-n").stdout


def test_a_run_repeated_gives_a_byte_identical_metrics_csv(workdir):
    tiny_config(workdir, ablations={"base": {"dropout": 0.2}}, seeds=(0,))
    target = "results/runs/tiny/base/seed0/metrics.csv"
    run_snakemake(workdir, target)
    first = (workdir / target).read_bytes()
    shutil.rmtree(workdir / "results" / "runs")
    run_snakemake(workdir, target)
    assert (workdir / target).read_bytes() == first


def test_a_bad_key_fails_before_any_job_and_names_the_key(workdir):
    tiny_config(workdir, ablations={"base": {"hiden": [8]}})
    result = run_snakemake(workdir, check=False)
    assert result.returncode != 0
    assert "'hiden'" in result.stdout and "ablations.base" in result.stdout
    assert not (workdir / "results").exists()
