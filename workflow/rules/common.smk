# Config validation and every helper the rules use. Validation runs at parse
# time, so a bad config fails before any job starts, naming the bad key.
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
from mlpstudy.stats import VERDICT_RULES

try:
    STUDY = study_config.validate(config)
except study_config.ConfigError as exc:
    raise WorkflowError(f"config/config.yaml (or --config): {exc}") from None

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
# The seeds of each training job (seeds_per_job), and the name of each pack in files.
SEED_PACKS = study_config.seed_packs(STUDY)
PACK_OF_SEED = {seed: pack for pack in SEED_PACKS for seed in pack}
pack_label = study_config.pack_label


wildcard_constraints:
    dataset=r"[A-Za-z0-9_-]+",
    ablation=r"[A-Za-z0-9_-]+",


def study_runs(dataset=None):
    """(dataset, ablation, seed) of every training job the config asks for: each ablation on
    each study dataset (or on its own, like xor). With `dataset`, only that dataset's runs."""
    return [
        (d, ablation, seed)
        for ablation in STUDY["ablations"]
        for d in study_config.datasets_of(STUDY, ablation)
        if dataset is None or d == dataset
        for seed in STUDY["seeds"]
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


def run_file(dataset, ablation, seed, name):
    return f"results/runs/{dataset}/{ablation}/seed{seed}/{name}"


def train_benchmark(dataset, ablation, pack):
    return f"results/benchmarks/train/{dataset}/{ablation}/{pack_label(pack)}.tsv"


def get_checkpoints(pack):
    """Checkpoint paths of a pack's job: one per seed (trained one after another) and one
    for the pack (trained batched). Outside the declared outputs, so Snakemake never
    deletes them when a job dies."""

    def checkpoints(wildcards):
        folder = f"results/checkpoints/{wildcards.dataset}/{wildcards.ablation}"
        return {
            **{seed: f"{folder}/seed{seed}.pt" for seed in pack},
            "pack": f"{folder}/{pack_label(pack)}.pt",
        }

    return checkpoints


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


def run_files(name, dataset=None):
    return [run_file(d, a, s, name) for d, a, s in study_runs(dataset)]


def benchmark_files(dataset=None):
    """The benchmark of the job that trained each run (a pack's seeds share one)."""
    return [train_benchmark(d, a, PACK_OF_SEED[s]) for d, a, s in study_runs(dataset)]


def run_datasets():
    """Every dataset with runs: the study's datasets, then those ablations name themselves."""
    return list(dict.fromkeys(d for d, _, _ in study_runs()))


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
            "changes": ", ".join(
                f"{k}={v}" for k, v in spec.items() if k not in ("description", "dataset")
            )
            or "none",
        }
        for a, spec in STUDY["ablations"].items()
    ]


def figure_report(stem, caption):
    """A figures-rule PNG `{stem}.png` of one dataset, shown in Snakemake's report."""
    return report(
        f"{FIGURES}/{{dataset}}/{stem}.png",
        caption=f"{REPORT}/{caption}.rst",
        category="Figures",
        subcategory="{dataset}",
        labels={"figure": stem},
    )


def figure_svg(stem):
    return f"{FIGURES}/{{dataset}}/{stem}.svg"


def caption_text(name, **wildcards):
    """A figure's caption as plain text for the summary page, from the .rst file that
    Snakemake's report shows (its wildcards filled in, rst markup dropped)."""
    text = (SCRIPTS.parent / "report" / f"{name}.rst").read_text()
    text = jinja2.Template(text).render(snakemake=SimpleNamespace(wildcards=wildcards))
    return " ".join(text.replace("``", "").replace("**", "").split())


def figure_list():
    """(dataset, title, caption, png) of every figure, in the order the summary page shows
    them: per study dataset its curves, final accuracy and sweeps; then the XOR boundaries."""
    figs, out = [], rules.figures.output
    shown = [
        *(("curves", f"Training curves: {g}") for g in STUDY["figure_groups"]),
        ("final_accuracy", "Final and stable test accuracy per ablation"),
        *(("sweep", f"Sweep {s}") for s in STUDY["sweeps"]),
    ]
    for d in STUDY["datasets"]:
        pngs = expand([*out.groups, out.final, *out.sweeps], dataset=d)
        figs += [
            (d, title, caption_text(caption, dataset=d), png)
            for (caption, title), png in zip(shown, pngs)
        ]
    pngs = expand(rules.xor_boundary.output.png, ablation=xor_ablations())
    figs += [
        ("xor", f"XOR decision boundary: {a}", caption_text("xor"), png)
        for a, png in zip(xor_ablations(), pngs)
    ]
    return figs
