"""run.json's layout: runs.RUN_JSON is the one list of its keys, and what reads run.json
(the final table) names only those keys or columns it computes itself."""
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
       "probe_flop_rate": 4.0e10, "probe_s": 0.02}


def result():
    return RunResult(status="diverged", diverged_at_step=7, steps=7, param_count=42,
                     final={"test_accuracy": 0.1}, resumed_from_step=5, seconds=1.23456)


def test_run_record_writes_exactly_the_documented_keys():
    record = run_record(JOB, 1, result())
    assert set(record) == set(RUN_JSON)
    assert record["seed"] == 1 and record["pack_seeds"] == [0, 1] and record["device"] == "cpu"
    assert record["status"] == "diverged" and record["diverged_at_step"] == 7
    assert record["wall_time_s"] == 1.235 and record["resumed_from_step"] == 5


def test_a_key_missing_from_the_job_or_undocumented_is_named():
    with pytest.raises(ValueError, match="threads"):
        run_record({k: v for k, v in JOB.items() if k != "threads"}, 0, result())
    with pytest.raises(ValueError, match="gpu_clock"):
        run_record({**JOB, "gpu_clock": 1410}, 0, result())


def test_every_final_table_column_is_filled_from_run_json_or_computed(tmp_path):
    import json

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
