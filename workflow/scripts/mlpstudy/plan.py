"""The study's plan, read from the validated config: which training jobs exist, what each computes.

Hyper-parameters per ablation, the datasets each ablation and each claim runs on, sweep
points, rounds of seeds and the packs of seeds that name the jobs (both ways), and the
order jobs start in. Only the standard library: the Snakefile reads it while it is parsed,
and the tests ask it which jobs a config trains without torch or Snakemake.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import re
from typing import Callable

from .flops import evaluations, linear_shapes, planned_steps, run_flops

# Settings of how jobs run, not of what they compute: the scripts read them from the config
# (common.smk puts the validated values there), not from params, so changing one reruns nothing.
RUN_SETTINGS = ("tensorboard",)

# The built-in datasets: the config keys each one's preparation reads (a prepare_dataset job
# gets only its own dataset's keys as params, so editing another key rebuilds nothing).
BUILTIN = {
    "mnist": ("data_dirs", "download"),
    "fashion-mnist": ("data_dirs", "download"),
    "mnist-5k": (),
    "xor": ("xor",),
}
# Input features and classes of a dataset, for the order jobs start in; a custom dataset is
# taken to be MNIST-shaped (its real shape is known only once it is prepared).
SHAPES = {"xor": (2, 2)}
MNIST_SHAPE = (784, 10)


def data_options(name: str, config: dict) -> dict:
    """Only the config keys dataset `name` depends on (a custom dataset: its own entry)."""
    if name in config["custom_datasets"]:
        return {"custom_datasets": {name: config["custom_datasets"][name]}}
    return {key: config[key] for key in BUILTIN[name]}


# ---- ablations and their datasets ---------------------------------------------------------

def overrides(config: dict, spec: dict) -> dict:
    """The protocol keys an ablation's entry `spec` sets (its description and dataset left out)."""
    return {k: v for k, v in spec.items() if k in config["protocol"]}


def dataset_protocol(config: dict, dataset: str) -> dict:
    """The protocol keys `dataset` sets for itself (dataset_protocol): {} where it sets none."""
    return dict(config["dataset_protocol"].get(dataset, {}))


def hparams(config: dict, ablation: str, dataset: str) -> dict:
    """The ablation's full hyper-parameters on `dataset`: the protocol, then the dataset's own
    protocol keys, then the ablation's overrides. The ablation's keys win: they are what the
    study compares, and on every dataset it must differ from its reference by the same keys."""
    spec = config["ablations"][ablation]
    return dict(sorted({**config["protocol"], **dataset_protocol(config, dataset),
                        **overrides(config, spec)}.items()))


def datasets_of(config: dict, ablation: str) -> list[str]:
    """The datasets an ablation runs on: its own (e.g. xor), else every study dataset."""
    own = config["ablations"][ablation].get("dataset")
    return [own] if own else list(config["datasets"])


def ablations_on(config: dict, dataset: str) -> list[str]:
    return [a for a in config["ablations"] if dataset in datasets_of(config, a)]


def run_datasets(config: dict) -> list[str]:
    """Every dataset with runs: the study's datasets, then those ablations name themselves."""
    return list(dict.fromkeys(d for a in config["ablations"] for d in datasets_of(config, a)))


def compared(claim: dict) -> list[str]:
    """The ablations a claim compares: its ablation, and its reference when it has one."""
    return [claim["ablation"]] + ([claim["reference"]] if claim.get("reference") else [])


def claim_datasets(config: dict, claim: dict) -> list[str]:
    """Datasets a claim is checked on: those where its ablation (and reference) both run."""
    names = compared(claim)
    return [d for d in datasets_of(config, names[0])
            if all(d in datasets_of(config, n) for n in names[1:])]


def references(config: dict, dataset: str) -> dict[str, str]:
    """ablation -> what the per-class figure compares it with on `dataset`: the reference of
    its first claim there that has one, else the dataset's first ablation (the baseline)."""
    names = ablations_on(config, dataset)
    chosen = {}
    for claim in config["claims"]:
        if claim.get("reference") and dataset in claim_datasets(config, claim):
            chosen.setdefault(claim["ablation"], claim["reference"])
    pairs = {a: chosen.get(a, names[0]) for a in names}
    return {a: reference for a, reference in pairs.items() if reference != a}


# ---- sweeps -------------------------------------------------------------------------------

