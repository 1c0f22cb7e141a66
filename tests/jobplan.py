"""What a dry run would execute, job by job: (rule, wildcards) pairs parsed from `snakemake -n`.

The 'Job stats' table only counts jobs per rule; incremental-rerun tests need to
know exactly which (ablation, seeds) a train job is for, so this reads each job
block ("rule train:" ... "wildcards: dataset=tiny, ablation=base, pack=seeds0-1").
A pack's name gives its first and last seed (mlpstudy.plan reads it); the tests' packs are
runs of consecutive seeds, so the seeds between are the pack's too.
"""
from __future__ import annotations

import re

from conftest import run_snakemake
from mlpstudy.plan import pack_ends

_JOB_START = re.compile(r"^(?:local)?(?:rule|checkpoint) (\w+):$")


def parse_jobs(dry_run_output: str) -> set[tuple]:
    """{(rule, ((wildcard, value), ...)), ...} of every job block in dry-run output."""
    jobs, rule, wildcards = set(), None, ()

    def close():
        if rule is not None:
            jobs.add((rule, wildcards))

    for line in dry_run_output.splitlines():
        match = _JOB_START.match(line)
        if match:
            close()
            rule, wildcards = match.group(1), ()
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


def pack_seeds(pack: str) -> tuple[int, ...]:
    """seeds0-2 -> (0, 1, 2), seeds4 -> (4,)."""
    first, last = pack_ends(pack)
    return tuple(range(first, last + 1))


def train_packs(jobs) -> set[tuple[str, tuple[int, ...]]]:
    """(ablation, seeds of the pack) of each train job among `jobs`."""
    return {(dict(w)["ablation"], pack_seeds(dict(w)["pack"])) for rule, w in jobs
            if rule == "train"}


def train_jobs(jobs) -> set[tuple[str, int]]:
    """(ablation, seed) of every run that the train jobs among `jobs` (re)train."""
    return {(ablation, seed) for ablation, pack in train_packs(jobs) for seed in pack}


def rules(jobs) -> set[str]:
    return {rule for rule, _ in jobs}
