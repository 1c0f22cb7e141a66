"""The default config's mnist-5k protocol, trained for real: a run makes the report's 938 SGD
steps and 47 evaluations (after step 0), and the final table counts them so."""
import pytest
import torch
import yaml

from conftest import REPO
from mlpstudy.aggregate import load_runs
from mlpstudy.config import validate
from mlpstudy.datasets import load_mnist_5k
from mlpstudy.plan import hparams
from mlpstudy.predictions import read_predictions
from mlpstudy.runs import run_paths, write_run
from mlpstudy.training import train_seed

pytestmark = pytest.mark.slow

DEFAULT = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
JOB = {"dataset": "mnist-5k", "ablation": "base", "pack_seeds": [0], "batched": False,
       "device": torch.device("cpu"), "threads": 1, "started_at": "2026-01-01T00:00:00+00:00",
       "job_wall_time_s": 0.0, "dataset_sha256": "ab" * 32, "dataset_source": {"test": "mnist-5k"},
       "probe_flop_rate": 4.0e10, "probe_s": 0.02}


def test_a_default_mnist_5k_run_makes_the_reports_steps_and_evaluations(tmp_path):
    hp = hparams(validate({**DEFAULT, "dataset": "mnist-5k"}), "base", "mnist-5k")
    data = load_mnist_5k()
    result = train_seed(hp, data, 0, torch.device("cpu"), log=lambda _: None)
    assert result.status == "ok" and result.steps == 938
    steps = sorted({step for step, _, split, metric, _ in result.rows
                    if (split, metric) == ("test", "accuracy")})
    assert steps == [*range(0, 938, 20), 938]
    write_run(tmp_path, {**JOB, "hparams": hp}, 0, result, data["test_y"].numpy())
    paths = run_paths(tmp_path, 0)
    # its test predictions: every evaluation (step 0 too) of the 1,000 test digits
    assert read_predictions(paths["predictions"])["predicted"].shape == (48, 1000)
    _, final = load_runs([{"run": paths["run"], "metrics": paths["metrics"]}])
    assert final[["steps", "evaluations"]].values.tolist() == [[938, 47]]
    # 4,000 digits at batch 64 are 63 steps an epoch: the 15th epoch stops at step 938.
    assert max(epoch for _, epoch, *_ in result.rows) == pytest.approx(938 / 63, abs=1e-4)
