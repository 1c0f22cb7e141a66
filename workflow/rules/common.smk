# Config validation and every helper the rules use. Validation runs at parse
# time, so a bad config fails before any job starts, naming the bad key.
import json
import os
import sys
from pathlib import Path
from types import SimpleNamespace

import jinja2

from snakemake.exceptions import WorkflowError

SCRIPTS = Path(workflow.basedir) / "workflow" / "scripts"
sys.path.insert(0, str(SCRIPTS))

from mlpstudy import config as study_config
from mlpstudy.code_inputs import package_modules
from mlpstudy.datasets import data_options
from mlpstudy.devices import gpu_request
from mlpstudy.locks import clear_stale_lock
from mlpstudy.stats import ADAPTIVE_TESTING, FIXED_TESTING, VERDICT_RULES

try:
    STUDY = study_config.validate(config)
except study_config.ConfigError as exc:
    raise WorkflowError(f"config/config.yaml (or --config): {exc}") from None
config.update({key: STUDY[key] for key in study_config.RUN_SETTINGS})

# A hard-killed run leaves its lock; clear it so the README's command just resumes.
# (Dry runs too: removing a dead run's lock is harmless, and at parse time
# Snakemake does not yet say whether this is a dry run.)
if workflow.is_main_process:
    clear_stale_lock()

# Relative to the working directory: Snakemake records input paths, so absolute
# ones would rerun the whole study after the project directory is moved or copied.
PACKAGE = Path(os.path.relpath(SCRIPTS / "mlpstudy"))


def code_of(script):
    """The package modules `script` runs, read from its imports: a rule's `code` input,
    so that editing one of them reruns exactly the jobs that run it."""
    return package_modules(SCRIPTS / script, PACKAGE)


TRAIN_CODE = code_of("train.py")
GPU_REQUEST = gpu_request(STUDY["device"])
# The seeds of each round (one round, `seeds`, unless adaptive_seeds adds rounds for the
# claims still open) and of every training job by its name: the `pack` wildcard of train.
ROUNDS = study_config.round_seeds(STUDY)
ROUND_PACKS = study_config.round_packs(STUDY)
PACKS = {label: seeds for packs in ROUND_PACKS for label, seeds in packs.items()}
# Each claim with the datasets it is checked on (those where its ablations run).
CLAIMS = [{**c, "datasets": study_config.claim_datasets(STUDY, c)} for c in STUDY["claims"]]
# How a dataset's claims are tested together, in words (summary page, claims caption).
TESTING = ADAPTIVE_TESTING if STUDY["adaptive_seeds"] else FIXED_TESTING
# Datasets whose claims may ask for more rounds (not those ablations name themselves, xor).
ROUNDED = STUDY["datasets"] if len(ROUNDS) > 1 else []


wildcard_constraints:
    dataset=r"[A-Za-z0-9_-]+",
    ablation=r"[A-Za-z0-9_-]+",
    pack=r"seeds\d+(-\d+)?",
    look=r"\d+",


def extended(dataset, look):
    """The ablations that get the seeds of round look+1 on `dataset`: those of the claims
    still open after look `look`, read from that look's plan_round checkpoint."""
    if dataset not in ROUNDED or look + 1 >= len(ROUNDS):
        return []
    if look > 0 and not extended(dataset, look - 1):
        return []  # every claim was decided at an earlier look
    plan = checkpoints.plan_round.get(dataset=dataset, look=look).output.plan
    return json.loads(Path(plan).read_text())["extend"]


def packs_of(dataset, ablation, looks=None):
    """The packs of an ablation on a dataset in rounds 0 .. looks-1 (default: every round)."""
    return [
        pack
        for r in range(len(ROUNDS) if looks is None else looks)
        if r == 0 or ablation in extended(dataset, r - 1)
        for pack in ROUND_PACKS[r]
    ]


def study_packs(dataset=None, looks=None):
    """(dataset, ablation, pack) of every training job the study asks for: each ablation on
    each study dataset (or on its own, like xor), in each round it takes part in. With
    `dataset`, only that dataset's jobs; with `looks`, only those of its first rounds."""
    return [
        (d, ablation, pack)
        for ablation in STUDY["ablations"]
        for d in study_config.datasets_of(STUDY, ablation)
        if dataset is None or d == dataset
        for pack in packs_of(d, ablation, looks)
    ]


def get_hparams(wildcards):
    if wildcards.ablation not in STUDY["ablations"]:
        raise WorkflowError(f"unknown ablation {wildcards.ablation!r}: not in config ablations")
    expected = study_config.datasets_of(STUDY, wildcards.ablation)
    if wildcards.dataset not in expected:
        raise WorkflowError(
            f"ablation {wildcards.ablation!r} runs on {', '.join(expected)}, "
            f"not {wildcards.dataset!r}"
        )
    return study_config.hparams(STUDY, wildcards.ablation)


def get_pack_seeds(wildcards):
    if wildcards.pack not in PACKS:
        raise WorkflowError(
            f"unknown pack of seeds {wildcards.pack!r}: the config's packs are "
            f"{', '.join(PACKS)} (seeds and seeds_per_job)"
        )
    return list(PACKS[wildcards.pack])


def pack_dir(dataset, ablation, pack):
    """One training job's output: a directory with a seed{N}/ (metrics.csv, run.json) per seed."""
    return f"results/runs/{dataset}/{ablation}/{pack}"


def train_benchmark(dataset, ablation, pack):
    return f"results/benchmarks/train/{dataset}/{ablation}/{pack}.tsv"


