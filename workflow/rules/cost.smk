# The study's cost, before and after (mlpstudy.cost): when Snakemake starts running jobs, one
# line with the planned training runs, their FLOPs and an estimate of the wall time on this
# machine; when it is done, the rate achieved. Hooks run only when jobs run (not with -n,
# --lint or in a job's own process), so a dry run stays as fast as before.
import time

from snakemake.logging import logger

from mlpstudy import cost

RUNS_DIR = "results/runs"
# What onstart measured, for onsuccess.
COST = {}


def train_jobs_to_run():
    """(dataset, ablation, pack) of each training job Snakemake is about to run, and the
    number of its other jobs (report, data, looks)."""
    jobs = list(workflow.dag.needrun_jobs())
    train = [
        (j.wildcards.dataset, j.wildcards.ablation, j.wildcards.pack)
        for j in jobs
        if j.rule.name == "train"
    ]
    return train, sum(j.rule.name not in ("train", "all") for j in jobs)


def job_slots():
    """Jobs at once: the cores of a local run, the job limit of a cluster's."""
    return (workflow.cores if workflow.local_exec else workflow.nodes) or 1


def plan_figures(train, other, rate, slots):
    """Runs, FLOPs and the estimated seconds (None without a rate) of `train` jobs and
    `other` jobs."""
    flops = [plan.job_flops(STUDY, job) for job in train]
    runs = sum(len(PACKS[pack]) for *_, pack in train)
    seconds = cost.estimate_seconds(flops, other, rate, slots) if rate else None
    return runs, sum(flops), seconds


def announce_plan():
    """The plan line: runs, FLOPs and the estimated wall time of the jobs about to run."""
    train, other = train_jobs_to_run()
    if train:
        rate = cost.earlier_rate(RUNS_DIR)
        source = "the rate earlier runs here achieved"
        if rate is None:
            rate = cost.probed_rate(SCRIPTS)
            source = f"a matmul probe now, times {cost.EFFICIENCY} as runs reach"
        if rate is None:
            source = "no rate: Snakemake's Python cannot import torch to probe one"
        slots = job_slots()
        runs, flop, seconds = plan_figures(train, other, rate, slots)
        most = None
        if STUDY["adaptive_seeds"]:
            # Every later round for every ablation of a claim that can need one (the first
            # round's jobs are in the DAG already, unless a target left them out).
            first = set(plan.train_jobs(STUDY))
            later = [
                job
                for job in plan.train_jobs(STUDY, plan.every_round(STUDY))
                if job not in first and job not in train and not Path(pack_dir(*job)).exists()
            ]
            most = plan_figures(train + later, other, rate, slots)
        COST.update(started=time.time(), estimate=seconds)
        logger.info(cost.plan_line(runs, len(train), flop, seconds, rate, source, slots, most))


onstart:
    # The plan line only informs: whatever keeps it from being computed (say a custom
    # dataset whose files are missing, which prepare_dataset then reports) must not stop
    # the study.
    try:
        announce_plan()
    except Exception as exc:
        logger.warning(f"Plan: no estimate ({type(exc).__name__}: {exc}); the study runs on.")


onsuccess:
    if COST:
        runs = cost.runs_since(RUNS_DIR, COST["started"])
        logger.info(cost.end_line(runs, COST["started"], COST["estimate"]))
