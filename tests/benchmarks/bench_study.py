"""Benchmark: the whole default study through the README's command, against its FLOP bound.

Run from the repository root (not part of the default pytest run):

    python tests/benchmarks/bench_study.py                        # CPU, --cores 2, packed
    python tests/benchmarks/bench_study.py --layouts single,packed  # old and new layout
    python tests/benchmarks/bench_study.py --gpu --cores 4 --layouts single,packed

For each layout (`single`: seeds_per_job 1, one job per seed as before packing;
`packed`: the config's default, one job per ablation) it times, in a fresh copy of
the workflow with the data already prepared (as the issue's target says),

    snakemake --cores N [--resources gpu=1] --config dataset=fashion-mnist seeds_per_job=...

(the whole default target: every training job and the report), and prints the wall
time against the study's FLOP bound: its matmul FLOPs (counted analytically by
mlpstudy.flops.run_flops, for every run of every ablation) over the fp32 `torch.mm`
peak measured in the same process on all cores (or on the GPU). It also prints the
number of training jobs and the largest peak memory (max RSS) of a training job.
Inputs: Fashion-MNIST from the config's data_dirs (Debian's dataset-fashion-mnist);
without it, generated data of the same shape, and the output says so.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_training import (DATASET, REPO, find_data, load, matmul_peak,  # noqa: E402
                            run_flops)

import torch  # noqa: E402

from conftest import copy_workflow  # noqa: E402
from mlpstudy.config import validate  # noqa: E402
from mlpstudy.plan import datasets_of, evaluations, hparams, planned_steps  # noqa: E402

LAYOUTS = {"single": 1, "packed": None}


def study_flops(config: dict, sizes: dict) -> float:
    """Matmul FLOPs of every run of the study: sizes[dataset] = (n_train, n_test, features, classes)."""
    total = 0.0
    for ablation in config["ablations"]:
        for dataset in datasets_of(config, ablation):
            hp = hparams(config, ablation, dataset)
            n_train, n_test, features, classes = sizes[dataset]
            steps = planned_steps(hp, n_train)
            flops = run_flops(hp, n_train, n_test, steps, evaluations(hp, steps), features,
                              classes)["total"]
            total += flops * len(config["seeds"])
    return total


def trained_flops(workdir: Path, config: dict, sizes: dict) -> float:
    """Matmul FLOPs of what the runs actually did: a diverged run stops at its step (the lr
    sweep's maxout at lr 0.5 and 1.0 stops within seconds), so this bound is the honest one."""
    total = 0.0
    for run_json in (workdir / "results" / "runs").rglob("run.json"):
        run = json.loads(run_json.read_text())
        metrics = (run_json.parent / "metrics.csv").read_text().splitlines()[1:]
        evals = len({line.split(",")[0] for line in metrics if ",test," in line})
        n_train, n_test, features, classes = sizes[run["dataset"]]
        total += run_flops(run["hparams"], n_train, n_test, run["steps"], evals, features,
                           classes)["total"]
    return total


def snakemake(workdir: Path, args: list[str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(["snakemake", *args], cwd=workdir, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"snakemake {' '.join(args)} failed:\n{proc.stdout[-4000:]}")
    return time.perf_counter() - start


def train_jobs(workdir: Path) -> list[dict]:
    """Seconds and max RSS (MB) of every training job, from Snakemake's benchmark files."""
    jobs = []
    for tsv in sorted((workdir / "results" / "benchmarks" / "train").rglob("*.tsv")):
        header, values = tsv.read_text().splitlines()[:2]
        row = dict(zip(header.split("\t"), values.split("\t")))
        jobs.append({"job": str(tsv.relative_to(workdir)), "s": float(row["s"]),
                     "max_rss_mb": float(row["max_rss"])})
    return jobs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--layouts", default="packed", help="comma-separated: single, packed")
    parser.add_argument("--cores", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--gpu", action="store_true", help="--resources gpu=1 and device auto")
    parser.add_argument("--json", type=Path, help="also write all numbers here")
    args = parser.parse_args()
    device = torch.device("cuda" if args.gpu else "cpu")
    torch.set_num_threads(len(os.sched_getaffinity(0)))
    results: dict = {"cores": args.cores, "gpu": args.gpu, "layouts": {}}
    with tempfile.TemporaryDirectory(prefix="mlpstudy-study-") as tmp_name:
        tmp = Path(tmp_name)
        data, idx_dir, described = find_data(tmp)
        print(f"data: {described}", flush=True)
        real = not described.startswith("generated")
        name = DATASET if real else "generated"
        base = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
        overrides = {"dataset": name, "download": False, "device": "auto" if args.gpu else "cpu",
                     "data_dirs": [str(idx_dir.parent / "{name}")],
                     "custom_datasets": {} if real else {"generated": str(idx_dir)}}
        config = validate({**base, **overrides})
        sizes = {name: (len(data["train_y"]), len(data["test_y"]), 784, 10), "xor": (4, 4, 2, 2)}
        flops = study_flops(config, sizes)
        peak = matmul_peak(device, 3)
        results.update(data=described, study_flop=flops, peak_flop_s=peak, bound_s=flops / peak)
        print(f"study: {flops / 1e12:.1f} TFLOP; fp32 matmul peak {peak / 1e9:.0f} GFLOP/s "
              f"-> bound {flops / peak:.0f} s ({load()})", flush=True)
        for layout in args.layouts.split(","):
            workdir = copy_workflow(tmp / layout)
            (workdir / "config" / "config.yaml").write_text(
                yaml.safe_dump({**base, **overrides, "seeds_per_job": LAYOUTS[layout]}, sort_keys=False))
            snakemake(workdir, ["--cores", "1", f"results/data/{name}.pt", "results/data/xor.pt"])
            command = ["--cores", str(args.cores), *(["--resources", "gpu=1"] if args.gpu else [])]
            print(f"\n== {layout}: snakemake {' '.join(command)} ({load()})", flush=True)
            wall = snakemake(workdir, command)
            jobs = train_jobs(workdir)
            done = trained_flops(workdir, config, sizes)
            results["layouts"][layout] = {
                "wall_s": wall, "bound_ratio": wall / (flops / peak), "trained_flop": done,
                "trained_bound_s": done / peak, "trained_bound_ratio": wall / (done / peak),
                "train_jobs": len(jobs), "jobs": jobs}
            print(f"{layout}: {wall:.1f} s = {wall / (flops / peak):.2f} x the FLOP bound of every "
                  f"planned step, {wall / (done / peak):.2f} x the bound of the steps that ran "
                  f"({done / 1e12:.1f} TFLOP, {done / peak:.0f} s: diverged runs stop early), "
                  f"{len(jobs)} training jobs, largest job RSS "
                  f"{max(j['max_rss_mb'] for j in jobs):.0f} MB ({load()})", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
