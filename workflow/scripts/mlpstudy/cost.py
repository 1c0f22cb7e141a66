"""A study's cost before and after it runs: the plan line Snakemake prints when a study
starts (runs, FLOPs, an estimate of the wall time), the line at its end (the rate achieved),
and the efficiency of its training jobs from their own records (run.json: the FLOP rate each
run achieved beside the job's matmul probe, mlpstudy.flops).

Torch-free: the Snakefile's onstart/onsuccess handlers call it in Snakemake's own process;
the matmul rate of a fresh machine is probed in a child process (flops.matmul_probe).
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

# What a job costs beyond its matmuls, measured with `snakemake --cores 2` on a 2-core CPU
# (the default mnist-5k study, torch 2.14.1, docs/performance.md): a training job's process
# start, `import torch`, data load, probe and writing (its benchmark seconds minus its runs'
# training time: median 4.5 s, 3.8-7.6 s), and a job of the report or the data (prepare,
# aggregate, figures, claims, summary: 84 s for 10 jobs; figures and the XOR boundary take
# 22-24 s, the rest 1-8 s).
TRAIN_JOB_S = 4.5
OTHER_JOB_S = 8.0
# The share of the matmul probe's rate a training run achieves as a whole (evaluation,
# small matmuls, the loss and the optimizer included), where no earlier run says: 57% on
# the same study.
EFFICIENCY = 0.6
# The probe in the child process: threads, seconds of matmuls (plus its start and import).
PROBE = ("import sys, torch; torch.set_num_threads(int(sys.argv[1])); "
         "from mlpstudy.flops import matmul_probe; print(matmul_probe('cpu', 0.1)['flop_rate'])")


def earlier_rate(runs_dir: str | Path) -> float | None:
    """The matmul rate (FLOP/s) earlier training runs in `runs_dir` achieved over their
    training time, all of them together; None where none recorded one."""
    flop = seconds = 0.0
    for path in Path(runs_dir).glob("*/*/*/seed*/run.json"):
        run = json.loads(path.read_text())
        if run.get("flop") and run.get("flop_rate"):
            flop += run["flop"]
            seconds += run["flop"] / run["flop_rate"]
    return flop / seconds if seconds else None


def probed_rate(scripts_dir: str | Path, threads: int = 1) -> float | None:
    """What a training run would achieve on this machine now: a short matmul probe in a child
    process (torch stays out of Snakemake's), times the share runs reach (EFFICIENCY). None
    where Snakemake's Python has no torch (the jobs may run in a conda environment)."""
    try:
        out = subprocess.run([sys.executable, "-c", PROBE, str(threads)], cwd=scripts_dir,
                             capture_output=True, text=True, check=True, timeout=60).stdout
        return float(out.split()[-1]) * EFFICIENCY
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return None


def estimate_seconds(train_flops: list[float], other_jobs: int, rate: float,
                     cores: int) -> float:
    """The study's wall time: every job's time (a training job's overhead plus its FLOPs at
    `rate`, a report job's fixed time) spread over `cores` job slots, but never less than its
    longest training job followed by the report jobs that wait for it (about 4 in a row)."""
    train = [TRAIN_JOB_S + flop / rate for flop in train_flops]
    spread = (sum(train) + other_jobs * OTHER_JOB_S) / max(cores, 1)
    chain = max(train, default=0.0) + min(other_jobs, 4) * OTHER_JOB_S
    return max(spread, chain)


def _flop(flop: float) -> str:
    return f"{flop / 1e12:.2f} TFLOP" if flop >= 1e11 else f"{flop / 1e9:.2f} GFLOP"


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


def plan_line(runs: int, jobs: int, flop: float, seconds: float | None, rate: float | None,
              source: str, cores: int, most: tuple[int, float, float | None] | None = None
              ) -> str:
    """The line a study starts with. `most`: (runs, FLOPs, seconds) if every round of
    adaptive seeds runs; the first figures are then the case where no claim needs a second.
    Without a rate (seconds None) it gives no time."""
    def time(s):
        return f"about {_duration(s)}" if s is not None else "time unknown"
    line = (f"Plan: {runs} training runs in {jobs} jobs, {_flop(flop)} of matmuls; "
            f"{time(seconds)} on {cores} core(s)")
    if most:
        line += (f" if no claim needs a second round of seeds, up to {most[0]} runs, "
                 f"{_flop(most[1])}, {time(most[2])} if every round runs")
    if rate is None:
        return line + f" ({source})."
    return line + f" (at {rate / 1e9:.1f} GFLOP/s per job: {source})."


def runs_since(runs_dir: str | Path, started: float) -> list[dict]:
    """run.json of every run written after `started` (time.time())."""
    paths = Path(runs_dir).glob("*/*/*/seed*/run.json")
    return [json.loads(p.read_text()) for p in paths if p.stat().st_mtime >= started]


def end_line(runs: list[dict], started: float, estimate: float | None) -> str:
    """The line a study ends with: what ran, how long it took against the estimate, the FLOP
    rate achieved (over the wall time, and per job over its training) and against the jobs'
    own probes."""
    wall = time.time() - started
    flop = sum(r.get("flop") or 0.0 for r in runs)
    line = f"Done: {len(runs)} training runs, {_flop(flop)} in {_duration(wall)}"
    if estimate:
        line += f" (estimated {_duration(estimate)}, {wall / estimate:.2f}x)"
    line += f": {flop / wall / 1e9:.1f} GFLOP/s over the wall time"
    eff = efficiency(runs)
    if eff:
        line += (f"; {eff['achieved'] / 1e9:.1f} GFLOP/s per job while training, "
                 f"{100 * eff['ratio']:.0f}% of their own matmul probes")
    return line + "."


def efficiency(runs) -> dict | None:
    """The training runs' FLOP rate together (all their FLOPs over all their training time,
    a batched pack's time counted once), their probes' rate weighted the same way, and the
    ratio: {"achieved", "probe", "ratio", "flop", "seconds"}. `runs`: run.json dicts or the
    final table's rows (flop, flop_rate, probe_flop_rate). None where none has the numbers."""
    rows = runs.to_dict("records") if hasattr(runs, "to_dict") else list(runs)
    rows = [r for r in rows if _number(r.get("flop")) and _number(r.get("flop_rate"))
            and _number(r.get("probe_flop_rate"))]
    if not rows:
        return None
    flop = sum(r["flop"] for r in rows)
    seconds = [r["flop"] / r["flop_rate"] for r in rows]
    probe = sum(s * r["probe_flop_rate"] for s, r in zip(seconds, rows)) / sum(seconds)
    achieved = flop / sum(seconds)
    return {"achieved": achieved, "probe": probe, "ratio": achieved / probe, "flop": flop,
            "seconds": sum(seconds)}


def _number(value) -> bool:
    return isinstance(value, (int, float)) and value == value and value > 0
