"""The study through `snakemake --profile workflow/profiles/slurm` on a real SLURM cluster.

tests/run.sh starts a one-node cluster (tests/slurm/cluster.sh) before pytest; these
tests skip when no cluster answers `scontrol ping`, except in CI (CI=true), which must
have one. Besides the profile, the runs use only test options: a short wait before the
first status check, and the test cluster's account set where the profile says to set it.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import pack_dir, planned_jobs, run_snakemake, seed_file, tiny_config

pytestmark = pytest.mark.slurm

ACCOUNT = os.environ.get("MLPSTUDY_SLURM_ACCOUNT", "mlpstudy")
PROFILE = "workflow/profiles/slurm"
TEST_OPTIONS = ("--profile", PROFILE, "--slurm-init-seconds-before-status-checks", "2")


def _run(*cmd: str) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30)


def _cluster_problem() -> str | None:
    if shutil.which("scontrol") is None or shutil.which("sbatch") is None:
        return "SLURM client programs (scontrol, sbatch) are not installed"
    try:
        ping = _run("scontrol", "ping")
    except subprocess.TimeoutExpired:
        return "`scontrol ping` timed out"
    if ping.returncode != 0 or "UP" not in ping.stdout:
        return f"no SLURM controller reachable (`scontrol ping`: {(ping.stdout + ping.stderr).strip()})"
    return None


PROBLEM = _cluster_problem()


@pytest.fixture(autouse=True)
def cluster():
    if PROBLEM is None:
        return
    if os.environ.get("CI") == "true":
        # CI starts the cluster in tests/run.sh: a missing cluster there is a failure.
        pytest.fail(f"CI=true but {PROBLEM}")
    pytest.skip(f"{PROBLEM}; start the test cluster with `bash tests/slurm/cluster.sh start` (root)")


def use_test_account(workdir: Path) -> None:
    """Set slurm_account the way the profile tells a user to: uncomment and fill it in."""
    profile = workdir / PROFILE / "config.yaml"
    text = profile.read_text()
    line = re.compile(r'^(\s*)# slurm_account: .*$', re.M)
    assert line.search(text), "the profile no longer shows where to set slurm_account"
    profile.write_text(line.sub(rf'\1slurm_account: "{ACCOUNT}"', text, count=1))


def submitted_jobs(snakemake_output: str) -> dict[str, list[str]]:
    """Rule -> SLURM job ids, from the plugin's 'submitted with SLURM jobid N (log: ...)' lines."""
    jobs: dict[str, list[str]] = {}
    for job_id, rule in re.findall(r"SLURM jobid (\d+) \(log: \S*/slurm_logs/rule_([A-Za-z0-9_]+)/",
                                   snakemake_output):
        jobs.setdefault(rule, []).append(job_id)
    return jobs


def sacct_rows(job_ids: list[str], fields: str) -> list[dict[str, str]]:
    """One row per job from sacct, waiting briefly for the accounting records to settle."""
    names = fields.split(",")
    deadline = time.monotonic() + 30
    while True:
        out = _run("sacct", "-X", "-n", "-P", "-j", ",".join(job_ids), "-o", fields).stdout
        rows = [dict(zip(names, line.split("|"))) for line in out.splitlines() if line.strip()]
        if len(rows) == len(job_ids) and all(r.get("State") == "COMPLETED" for r in rows):
            return rows
        if time.monotonic() > deadline:
            return rows
        time.sleep(1)


def local_twin(workdir: Path, local: Path) -> Path:
    """The same workflow, config and data in another directory, with no results yet."""
    local.mkdir()
    for item in ("Snakefile", "workflow", "config", "environment.yml"):
        copy = shutil.copytree if (workdir / item).is_dir() else shutil.copy2
        copy(workdir / item, local / item)
    return local


def run_json(workdir: Path, ablation: str, seed: int = 0, pack: str = "seeds0") -> dict:
    return json.loads((workdir / seed_file("tiny", ablation, pack, seed, "run.json")).read_text())


