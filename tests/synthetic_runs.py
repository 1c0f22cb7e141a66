"""Synthetic run directories (run.json, metrics.csv, benchmark tsv) for the report tests."""
from __future__ import annotations

import json
import math
from pathlib import Path

from mlpstudy.runs import RUN_JSON

# ablation -> (param_count, final test accuracy by seed); train accuracy is test + 0.01.
DEFAULT_RUNS = {
    "base": (203530, {0: 0.90, 1: 0.91, 2: 0.92}),
    "maxout": (335114, {0: 0.92, 1: 0.93, 2: 0.94}),
    "kl_div": (203530, {0: 0.88, 1: 0.89, 2: 0.90}),
}


def write_run(root: Path, dataset: str, ablation: str, seed: int, test_acc: float,
              param_count: int, status: str = "ok", steps: int = 60, benchmark: bool = True,
              curve: dict | None = None) -> dict:
    """One run. `curve`: step -> test accuracy of every evaluation (a known shape for the
    curve metrics); without it the accuracy rises linearly from 0.1 to `test_acc`."""
    run_dir = root / "runs" / dataset / ablation / f"seed{seed}"
    run_dir.mkdir(parents=True, exist_ok=True)
    rows = ["step,epoch,split,metric,value"]
    if curve is not None:
        steps = max(curve) if status == "ok" else steps
        test_acc = curve[max(curve)] if status == "ok" else test_acc
    last = steps if status == "ok" else steps // 2
    evals = sorted(s for s in curve if s <= last) if curve is not None else range(0, last + 1, 20)
    for step in evals:
        frac = step / steps
        acc = curve[step] if curve is not None else 0.1 + (test_acc - 0.1) * frac
        loss = 2.3 * (1 - frac) + 0.3 if status == "ok" or step < last else math.nan
        for split, shift in (("train", 0.01), ("test", 0.0)):
            rows.append(f"{step},{frac:.4f},{split},loss,{loss!r}")
            rows.append(f"{step},{frac:.4f},{split},accuracy,{acc + shift * frac!r}")
        if step:
            rows.append(f"{step},{frac:.4f},batch,loss,{loss!r}")
    (run_dir / "metrics.csv").write_text("\n".join(rows) + "\n")
    final = {"train_accuracy": test_acc + 0.01, "test_accuracy": test_acc,
             "train_loss": 0.3, "test_loss": 0.35}
    if status != "ok":
        final = {"train_accuracy": 0.098, "test_accuracy": 0.1, "train_loss": math.nan,
                 "test_loss": math.nan}
    run = {"dataset": dataset, "ablation": ablation, "seed": seed, "hparams": {"lr": 0.1},
           "pack_seeds": [seed], "batched": False, "job_wall_time_s": 3.0,
           "param_count": param_count, "status": status,
           "diverged_at_step": None if status == "ok" else last, "steps": last,
           "resumed_from_step": 0, "final": final, "device": "cpu", "device_name": "x86_64",
           "threads": 1, "started_at": "2026-01-01T00:00:00+00:00", "wall_time_s": 1.5,
           "flop": 3.0e10, "flop_rate": 2.0e10, "probe_flop_rate": 4.0e10, "probe_s": 0.02,
           "python_version": "3.11.7", "torch_version": "2.14.1",
           "torchvision_version": "0.29.1", "dataset_sha256": "ab" * 32,
           "dataset_source": {"generated": "test"}, "test_predictions_sha256": None}
    assert set(run) == set(RUN_JSON), "synthetic run.json out of step with runs.RUN_JSON"
    (run_dir / "run.json").write_text(json.dumps(run))
    paths = {"run": run_dir / "run.json", "metrics": run_dir / "metrics.csv",
             "predictions": run_dir / "test_predictions.npz", "benchmark": None}
    if benchmark:
        bench = root / "benchmarks" / "train" / dataset / ablation / f"seed{seed}.tsv"
        bench.parent.mkdir(parents=True, exist_ok=True)
        bench.write_text("s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load"
                         f"\tcpu_time\n2.{seed}\t0:00:02\t{300 + seed}.5\t900\t250\t260\t0\t1\t90\t1.9\n")
        paths["benchmark"] = bench
    return paths


def write_study(root: Path, runs: dict = DEFAULT_RUNS, diverged=(("maxout", 3),),
                dataset: str = "tiny") -> list[dict]:
    """Every run of `runs`, plus the `diverged` (ablation, seed) runs; returns their paths."""
    paths = []
    for ablation, (params, accs) in runs.items():
        for seed, acc in accs.items():
            paths.append(write_run(root, dataset, ablation, seed, acc, params))
    for ablation, seed in diverged:
        paths.append(write_run(root, dataset, ablation, seed, 0.1, runs[ablation][0],
                               status="diverged"))
    return paths