def _value_name(value) -> str:
    """A grid value as part of a file-safe ablation name: 0.05 -> 0p05, [64, 32] -> 64x32."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        text = f"{value:g}"
        return text.replace(".", "p").replace("-", "m").replace("+", "")
    if isinstance(value, list):
        return "x".join(_value_name(v) for v in value) or "none"
    if value is None:
        return "none"
    return str(value)


def sweep_points(name: str, sweep: dict, config: dict) -> list[dict]:
    """The grid of a sweep, in a fixed order (starting ablation, then the values as listed):
    [{"ablation": expanded name, "start": starting ablation, "values": {key: value}}].
    A point that changes nothing in its starting ablation (lr 0.1 where the protocol's lr
    is 0.1) is that ablation itself: the same runs, trained once. Only where it changes
    nothing on every dataset the ablation runs on: a dataset whose own protocol sets the
    swept key must get the point's value, not the dataset's."""
    keys = list(sweep["values"])
    points = []
    for start in sweep["ablations"]:
        own = [hparams(config, start, d) for d in datasets_of(config, start)]
        for combo in itertools.product(*(sweep["values"][k] for k in keys)):
            values = dict(zip(keys, combo))
            label = "_".join(f"{k}{_value_name(v)}" for k, v in values.items())
            same = all(hp.get(k) == v for hp in own for k, v in values.items())
            points.append({"ablation": start if same else f"{start}_{label}", "start": start,
                           "values": values})
    return points


# ---- seeds: rounds and packs --------------------------------------------------------------

# A pack's name (the `pack` wildcard of rule train): its first and last seed, seeds0-4, or
# seeds3 for one seed.
PACK_NAME = r"seeds(\d+)(?:-(\d+))?"


def pack_name(seeds: tuple[int, ...]) -> str:
    return f"seeds{seeds[0]}" if len(seeds) == 1 else f"seeds{seeds[0]}-{seeds[-1]}"


def pack_ends(name: str) -> tuple[int, int]:
    """The first and last seed a pack's name gives: seeds0-4 -> (0, 4), seeds3 -> (3, 3)."""
    match = re.fullmatch(PACK_NAME, name)
    if match is None:
        raise ValueError(f"{name!r} is not a pack's name (seeds<first>-<last> or seeds<seed>)")
    first, last = match.groups()
    return int(first), int(last or first)


def round_seeds(config: dict) -> list[list[int]]:
    """The seeds of each round: the config's `seeds`, then (adaptive_seeds) `step` new seeds
    a round, counting on from the largest seed, until the rounds hold `max` seeds in all."""
    rounds = [list(config["seeds"])]
    adaptive = config.get("adaptive_seeds")  # absent: no rounds (a partial config, in tests)
    if not adaptive:
        return rounds
    total, next_seed = len(rounds[0]), max(rounds[0]) + 1
    while total < adaptive["max"]:
        size = min(adaptive["step"], adaptive["max"] - total)
        rounds.append(list(range(next_seed, next_seed + size)))
        total, next_seed = total + size, next_seed + size
    return rounds


def round_packs(config: dict) -> list[dict[str, tuple[int, ...]]]:
    """The seeds of each training job of each round, by the job's name: fixed chunks of
    seeds_per_job of the round's seeds in their order, so a seed added at the end of `seeds`
    changes only the last chunk."""
    packs = []
    for seeds in round_seeds(config):
        size = config["seeds_per_job"] or len(seeds)
        chunks = [tuple(seeds[i:i + size]) for i in range(0, len(seeds), size)]
        packs.append({pack_name(pack): pack for pack in chunks})
    return packs


def packs(config: dict) -> dict[str, tuple[int, ...]]:
    """Every pack of every round, by name."""
    return {name: seeds for rnd in round_packs(config) for name, seeds in rnd.items()}


# What a look of adaptive seeds decided: look(dataset, k) -> the ablations that get the seeds
# of round k+1 on that dataset (the workflow reads it from the look's plan_round checkpoint).
Look = Callable[[str, int], list]


def extended(config: dict, look: Look, dataset: str, k: int) -> list[str]:
    """The ablations that get round k+1's seeds on `dataset`: none where there is no such
    round, for a dataset no claim is tested on in rounds (one an ablation names itself, like
    xor), or once an earlier look asked for nothing more."""
    rounds = len(round_seeds(config))
    if dataset not in config["datasets"] or rounds == 1 or k + 1 >= rounds:
        return []
    if k > 0 and not extended(config, look, dataset, k - 1):
        return []  # every claim was decided at an earlier look
    return look(dataset, k)


