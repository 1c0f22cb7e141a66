"""Faults through the real snakemake CLI: a hard kill mid-training, SIGTERM (a time
limit), divergence as a failure, and a failing job under --keep-going."""
import json
import os
import signal
import subprocess
import time

import pandas as pd
import pytest

from conftest import (as_float32, copy_workflow, event_rows, pack_dir, run_snakemake, seed_file,
                      tiny_config, write_tiny_idx_dataset)
from jobplan import parse_jobs, train_jobs

pytestmark = pytest.mark.workflow

# 1024 steps an epoch (about 1 s or more on a busy core), a checkpoint every 64: slow
# enough to be caught in the middle of the first epoch; with dropout and batch norm so
# that resuming must also restore the dropout generator and the running statistics.
LONG = {"long": {"hidden": [256, 256], "batch_size": 4, "epochs": 3, "eval_every": 32,
                 "checkpoint_every": 64, "max_steps": None, "lr": 0.02, "dropout": 0.1,
                 "batch_norm": True}}
STEPS_PER_EPOCH = 1024
LONG_PACK = pack_dir("tiny", "long", "seeds0")
LONG_METRICS = seed_file("tiny", "long", "seeds0", 0, "metrics.csv")
LONG_RUN_JSON = seed_file("tiny", "long", "seeds0", 0, "run.json")
LONG_PREDICTIONS = seed_file("tiny", "long", "seeds0", 0, "test_predictions.npz")
LONG_LOG = "results/logs/train/tiny/long/seeds0.log"
LONG_EVENTS = "results/tensorboard/tiny/long/seed0"


def long_study(workdir):
    tiny_config(workdir, ablations=LONG, seeds=(0,))
    write_tiny_idx_dataset(workdir / "tiny-data", n_train=4 * STEPS_PER_EPOCH)


