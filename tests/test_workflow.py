"""The study through the real snakemake CLI, on a tiny generated dataset."""
import json
import re
import shutil

import pandas as pd
import pytest

import yaml

from conftest import REPO, as_float32, event_rows, pack_dir, planned_jobs, run_snakemake, seed_file, tiny_config
from jobplan import parse_jobs, planned, train_packs
from mlpstudy.config import validate
from mlpstudy.runs import RUN_JSON

pytestmark = pytest.mark.workflow

DEFAULT = validate(yaml.safe_load((REPO / "config" / "config.yaml").read_text()))
# The report's ablations and the lr sweep's points (less those at the protocol's lr 0.1,
# which are base and maxout themselves), counted from the config so no count goes stale.
ABLATIONS = len(DEFAULT["ablations"])


def test_default_config_plans_one_training_job_per_ablation(workdir):
    assert ABLATIONS == 14 + 8  # the config as shipped
    assert planned_jobs(workdir)["train"] == ABLATIONS  # all 5 seeds of each in one job


def test_one_seed_per_job_plans_one_training_job_per_ablation_and_seed(workdir):
    out = run_snakemake(workdir, "-n", "--config", "seeds_per_job=1").stdout
    packs = [dict(w)["pack"] for rule, w in parse_jobs(out) if rule == "train"]
    assert len(packs) == ABLATIONS * 5 and packs.count("seeds4") == ABLATIONS


def test_every_training_job_is_rule_train_whatever_the_packs(workdir):
    """One rule by one name: --set-resources train:... reaches every training job."""
    out = run_snakemake(workdir, "-n", "--config", "seeds_per_job=2",
                        "--set-resources", "train:mem_mb=1234").stdout
    counts = planned_jobs(workdir, "--config", "seeds_per_job=2")
    assert counts["train"] == ABLATIONS * 3  # packs of seeds 0-1, 2-3 and 4
    assert not [rule for rule in counts if rule.startswith("train") and rule != "train"]
    blocks = [b for b in out.split("\nrule ")[1:] if b.startswith("train:")]
    assert len(blocks) == ABLATIONS * 3
    assert all(re.search(r"resources: .*\bmem_mb=1234\b", b) for b in blocks), blocks[0]


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
    assert pack_dir("fashion-mnist", "base", "seeds0-4") in out
    assert "results/runs/mnist/" not in out


def test_several_datasets_can_be_chosen_on_the_command_line(workdir):
    out = run_snakemake(workdir, "-n", "--config", "datasets=[fashion-mnist,mnist-5k]").stdout
    for dataset in ("fashion-mnist", "mnist-5k"):
        assert pack_dir(dataset, "base", "seeds0-4") in out
        assert pack_dir(dataset, "maxout_lr0p5", "seeds0-4") in out
        assert f"results/figures/{dataset}/sweep_lr.png" in out
    assert pack_dir("xor", "xor", "seeds0-4") in out  # XOR keeps its own dataset
    assert "results/runs/mnist/" not in out and "results/runs/mnist-5k/xor/" not in out
    # one job per (dataset, ablation): every ablation but xor on each of the two, xor on its own
    assert planned_jobs(workdir, "--config", "datasets=[fashion-mnist,mnist-5k]")["train"] == \
        2 * (ABLATIONS - 1) + 1


def test_a_datasets_protocol_can_be_set_on_the_command_line(workdir):
    # Snakemake hands a mapping's values over as strings; they arrive as the numbers they spell.
    out = run_snakemake(workdir, "-n", "--config", "dataset=mnist-5k",
                        "dataset_protocol={mnist-5k: {max_steps: 100, lr: 0.05}}").stdout
    # lr 0.05 is now mnist-5k's own: the sweep's point at 0.05 is base itself there, and the
    # point at 0.1 an ablation of its own.
    assert pack_dir("mnist-5k", "base_lr0p1", "seeds0-4") in out
    assert "results/runs/mnist-5k/base_lr0p05/" not in out


def test_tiny_study_end_to_end(workdir):
    config = tiny_config(workdir)
    run_snakemake(workdir)
    for ablation in config["ablations"]:
        for seed in config["seeds"]:
            metrics = pd.read_csv(workdir / seed_file("tiny", ablation, "seeds0-1", seed,
                                                      "metrics.csv"))
            assert list(metrics.columns) == ["step", "epoch", "split", "metric", "value"]
            assert set(metrics["split"]) == {"batch", "train", "test"}
            evals = metrics[metrics["split"] == "test"]
            assert sorted(evals["step"].unique()) == [0, 2, 4, 6]  # eval_every 2, max_steps 6
            assert evals[evals["metric"] == "accuracy"]["value"].between(0, 1).all()
            # Its live curves: TensorBoard reads back every row of metrics.csv, step by step.
            events = event_rows(workdir / "results" / "tensorboard" / "tiny" / ablation / f"seed{seed}")
            assert events == as_float32(metrics.itertuples(index=False))
            run = json.loads((workdir / seed_file("tiny", ablation, "seeds0-1", seed,
                                                  "run.json")).read_text())
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
    # Nothing left to do afterwards, also with the live curves turned off.
    assert "Nothing to be done" in run_snakemake(workdir, "-n").stdout
    assert "Nothing to be done" in run_snakemake(workdir, "-n", "--config",
                                                 "tensorboard=false").stdout


def test_a_run_repeated_gives_a_byte_identical_metrics_csv(workdir):
    tiny_config(workdir, ablations={"base": {"dropout": 0.2}}, seeds=(0,), tensorboard=False)
    target, metrics = pack_dir("tiny", "base", "seeds0"), seed_file("tiny", "base", "seeds0", 0,
                                                                    "metrics.csv")
    run_snakemake(workdir, target)
    first = (workdir / metrics).read_bytes()
    shutil.rmtree(workdir / "results" / "runs")
    run_snakemake(workdir, target)
    assert (workdir / metrics).read_bytes() == first
    assert not (workdir / "results" / "tensorboard").exists()  # turned off: no event files


def test_a_bad_key_fails_before_any_job_and_names_the_key(workdir):
    tiny_config(workdir, ablations={"base": {"hiden": [8]}})
    result = run_snakemake(workdir, check=False)
    assert result.returncode != 0
    assert "'hiden'" in result.stdout and "ablations.base" in result.stdout
    assert not (workdir / "results").exists()