def test_tiny_study_on_slurm_trains_each_pack_in_one_allocation_and_equals_a_local_run(
        workdir, tmp_path):
    """Every job of the default target runs as a SLURM job and completes; training takes
    one allocation per ablation (its seeds packed, sacct counts them); the curves are
    byte-identical to a local run on the CPU with one job per seed."""
    ablations = {"base": {"description": "baseline"}, "gelu": {"activation": "gelu"}}
    seeds = (0, 1, 2)
    tiny_config(workdir, ablations=ablations, seeds=seeds, device="cpu")
    local = local_twin(workdir, tmp_path / "local")
    use_test_account(workdir)

    t0 = time.monotonic()
    out = run_snakemake(workdir, *TEST_OPTIONS, timeout=480).stdout
    print(f"SLURM run of the tiny study: {time.monotonic() - t0:.0f} s")
    jobs = submitted_jobs(out)
    assert "train" in jobs, out[-3000:]
    all_ids = [i for ids in jobs.values() for i in ids]
    rows = sacct_rows(all_ids, "JobID,JobName,State,Account")
    assert sorted(r["JobID"] for r in rows) == sorted(all_ids)
    assert {(r["State"], r["Account"]) for r in rows} == {("COMPLETED", ACCOUNT)}
    # The allocations that trained the study's 6 runs, as the cluster's accounting has them.
    train_ids = set(jobs["train"])
    assert len([r for r in rows if r["JobID"] in train_ids]) == len(ablations)
    assert planned_jobs(workdir) == {}, "the SLURM run left part of the study undone"

    targets = [pack_dir("tiny", a, f"seeds{s}") for a in ablations for s in seeds]
    run_snakemake(local, "--config", "seeds_per_job=1", "--", *targets, timeout=300)
    for ablation in ablations:
        for seed in seeds:
            path = seed_file("tiny", ablation, "seeds0-2", seed, "metrics.csv")
            alone = seed_file("tiny", ablation, f"seeds{seed}", seed, "metrics.csv")
            assert (workdir / path).read_bytes() == (local / alone).read_bytes(), path
            on_slurm = run_json(workdir, ablation, seed, "seeds0-2")
            here = run_json(local, ablation, seed, f"seeds{seed}")
            assert on_slurm["status"] == "ok" and on_slurm["device"] == "cpu"
            assert on_slurm["threads"] == 1 and on_slurm["pack_seeds"] == list(seeds)
            for key in ("final", "param_count", "hparams", "steps", "device", "dataset_sha256"):
                assert on_slurm[key] == here[key], key


def test_set_resources_of_rule_train_reach_every_packs_sbatch(workdir):
    """With seeds in packs of two, every training job is rule `train`: a profile's or the
    command line's `--set-resources train:...` reaches the sbatch of each of them."""
    tiny_config(workdir, ablations={"base": {}}, seeds=(0, 1, 2), seeds_per_job=2, device="cpu")
    use_test_account(workdir)
    out = run_snakemake(workdir, *TEST_OPTIONS, "--set-resources", "train:mem_mb=1234",
                        "train:runtime=7", "--", pack_dir("tiny", "base", "seeds0-1"),
                        pack_dir("tiny", "base", "seeds2"), timeout=300).stdout
    train_ids = submitted_jobs(out).get("train", [])
    assert len(train_ids) == 2, out[-3000:]
    rows = sacct_rows(train_ids, "JobID,State,ReqMem,Timelimit")
    assert {(r["State"], r["ReqMem"], r["Timelimit"]) for r in rows} == \
        {("COMPLETED", "1234M", "00:07:00")}, rows
    assert (workdir / seed_file("tiny", "base", "seeds2", 2, "run.json")).is_file()


def test_an_adaptive_study_runs_its_rounds_through_the_profile_unchanged(workdir):
    """Adaptive seeds on the cluster: the looks (checkpoints) run on the submit host, each
    round's training jobs as SLURM jobs, and the study ends with nothing left to do."""
    # A 50x smaller learning rate: clearly higher test loss, but two seeds decide nothing at
    # the family's level and the spread says two more would, so a second round runs.
    claim = {"text": "slow reaches a higher test loss than base", "ablation": "slow",
             "reference": "base", "metric": "test_loss", "expect": "greater"}
    tiny_config(workdir, ablations={"base": {}, "slow": {"lr": 0.002}}, seeds=(0, 1),
                claims=[claim], adaptive_seeds={"max": 4, "step": 2}, device="cpu")
    use_test_account(workdir)
    out = run_snakemake(workdir, *TEST_OPTIONS, timeout=480).stdout
    trained = submitted_jobs(out).get("train", [])
    assert len(trained) == 4, out[-3000:]  # two ablations, two rounds of 2 seeds
    assert "plan_round" not in submitted_jobs(out)  # a look runs on the submit host
    assert (workdir / seed_file("tiny", "slow", "seeds2-3", 3, "run.json")).is_file()
    assert planned_jobs(workdir) == {}


def _node_cpus() -> int:
    return int(_run("sinfo", "-h", "-o", "%c").stdout.split()[0])