def get_checkpoints(wildcards):
    """Checkpoint paths of a pack's job: one per seed (trained one after another) and one
    for the pack (trained batched). Outside the declared outputs, so Snakemake never
    deletes them when a job dies."""
    folder = f"results/checkpoints/{wildcards.dataset}/{wildcards.ablation}"
    return {
        **{seed: f"{folder}/seed{seed}.pt" for seed in get_pack_seeds(wildcards)},
        "pack": f"{folder}/{wildcards.pack}.pt",
    }


def get_train_priority(wildcards):
    """Bigger models first: on a few cores the study then ends with small jobs, not a
    long one alone (a pack of five hidden_2048 seeds is ~11 core-minutes)."""
    hidden = study_config.hparams(STUDY, wildcards.ablation)["hidden"]
    widths = [784, *hidden, 10]
    return sum(a * b for a, b in zip(widths, widths[1:])) // 1000


def get_data_options(wildcards):
    """Only the config keys this dataset depends on, so editing others rebuilds nothing."""
    return data_options(wildcards.dataset, STUDY)


# Every rule's software: the project's one conda environment (used with --use-conda).
# Snakemake records it with every finished job, with or without --use-conda, so a copy
# of the workflow without it would fail only after its first job: say so up front.
CONDA_ENV = "../../environment.yml"
if not (Path(workflow.basedir) / "environment.yml").is_file():
    raise WorkflowError(
        "environment.yml is missing next to the Snakefile: every rule names it as its conda "
        "environment. Copy it along with Snakefile, workflow/ and config/."
    )


# ---- Report helpers ---------------------------------------------------------------------

# Paths relative to the rule files (captions) and to the working directory (figures).
REPORT = "../report"
FIGURES = "results/figures"


def pack_dirs(dataset=None, looks=None):
    return [pack_dir(d, a, pack) for d, a, pack in study_packs(dataset, looks)]


def benchmark_files(dataset=None):
    """The benchmark of each training job, in the order of pack_dirs."""
    return [train_benchmark(d, a, pack) for d, a, pack in study_packs(dataset)]


def run_datasets():
    """Every dataset with runs: the study's datasets, then those ablations name themselves."""
    return list(
        dict.fromkeys(d for a in STUDY["ablations"] for d in study_config.datasets_of(STUDY, a))
    )


def dataset_tables(pattern):
    """One of aggregate's tables for every dataset with runs."""
    return expand(pattern, dataset=run_datasets())


def ablations_on(dataset):
    return [a for a in STUDY["ablations"] if dataset in study_config.datasets_of(STUDY, a)]


def xor_ablations():
    """Ablations trained on the xor dataset: each gets a decision-boundary figure."""
    return ablations_on("xor")


def sweep_params():
    """sweep -> its description, swept keys and expanded points (what the sweep figure needs)."""
    return {
        name: {
            "description": sweep.get("description", ""),
            "keys": list(sweep["values"]),
            "points": study_config.sweep_points(name, sweep, STUDY),
        }
        for name, sweep in STUDY["sweeps"].items()
    }


def ablation_rows():
    """What the summary page lists for each ablation: its datasets, description and changes."""
    return [
        {
            "ablation": a,
            "dataset": ", ".join(study_config.datasets_of(STUDY, a)),
            "description": spec.get("description", ""),
            "changes": ", ".join(f"{k}={v}" for k, v in study_config.overrides(spec).items())
            or "none",
        }
        for a, spec in STUDY["ablations"].items()
    ]


def figure_png(stem, dataset="{dataset}"):
    return f"{FIGURES}/{dataset}/{stem}.png"


def figure_report(stem, caption):
    """A PNG `{stem}.png` of one dataset, shown in Snakemake's report."""
    return report(
        figure_png(stem),
        caption=f"{REPORT}/{caption}.rst",
        category="Figures",
        subcategory="{dataset}",
        labels={"figure": stem},
    )


def figure_svg(stem):
    return f"{FIGURES}/{{dataset}}/{stem}.svg"


# Each study dataset's figures as (file stem, caption, title), by the rule output that makes
# them (claims_forest; the figures rule's groups, final, sweeps), in the order the summary
# page shows them: the rules' outputs and the page read this one list.
DATASET_FIGURES = {
    "forest": [("claims_forest", "claims_forest", "The claims at a glance")],
    "groups": [(f"curves_{g}", "curves", f"Training curves: {g}") for g in STUDY["figure_groups"]],
    "final": [("final_accuracy", "final_accuracy", "Final and stable test accuracy per ablation")],
    "sweeps": [(f"sweep_{s}", "sweep", f"Sweep {s}") for s in STUDY["sweeps"]],
}


def xor_boundary_png(ablation="{ablation}"):
    return f"{FIGURES}/xor_boundary_{ablation}.png"


def caption_text(name, **wildcards):
    """A figure's caption as plain text for the summary page, from the .rst file that
    Snakemake's report shows (its wildcards filled in, rst markup dropped)."""
    text = (SCRIPTS.parent / "report" / f"{name}.rst").read_text()
    text = jinja2.Template(text).render(snakemake=SimpleNamespace(wildcards=wildcards))
    return " ".join(text.replace("``", "").replace("**", "").split())


def figure_list():
    """(dataset, title, caption, png) of every figure, in the order the summary page shows
    them: per study dataset its curves, final accuracy and sweeps; then the XOR boundaries."""
    figs = [
        (d, title, caption_text(caption, dataset=d), figure_png(stem, d))
        for d in STUDY["datasets"]
        for figures in DATASET_FIGURES.values()
        for stem, caption, title in figures
    ]
    return figs + [
        ("xor", f"XOR decision boundary: {a}", caption_text("xor"), xor_boundary_png(a))
        for a in xor_ablations()
    ]
