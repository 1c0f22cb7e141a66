"""What a training job shows while it runs: progress lines in its log and live curves.

Progress: a line in the job's log at every tenth of its steps.

Live curves: `tensorboard --logdir results/tensorboard` shows every run as it trains, one run
directory per dataset/ablation/seed, with the scalars and steps of its metrics.csv
(tags `batch/loss`, `train/loss`, `train/accuracy`, `test/loss`, `test/accuracy`;
TensorBoard keeps them as 32-bit floats). The training loop hands rows over as it
records them (at each evaluation, every eval_every steps).

A run that starts, or resumes from a checkpoint, starts its event files afresh and
first writes the rows it resumed with: whatever an earlier attempt flushed (or did not)
before it was killed, the curve then has every step once. Its first event also tells a
TensorBoard that is already watching to drop what it showed of the earlier attempt.
The event files are a side channel, like the checkpoints: no rule declares them.

The ablation's mean so far: once a job has written its seeds, the mean run of its ablation
(mlpstudy.seed_groups) over the seeds finished so far, by the job's packs and any other.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

# Where a study's event files go (relative to the working directory, like results/).
TENSORBOARD_ROOT = "results/tensorboard"
# Rows are (step, epoch, split, metric, value), as in metrics.csv.
TAG = "{split}/{metric}"


class TensorBoardCurves:
    """One run's event files under `directory` (made anew by `restart`)."""

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        self.writer = None

    def restart(self, rows) -> None:
        """Start the run's curves over, holding `rows` (those a resumed run already has)."""
        # Imported here: a study with TensorBoard turned off never loads it (~0.3 s).
        from tensorboard.compat.proto.event_pb2 import Event, SessionLog
        from tensorboard.summary.writer.event_file_writer import EventFileWriter

        self.close()
        shutil.rmtree(self.directory, ignore_errors=True)
        # A queue long enough that adding rows never waits for the writer's thread.
        self.writer = EventFileWriter(str(self.directory), max_queue_size=4096, flush_secs=10)
        # START at step 0: a TensorBoard already reading this run drops the steps it has.
        self.writer.add_event(Event(wall_time=time.time(), step=0,
                                    session_log=SessionLog(status=SessionLog.START)))
        self.add(rows)

    def add(self, rows) -> None:
        from tensorboard.compat.proto.event_pb2 import Event
        from tensorboard.compat.proto.summary_pb2 import Summary

        now = time.time()
        for step, _, split, metric, value in rows:
            value = Summary.Value(tag=TAG.format(split=split, metric=metric),
                                  simple_value=float(value))
            self.writer.add_event(Event(wall_time=now, step=int(step),
                                        summary=Summary(value=[value])))

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def tensorboard_dir(root: str | Path, dataset: str, ablation: str, seed: int) -> Path:
    """A run's directory of event files: one TensorBoard run per dataset/ablation/seed."""
    return Path(root) / dataset / ablation / f"seed{seed}"


# The runs the report adds (mlpstudy.seed_groups): an ablation's mean over its seeds, beside
# them, named as no seed's run can be; the custom-scalars layout at the top, named with a dot
# as no dataset can be.
MEAN_RUN = "mean"
LAYOUT_RUN = "figure.groups"


def mean_run_dir(root: str | Path, dataset: str, ablation: str) -> Path:
    """An ablation's mean run: the mean over its seeds with their band, beside their runs."""
    return Path(root) / dataset / ablation / MEAN_RUN


# The mean run's file over all of an ablation's seeds (the seed_group job's output). Its name
# sorts after that of every file over the seeds so far (mlpstudy.seed_groups), which carry
# the time: TensorBoard reads a run's files in name order.
FINAL_EVENT_FILE = "events.out.tfevents.all-seeds.mlpstudy"


def mean_run_file(root: str | Path, dataset: str, ablation: str) -> Path:
    """The seed_group job's file of an ablation's mean run."""
    return mean_run_dir(root, dataset, ablation) / FINAL_EVENT_FILE


def mean_so_far(pack_dir: str | Path, mean_dir: str | Path, config: dict,
                log: Callable[[str], None]) -> None:
    """After a training job wrote its seeds into `pack_dir`: the mean run (`mean_dir`) over
    its ablation's seeds finished so far, those of the study's packs (`config`) whose
    directories are beside `pack_dir`. In a child process, `python -m mlpstudy.seed_groups`:
    a module the job does not import is not one of its code inputs, so editing the report's
    TensorBoard code retrains nothing. Never fails the job: what goes wrong is logged, and
    the seed_group job writes the whole run at the end anyway."""
    package_root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, [str(package_root), os.environ.get("PYTHONPATH")]))}
    command = [sys.executable, "-m", "mlpstudy.seed_groups", str(Path(pack_dir).resolve()),
               str(Path(mean_dir).resolve())]
    try:
        done = subprocess.run(command, input=json.dumps(config, default=str), env=env,
                              capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.SubprocessError) as exc:
        log(f"the ablation's mean so far is not in TensorBoard: {exc}")
        return
    if done.returncode:
        log(f"the ablation's mean so far is not in TensorBoard (exit status {done.returncode}):"
            f"\n{done.stderr.strip()}")
    else:
        log(done.stdout.strip())


class Progress:
    """A pack's progress as a line in its job's log at every tenth of its training steps:
    its seeds, step/total, steps per second, elapsed time and the time left at that rate.
    Steps a resumed job had done before, or that a diverged run will not take, count as
    done but not towards the rate."""

    def __init__(self, seeds: list[int], total: int, how: str, log: Callable[[str], None]):
        self.seeds, self.total, self.how, self.log = list(seeds), max(total, 1), how, log
        self.done = self.skipped = 0
        self.tenths = 0  # tenths of the total reported so far
        self.started = time.perf_counter()

    def advance(self) -> None:
        self.done += 1
        if 10 * self.done >= (self.tenths + 1) * self.total:
            self.report()

    def skip(self, steps: int) -> None:
        self.done, self.skipped = self.done + steps, self.skipped + steps
        if self.done >= self.total and self.tenths < 10:
            self.report()
        self.tenths = max(self.tenths, 10 * self.done // self.total)

    def report(self) -> None:
        self.tenths = 10 * self.done // self.total
        elapsed = time.perf_counter() - self.started
        rate = (self.done - self.skipped) / elapsed if elapsed > 0 else 0.0
        left = (f"about {_duration((self.total - self.done) / rate)} left" if rate
                else "time left unknown")
        self.log(f"progress: seeds {', '.join(map(str, self.seeds))} ({len(self.seeds)}, "
                 f"{self.how}): step {self.done}/{self.total} "
                 f"({100 * self.done / self.total:.0f}%), {rate:.1f} steps/s, "
                 f"{_duration(elapsed)} elapsed, {left}")


def _duration(seconds: float) -> str:
    if seconds < 100:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min" if seconds < 6000 else f"{seconds / 3600:.1f} h"
