"""A run's outputs: its curves (metrics.csv), its test predictions (test_predictions.npz) and
its record (run.json), paths and contents.

A training job writes them (atomically, through mlpstudy.files); aggregation and the
rounds of adaptive seeds find them again.
"""
from __future__ import annotations

from pathlib import Path

from .files import file_sha256, write_json_atomic, write_text_atomic
from .predictions import FILE as PREDICTIONS_FILE, write_predictions

METRICS_HEADER = "step,epoch,split,metric,value"
# A training job's output directory holds one directory per seed: seed{N}/ with these files.
RUN_FILES = ("metrics.csv", "run.json", PREDICTIONS_FILE)
_SPLIT_ORDER = {"batch": 0, "train": 1, "test": 2}


def metrics_csv(rows) -> str:
    """Long-format curves; rows sorted so the file does not depend on when they were recorded."""
    ordered = sorted(rows, key=lambda r: (r[0], _SPLIT_ORDER[r[2]], r[3]))
    lines = [METRICS_HEADER] + [f"{s},{e},{split},{m},{float(v)!r}" for s, e, split, m, v in ordered]
    return "\n".join(lines) + "\n"


def run_paths(pack_dir: str | Path, seed: int) -> dict[str, Path]:
    """{"metrics": ..., "run": ..., "predictions": ...}: where one seed's files are in its
    pack's directory."""
    folder = Path(pack_dir) / f"seed{seed}"
    return {key: folder / name for key, name in zip(("metrics", "run", "predictions"), RUN_FILES)}


def seeds_in(pack_dir: str | Path) -> list[int]:
    """The seeds a finished training job wrote, in order (its directory has nothing else)."""
    return sorted(int(p.name[4:]) for p in Path(pack_dir).glob("seed*") if p.name[4:].isdigit())


def runs_of_packs(pack_dirs: list, benchmarks: list | None = None) -> list[dict]:
    """aggregate.load_runs' list for training jobs' directories (and their benchmarks, in the same
    order): each seed's run.json and metrics.csv, with the benchmark of its job."""
    benchmarks = benchmarks or [None] * len(pack_dirs)
    return [{**run_paths(folder, seed), "benchmark": bench}
            for folder, bench in zip(pack_dirs, benchmarks) for seed in seeds_in(folder)]


# run.json, key by key: the one list of its keys. run_record writes exactly these; the
# report's final table (aggregate.FINAL_COLUMNS), the tests' synthetic runs and the
# workflow tests are checked against it.
RUN_JSON = {
    "dataset": "the dataset's name",
    "ablation": "the ablation's name",
    "seed": "the seed: initial weights, batch order, dropout masks",
    "hparams": "the resolved hyper-parameters",
    "pack_seeds": "the seeds trained in the same job (seeds_per_job)",
    "batched": "whether the pack trained as one batched model (GPU) or seed after seed",
    "param_count": "trainable parameters",
    "status": "ok or diverged",
    "diverged_at_step": "the step whose loss was not finite (null when ok)",
    "steps": "training steps taken",
    "resumed_from_step": "the checkpoint step training resumed from (0: from scratch)",
    "final": "final train/test accuracy and loss, over the full sets",
    "wall_time_s": "this seed's training time (the pack's when batched)",
    "job_wall_time_s": "the whole job's time: start, data, every seed, writing",
    "flop": "matmul FLOPs of the run computed by this job (after a resumed checkpoint's step)",
    "flop_rate": "FLOP/s the run achieved: flop over its training time (the pack's when batched)",
    "probe_flop_rate": "FLOP/s of the job's own matmul probe (flops.matmul_probe) after training",
    "probe_s": "what the probe cost, seconds",
    "started_at": "when the job started, UTC",
    "device": "cpu or cuda:N",
    "device_name": "the GPU's name, or the CPU's",
    "threads": "torch threads of the job",
    "dataset_sha256": "checksum of the prepared dataset file",
    "test_predictions_sha256": "checksum of test_predictions.npz (the class predicted for each "
                               "test example at each evaluation)",
    "dataset_source": "where the data came from (files and their checksums, or how generated)",
    "python_version": "Python of the job",
    "torch_version": "torch of the job",
    "torchvision_version": "torchvision installed with it",
}


def write_run(pack_dir: str | Path, job: dict, seed: int, result, test_labels) -> None:
    """One seed's metrics.csv, test_predictions.npz and run.json (last: it holds the others'
    checksum), in its pack's directory."""
    paths = run_paths(pack_dir, seed)
    write_text_atomic(paths["metrics"], metrics_csv(result.rows))
    write_predictions(paths["predictions"], [step for step, _ in result.predictions],
                      [p.numpy() for _, p in result.predictions], test_labels)
    record = {**job, "test_predictions_sha256": file_sha256(paths["predictions"])}
    write_json_atomic(paths["run"], run_record(record, seed, result))


def run_record(job: dict, seed: int, result) -> dict:
    """run.json of one seed: what the whole job shares (`job`) plus the seed's own result.
    Its keys are exactly RUN_JSON's (ValueError otherwise, naming the odd ones)."""
    record = _record(job, seed, result)
    if set(record) != set(RUN_JSON):
        odd = sorted(set(record) ^ set(RUN_JSON))
        raise ValueError(f"run.json keys differ from runs.RUN_JSON: {', '.join(odd)}")
    return record


def _record(job: dict, seed: int, result) -> dict:
    import importlib.metadata
    import platform

    import torch
    device = job["device"]
    return {
        **job, "device": str(device), "seed": seed,
        "param_count": result.param_count, "status": result.status,
        "diverged_at_step": result.diverged_at_step, "steps": result.steps,
        "resumed_from_step": result.resumed_from_step, "final": result.final,
        # Training time of this seed (of the whole pack when it was trained batched).
        "wall_time_s": round(result.seconds, 3),
        "flop": result.flop, "flop_rate": result.flop_rate,
        "device_name": (torch.cuda.get_device_name(device) if device.type == "cuda"
                        else platform.processor() or platform.machine()),
        "python_version": platform.python_version(), "torch_version": torch.__version__,
        # The installed distribution's version: importing torchvision only to read it costs
        # ~1.5 s per job (its __init__ imports every model definition).
        "torchvision_version": importlib.metadata.version("torchvision"),
    }