def start_snakemake(workdir, *args):
    return subprocess.Popen(["snakemake", "--cores", "2", *args], cwd=workdir,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def wait_for_line(path, text, proc, timeout=240):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text():
            return
        if proc.poll() is not None:
            pytest.fail(f"snakemake ended ({proc.returncode}) before {text!r} appeared in {path}")
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    pytest.fail(f"{text!r} did not appear in {path} within {timeout} s")


def test_sigkill_in_the_first_epoch_resumes_from_the_last_checkpoint_with_identical_metrics(
        workdir, tmp_path):
    reference = copy_workflow(tmp_path / "reference")
    long_study(reference)
    long_study(workdir)
    # The uninterrupted run goes on beside the one that gets killed.
    uninterrupted = start_snakemake(reference, LONG_PACK)
    killed = start_snakemake(workdir)  # the README's command
    # The step-256 checkpoint is saved just after step 256's evaluation line: wait for the
    # next evaluation (288), so that it exists when the kill comes.
    wait_for_line(workdir / LONG_LOG, "seed 0: step 288/", killed)
    os.killpg(killed.pid, signal.SIGKILL)  # snakemake, the job and everything they started
    killed.wait()

    assert not (workdir / LONG_METRICS).exists(), "the job finished before the kill"
    assert not (workdir / LONG_RUN_JSON).exists()
    assert (workdir / "results/checkpoints/tiny/long/seed0.pt").is_file()
    assert any((workdir / ".snakemake" / "locks").iterdir()), "the killed run left its lock"

    # A half-written output (as a non-atomic writer would leave) is never taken as complete:
    # Snakemake marked the job's outputs incomplete when it started.
    (workdir / LONG_METRICS).parent.mkdir(parents=True, exist_ok=True)
    (workdir / LONG_METRICS).write_text("step,epoch,split,met")
    bare = run_snakemake(workdir, "-n", "--workflow-profile", "none", check=False)
    assert bare.returncode != 0 and "IncompleteFilesException" in bare.stdout
    # No Snakemake is alive in the directory, so the next invocation cleared the dead lock.
    assert "Removed the directory lock left by a Snakemake run that was killed" in bare.stdout
    assert not any((workdir / ".snakemake" / "locks").iterdir())
    assert LONG_PACK in bare.stdout
    # The default profile (rerun-incomplete) plans it again instead.
    assert train_jobs(parse_jobs(run_snakemake(workdir, "-n").stdout)) == {("long", 0)}

    run_snakemake(workdir)  # the README's command again: resumes and finishes the study

    log = (workdir / LONG_LOG).read_text()
    step = json.loads((workdir / LONG_RUN_JSON).read_text())["resumed_from_step"]
    assert 256 <= step < STEPS_PER_EPOCH and step % 64 == 0, step  # mid first epoch
    assert f"resumed from checkpoint at step {step} " in log
    assert not (workdir / "results/checkpoints/tiny/long/seed0.pt").exists()
    assert (workdir / "results/summary.html").is_file()
    assert uninterrupted.wait(timeout=300) == 0
    for name in (LONG_METRICS, LONG_PREDICTIONS):
        assert (workdir / name).read_bytes() == (reference / name).read_bytes(), name
    # The live curves of the killed and resumed run: every step of metrics.csv, once.
    events = event_rows(workdir / LONG_EVENTS)
    assert len(events) == len(set(events))
    assert events == as_float32(pd.read_csv(workdir / LONG_METRICS).itertuples(index=False))


def test_sigterm_saves_the_current_step_and_exits_non_zero_then_the_rerun_resumes(workdir, tmp_path):
    """What SLURM does at a time limit: SIGTERM, then SIGKILL after a grace period."""
    reference = copy_workflow(tmp_path / "reference")
    long_study(reference)
    long_study(workdir)
    uninterrupted = start_snakemake(reference, LONG_PACK)
    running = start_snakemake(workdir, LONG_PACK)
    wait_for_line(workdir / LONG_LOG, "seed 0: step 96/", running)
    (pid,) = [int(p) for p in subprocess.run(
        ["pgrep", "-f", f"{workdir}/.snakemake/scripts/.*train.py"],
        capture_output=True, text=True).stdout.split()]
    os.kill(pid, signal.SIGTERM)
    sent = time.monotonic()
    while os.path.exists(f"/proc/{pid}") and time.monotonic() - sent < 30:
        time.sleep(0.02)
    exited_after = time.monotonic() - sent
    assert running.wait(timeout=60) != 0  # the job failed: Snakemake stops
    assert exited_after < 5, f"the training job took {exited_after:.1f} s to stop"
    last = (workdir / LONG_LOG).read_text().splitlines()[-1]
    stopped_at = int(last.split("stopped at step ")[1].split(";")[0])
    assert last.startswith("SIGTERM: ") and "checkpoint" in last and stopped_at >= 96
    assert (workdir / "results/checkpoints/tiny/long/seed0.pt").is_file()

    run_snakemake(workdir, LONG_PACK)  # the next attempt
    assert f"resumed from checkpoint at step {stopped_at} " in (workdir / LONG_LOG).read_text()
    assert uninterrupted.wait(timeout=300) == 0
    for name in (LONG_METRICS, LONG_PREDICTIONS):
        assert (workdir / name).read_bytes() == (reference / name).read_bytes(), name


def test_on_divergence_fail_fails_the_job_and_its_log_says_why(workdir):
    tiny_config(workdir, ablations={"unstable": {"activation": "maxout", "lr": 1000.0,
                                                 "momentum": 0.9}},
                seeds=(0,), on_divergence="fail")
    run = pack_dir("tiny", "unstable", "seeds0")
    result = run_snakemake(workdir, run, check=False)
    assert result.returncode != 0
    log = "results/logs/train/tiny/unstable/seeds0.log"
    assert log in result.stdout  # Snakemake points at the log
    last = "\n".join((workdir / log).read_text().splitlines()[-3:])
    assert "diverged" in last and "step" in last and "on_divergence" in last
    assert not (workdir / run).exists()  # no output of the failed job is left


def test_keep_going_lets_the_rest_finish_when_a_training_job_fails(workdir):
    tiny_config(workdir, ablations={"good": {}, "bad": {"dataset": "other"}}, seeds=(0,))
    config_path = workdir / "config/config.yaml"
    config_path.write_text(config_path.read_text().replace(
        "custom_datasets:\n", f"custom_datasets:\n  other: {workdir / 'tiny-data'}\n", 1))
    # A damaged prepared dataset (disk full, a stray edit): the job reading it must fail.
    corrupt = workdir / "results/data/other.pt"
    corrupt.parent.mkdir(parents=True)
    corrupt.write_bytes(b"not a tensor file")
    targets = [pack_dir(d, a, "seeds0") for d, a in (("tiny", "good"), ("other", "bad"))]
    result = run_snakemake(workdir, "--keep-going", *targets, check=False)
    assert result.returncode != 0
    good = workdir / seed_file("tiny", "good", "seeds0", 0, "run.json")
    assert json.loads(good.read_text())["status"] == "ok"
    assert not (workdir / targets[1]).exists()
    last = "\n".join((workdir / "results/logs/train/other/bad/seeds0.log").read_text().splitlines()[-2:])
    assert "results/data/other.pt: not a prepared dataset" in last and "delete it" in last


class _Killed(Exception):
    pass


def test_a_checkpoint_made_from_other_code_or_data_is_not_resumed(workdir):
    """A job killed before an edit leaves a checkpoint; after the edit it must start afresh."""
    import torch

    from mlpstudy.config import validate
    from mlpstudy.datasets import load_idx_dir
    from mlpstudy.plan import hparams
    from mlpstudy.training import train_seed

    config = tiny_config(workdir, ablations={"base": {"epochs": 3, "max_steps": None,
                                                      "checkpoint_every": 4}}, seeds=(0,))
    checkpoint = workdir / "results/checkpoints/tiny/base/seed0.pt"

    def die_after_first_epoch(line):
        if line.startswith("epoch 1/3 done"):
            raise _Killed

    # Same hyper-parameters and seed as the job, so only the inputs stamp tells them apart.
    with pytest.raises(_Killed):
        train_seed(hparams(validate(config), "base", "tiny"), load_idx_dir(workdir / "tiny-data"), 0,
              torch.device("cpu"), checkpoint=checkpoint, log=die_after_first_epoch)
    assert checkpoint.is_file()
    checkpoint.with_name("seed0.pt.inputs").write_text('{"made by": "older code"}')

    run_snakemake(workdir, pack_dir("tiny", "base", "seeds0"))
    log = (workdir / "results/logs/train/tiny/base/seeds0.log").read_text()
    assert "discarding the checkpoint" in log and "resumed from checkpoint" not in log
    run = json.loads((workdir / seed_file("tiny", "base", "seeds0", 0, "run.json")).read_text())
    assert run["resumed_from_step"] == 0 and run["steps"] == 24
    assert not checkpoint.exists() and not checkpoint.with_name("seed0.pt.inputs").exists()