def test_gpu_training_job_requests_a_gpu_and_still_runs_on_cpu(workdir):
    """With `device: cuda` (a GPU cluster's setting) the train job asks SLURM for a GPU
    (recorded by sacct), gets as many CPUs as it has threads, and on this node, whose
    GPUs are fake, trains on the CPU and says so in run.json."""
    gres = _run("sinfo", "-h", "-o", "%G").stdout
    if "gpu" not in gres:
        pytest.skip(f"the cluster's nodes declare no GPU (sinfo %G: {gres.strip()!r})")
    import torch
    tiny_config(workdir, ablations={"base": {}}, seeds=(0,), device="cuda")
    use_test_account(workdir)
    threads = min(2, _node_cpus())

    t0 = time.monotonic()
    out = run_snakemake(workdir, *TEST_OPTIONS, "--set-threads", f"train={threads}",
                        "--", pack_dir("tiny", "base", "seeds0"), timeout=300).stdout
    print(f"SLURM run of one GPU training job: {time.monotonic() - t0:.0f} s")
    train_ids = submitted_jobs(out).get("train", [])
    assert len(train_ids) == 1, out[-3000:]
    (row,) = sacct_rows(train_ids, "JobID,State,ReqTRES,AllocTRES")
    assert row["State"] == "COMPLETED"
    for tres in ("ReqTRES", "AllocTRES"):
        assert "gres/gpu=1" in row[tres], row
        assert f"cpu={threads}" in row[tres], row

    run = run_json(workdir, "base")
    assert run["status"] == "ok" and run["threads"] == threads
    assert run["device"] == ("cuda:0" if torch.cuda.is_available() else "cpu")


# A training job slow enough to be requeued mid-run: 1024 steps an epoch, a checkpoint
# every 64, dropout and batch norm (so the resume must restore generators and statistics).
REQUEUE_ABLATION = {"long": {"hidden": [256, 256], "batch_size": 4, "epochs": 2, "eval_every": 32,
                             "checkpoint_every": 64, "max_steps": None, "lr": 0.02,
                             "dropout": 0.1, "batch_norm": True}}


def test_a_requeued_training_job_resumes_from_its_checkpoint_with_identical_metrics(workdir, tmp_path):
    """`scontrol requeue` of a running training job (what preemption does): SLURM stops it
    with SIGTERM, queues it again, and the next run resumes from the checkpoint; the study
    finishes with metrics byte-identical to a local run, and nothing counts as failed."""
    from conftest import write_tiny_idx_dataset
    tiny_config(workdir, ablations=REQUEUE_ABLATION, seeds=(0,), device="cpu")
    write_tiny_idx_dataset(workdir / "tiny-data", n_train=4096)
    local = local_twin(workdir, tmp_path / "local")
    use_test_account(workdir)
    run, log = pack_dir("tiny", "long", "seeds0"), workdir / "results/logs/train/tiny/long/seeds0.log"
    metrics = seed_file("tiny", "long", "seeds0", 0, "metrics.csv")

    output = open(tmp_path / "snakemake.out", "w")
    proc = subprocess.Popen(["snakemake", "--cores", "2", *TEST_OPTIONS, run], cwd=workdir,
                            stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while not (log.exists() and "seed 0: step 256/" in log.read_text()):
            assert proc.poll() is None and time.monotonic() < deadline, \
                (tmp_path / "snakemake.out").read_text()[-3000:]
            time.sleep(0.1)
        (job_id,) = submitted_jobs((tmp_path / "snakemake.out").read_text())["train"]
        requeue = _run("scontrol", "requeue", job_id)
        assert requeue.returncode == 0, requeue.stderr
        # SLURM holds a requeued job back for a while (BeginTime); the test need not wait.
        while _run("squeue", "-h", "-j", job_id, "-o", "%T").stdout.strip() != "PENDING":
            assert time.monotonic() < deadline + 60, "the requeued job never went back to the queue"
            time.sleep(0.2)
        _run("scontrol", "update", f"JobId={job_id}", "StartTime=now")
        assert proc.wait(timeout=420) == 0, (tmp_path / "snakemake.out").read_text()[-4000:]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
            proc.wait(timeout=30)
    text = log.read_text()
    assert "resumed from checkpoint at step " in text, text[-2000:]
    # the step SIGTERM saved, or the last checkpoint before it: never from the start
    assert int(text.split("resumed from checkpoint at step ")[1].split()[0]) >= 256
    history = _run("sacct", "-X", "-n", "-P", "--duplicates", "-j", job_id, "-o", "State").stdout
    assert history.split() == ["REQUEUED", "COMPLETED"], history  # one allocation, run twice

    run_snakemake(local, run, timeout=300)
    assert (workdir / metrics).read_bytes() == (local / metrics).read_bytes()
