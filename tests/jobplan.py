"""What a dry run would execute, job by job: (rule, wildcards) pairs parsed from `snakemake -n`.

The 'Job stats' table only counts jobs per rule; incremental-rerun tests need to
know exactly which (ablation, seeds) a train job is for, so this reads each job
block ("rule train:" ... "output: results/runs/tiny/base/seed0/metrics.csv, ..."
... "wildcards: dataset=tiny, ablation=base"). The training rules (`train`, or one per
pack of seeds: train_seeds0_1, ...) all count as rule "train", with the pack's seeds
as a wildcard "seeds" ("0,1").
"""
from __future__ import annotations

import re

from conftest import run_snakemake

_JOB_START = re.compile(r"^(?:local)?rule (\w+):$")
_RUN_SEED = re.compile(r"results/runs/[^/]+/[^/]+/seed(\d+)/metrics\.csv")


def parse_jobs(dry_run_output: str) -> set[tuple]:
    """{(rule, ((wildcard, value), ...)), ...} of every job block in dry-run output."""
    jobs, rule, wildcards, seeds = set(), None, (), ""

    def close():
        if rule is None:
            return
        if rule == "train" or rule.startswith("train_"):
            jobs.add(("train", tuple(sorted(wildcards + (("seeds", seeds),)))))
        else:
            jobs.add((rule, wildcards))

    for line in dry_run_output.splitlines():
        match = _JOB_START.match(line)
        if match:
            close()
            rule, wildcards, seeds = match.group(1), (), ""
        elif rule is not None and line.strip().startswith("output:"):
            seeds = ",".join(_RUN_SEED.findall(line))
        elif rule is not None and line.strip().startswith("wildcards:"):
            pairs = line.split(":", 1)[1].split(",")
            wildcards = tuple(sorted(tuple(p.strip().split("=", 1)) for p in pairs))
        elif rule is not None and not line.startswith(" "):
            close()
            rule = None
    close()
    return jobs


def planned(workdir, *args) -> set[tuple]:
    """Jobs a dry run plans, without the `all` target."""
    out = run_snakemake(workdir, "-n", *args).stdout
    return {job for job in parse_jobs(out) if job[0] != "all"}


def train_packs(jobs) -> set[tuple[str, tuple[int, ...]]]:
    """(ablation, seeds of the pack) of each train job among `jobs`."""
    return {(dict(w)["ablation"], tuple(int(s) for s in dict(w)["seeds"].split(",")))
            for rule, w in jobs if rule == "train"}


def train_jobs(jobs) -> set[tuple[str, int]]:
    """(ablation, seed) of every run that the train jobs among `jobs` (re)train."""
    return {(ablation, seed) for ablation, pack in train_packs(jobs) for seed in pack}


def rules(jobs) -> set[str]:
    return {rule for rule, _ in jobs}