def packs_of(config: dict, dataset: str, ablation: str, look: Look | None = None,
             looks: int | None = None) -> list[str]:
    """The packs of an ablation on a dataset in rounds 0 .. looks-1 (default: every round):
    the first round's, and those of a later round that the look before it asked for. Without
    `look` (no look has been made yet), the first round's alone."""
    rounds = round_packs(config)
    return [name
            for r in range(len(rounds) if looks is None else looks)
            if r == 0 or (look and ablation in extended(config, look, dataset, r - 1))
            for name in rounds[r]]


def train_jobs(config: dict, look: Look | None = None, dataset: str | None = None,
               looks: int | None = None) -> list[tuple[str, str, str]]:
    """(dataset, ablation, pack) of every training job: each ablation on each of its datasets,
    in each round it takes part in (see packs_of). With `dataset`, only that dataset's jobs;
    with `looks`, only those of the first rounds."""
    return [(d, ablation, name)
            for ablation in config["ablations"]
            for d in datasets_of(config, ablation)
            if dataset is None or d == dataset
            for name in packs_of(config, d, ablation, look, looks)]


# ---- the order jobs start in --------------------------------------------------------------

# Training and test rows of the built-in datasets (xor: 4 corners x xor.repeats each).
ROWS = {"mnist": (60000, 10000), "fashion-mnist": (60000, 10000), "mnist-5k": (4000, 1000)}


def dataset_rows(config: dict, dataset: str) -> tuple[int, int]:
    """(training rows, test rows) of a dataset, without loading it: a custom dataset's from the
    headers of its IDX label files."""
    if dataset == "xor":
        return 4 * config["xor"]["repeats"], 4 * config["xor"]["repeats"]
    if dataset in config["custom_datasets"]:
        import gzip
        from pathlib import Path
        folder = Path(config["custom_datasets"][dataset])

        def count(stem):
            path = folder / stem
            opener = open if path.exists() else gzip.open
            with opener(path if path.exists() else folder / f"{stem}.gz", "rb") as fh:
                return int.from_bytes(fh.read(8)[4:8], "big")  # IDX: magic, then the count
        return count("train-labels-idx1-ubyte"), count("t10k-labels-idx1-ubyte")
    return ROWS[dataset]


def job_flops(config: dict, job: tuple[str, str, str]) -> float:
    """Matmul FLOPs of a training job (dataset, ablation, pack): each of its seeds' full run."""
    dataset, ablation, pack = job
    hp = hparams(config, ablation, dataset)
    n_train, n_test = dataset_rows(config, dataset)
    features, classes = SHAPES.get(dataset, MNIST_SHAPE)
    steps = planned_steps(hp, n_train)
    first, last = pack_ends(pack)
    seeds = packs(config).get(pack, range(first, last + 1))
    return len(seeds) * run_flops(hp, n_train, n_test, steps, evaluations(hp, steps),
                                  features, classes)


def every_round(config: dict) -> Look:
    """A look that asks for the next round for every ablation of an open claim: adaptive
    seeds' most costly course (claims on parameter counts never ask for more seeds)."""
    def look(dataset: str, k: int) -> list[str]:
        return list(dict.fromkeys(
            name for claim in config["claims"] if claim["metric"] != "param_count"
            and dataset in claim_datasets(config, claim) for name in compared(claim)))
    return look


def train_priority(config: dict, dataset: str, ablation: str) -> int:
    """Bigger models first (thousands of weights): on a few cores the study then ends with
    small jobs, not a long one alone (a pack of five hidden_2048 seeds is ~11 core-minutes)."""
    features, classes = SHAPES.get(dataset, MNIST_SHAPE)
    shapes = linear_shapes(hparams(config, ablation, dataset), features, classes)
    return sum(a * b for a, b in shapes) // 1000


def config_hash(config: dict) -> str:
    """Short, stable fingerprint of what a validated config computes (shown in the summary):
    the run settings (RUN_SETTINGS), which change nothing computed, are left out."""
    computed = {k: v for k, v in config.items() if k not in RUN_SETTINGS}
    blob = json.dumps(computed, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:12]
