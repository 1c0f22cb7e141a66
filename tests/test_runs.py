"""A run's files: run.json's layout (runs.RUN_JSON is the one list of its keys, and what reads
run.json names only those keys or columns it computes itself), its test predictions and what
is read from them."""
import json
import math

import numpy as np
import pytest
import torch

from mlpstudy.aggregate import FINAL_COLUMNS, load_runs
from mlpstudy.runs import RUN_JSON, run_record
from mlpstudy.training import RunResult

pytestmark = pytest.mark.unit

JOB = {"dataset": "tiny", "ablation": "base", "hparams": {"lr": 0.1}, "pack_seeds": [0, 1],
       "batched": False, "device": torch.device("cpu"), "threads": 1,
       "started_at": "2026-01-01T00:00:00+00:00", "job_wall_time_s": 2.5,
       "dataset_sha256": "ab" * 32, "dataset_source": {"generated": "test"},
       "test_predictions_sha256": "cd" * 32, "probe_flop_rate": 4.0e10, "probe_s": 0.02}


def result():
    return RunResult(status="diverged", diverged_at_step=7, steps=7, param_count=42,
                     final={"test_accuracy": 0.1}, resumed_from_step=5, seconds=1.23456)


def test_run_record_writes_exactly_the_documented_keys():
    record = run_record(JOB, 1, result())
    assert set(record) == set(RUN_JSON)
    assert record["seed"] == 1 and record["pack_seeds"] == [0, 1] and record["device"] == "cpu"
    assert record["status"] == "diverged" and record["diverged_at_step"] == 7
    assert record["wall_time_s"] == 1.235 and record["resumed_from_step"] == 5


def test_write_run_keeps_the_test_predictions_reproducibly_with_their_checksum(tmp_path):
    """test_predictions.npz holds every evaluation's predicted classes and the labels; the
    same run writes the same bytes (run.json's checksum is stable), and right_of_runs reads
    which examples each evaluation got right."""
    from mlpstudy.files import file_sha256
    from mlpstudy.predictions import read_predictions, right_of_runs
    from mlpstudy.runs import run_paths, runs_of_packs, write_run
    job = {k: v for k, v in JOB.items() if k != "test_predictions_sha256"}
    labels = torch.tensor([3, 1, 4, 1, 5])
    run = result()
    run.predictions = [(0, torch.tensor([0, 0, 0, 0, 0], dtype=torch.uint8)),
                       (20, torch.tensor([3, 1, 4, 0, 5], dtype=torch.uint8))]
    digests = []
    for pack in ("a", "b"):
        write_run(tmp_path / pack, job, 1, run, labels.numpy())
        paths = run_paths(tmp_path / pack, 1)
        record = json.loads(paths["run"].read_text())
        assert record["test_predictions_sha256"] == file_sha256(paths["predictions"])
        digests.append(record["test_predictions_sha256"])
    assert digests[0] == digests[1]
    stored = read_predictions(paths["predictions"])
    assert stored["steps"].tolist() == [0, 20] and stored["predicted"].dtype.name == "uint8"
    assert stored["labels"].tolist() == [3, 1, 4, 1, 5]
    steps, right = right_of_runs(runs_of_packs([tmp_path / "a"]))["tiny", "base", 1]
    assert right.tolist() == [[False, False, False, False, False], [True, True, True, False, True]]


def test_a_key_missing_from_the_job_or_undocumented_is_named():
    with pytest.raises(ValueError, match="threads"):
        run_record({k: v for k, v in JOB.items() if k != "threads"}, 0, result())
    with pytest.raises(ValueError, match="gpu_clock"):
        run_record({**JOB, "gpu_clock": 1410}, 0, result())


def test_every_final_table_column_is_filled_from_run_json_or_computed(tmp_path):

    from synthetic_runs import write_run
    paths = write_run(tmp_path, "tiny", "base", 0, 0.9, 1000)
    run = json.loads(paths["run"].read_text())
    _, final = load_runs([paths])
    assert list(final.columns) == FINAL_COLUMNS
    row = final.iloc[0]
    for column in FINAL_COLUMNS:
        if column in RUN_JSON and run[column] is not None:
            assert row[column] == run[column], column
        elif column not in RUN_JSON:  # computed: from the final metrics, curve or benchmark
            assert row[column] == row[column], f"{column} is NaN"


def test_per_class_differences_pair_the_seeds_both_arms_finished():
    from mlpstudy.predictions import per_class_differences
    accuracy = {("base", 0): [90.0, 80.0], ("base", 1): [92.0, 84.0], ("base", 2): [0.0, 0.0],
                ("maxout", 0): [91.0, 86.0], ("maxout", 1): [95.0, 86.0]}
    table = per_class_differences({k: np.array(v) for k, v in accuracy.items()},
                                  {"maxout": "base", "gelu": "base"})
    assert set(table["ablation"]) == {"maxout"}  # gelu has no runs: no rows
    assert table["seeds"].tolist() == [2, 2]  # base's seed 2 has no maxout partner
    assert table["difference_pp"].tolist() == [2.0, 4.0]
    assert table["reference_pct"].tolist() == [91.0, 82.0]
    assert [math.isclose(sd, want) for sd, want in zip(table["difference_sd"], (2 ** 0.5, 8 ** 0.5))] == [True, True]


def test_the_per_class_figure_draws_one_seed_and_several(tmp_path):
    from mlpstudy.figures import per_class_figure, save
    from mlpstudy.predictions import per_class_differences
    accuracy = {("base", 0): np.array([90.0, 80.0]), ("base", 1): np.array([92.0, 84.0]),
                ("maxout", 0): np.array([91.0, 86.0]), ("maxout", 1): np.array([95.0, 86.0]),
                ("gelu", 1): np.array([92.0, 83.0])}
    table = per_class_differences(accuracy, {"maxout": "base", "gelu": "base"})
    figure = per_class_figure(table, "tiny")
    labels = [t.get_text() for t in figure.axes[0].get_yticklabels()]
    assert labels == ["maxout \u2212 base (2 seeds)", "gelu \u2212 base (1 seed)"]
    save(figure, tmp_path / "per_class.png")
    assert (tmp_path / "per_class.png").stat().st_size > 1000
