# Config validation and the rules' input functions. Validation runs at parse time, so a bad
# config fails before any job starts, naming the bad key; mlpstudy.plan says which jobs the
# validated config asks for. Helpers only the report's rules use are in report_common.smk.
import json
import os
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError

SCRIPTS = Path(workflow.basedir) / "workflow" / "scripts"
sys.path.insert(0, str(SCRIPTS))

from mlpstudy import config as study_config
from mlpstudy import plan
from mlpstudy.code_inputs import package_modules
from mlpstudy.devices import gpu_request
from mlpstudy.live import LAYOUT_RUN, TENSORBOARD_ROOT, mean_run_file
from mlpstudy.locks import clear_stale_lock

try:
    STUDY = study_config.validate(config)
except study_config.ConfigError as exc:
    raise WorkflowError(f"config/config.yaml (or --config): {exc}") from None
config.update({key: STUDY[key] for key in plan.RUN_SETTINGS})

# A hard-killed run leaves its lock; clear it so the README's command just resumes.
# (Dry runs too: removing a dead run's lock is harmless, and at parse time
# Snakemake does not yet say whether this is a dry run.)
if workflow.is_main_process:
    clear_stale_lock()

# Every rule's software: the project's one conda environment (used with --use-conda).
# Snakemake records it with every finished job, with or without --use-conda, so a copy
# of the workflow without it would fail only after its first job: say so up front.
CONDA_ENV = "../../environment.yml"
if not (Path(workflow.basedir) / "environment.yml").is_file():
    raise WorkflowError(
        "environment.yml is missing next to the Snakefile: every rule names it as its conda "
        "environment. Copy it along with Snakefile, workflow/ and config/."
    )

# Relative to the working directory: Snakemake records input paths, so absolute
# ones would rerun the whole study after the project directory is moved or copied.
PACKAGE = Path(os.path.relpath(SCRIPTS / "mlpstudy"))


def code_of(script):
    """The package modules `script` runs, read from its imports: a rule's `code` input,
    so that editing one of them reruns exactly the jobs that run it."""
    return package_modules(SCRIPTS / script, PACKAGE)


GPU_REQUEST = gpu_request(STUDY["device"])
# The seeds of each round (one round, `seeds`, unless adaptive_seeds adds rounds for the
# claims still open) and of every training job by its name: the `pack` wildcard of train.
ROUNDS = plan.round_seeds(STUDY)
PACKS = plan.packs(STUDY)


wildcard_constraints:
    dataset=study_config.NAME_PATTERN,
    ablation=study_config.NAME_PATTERN,
    pack=plan.PACK_NAME,
    look=r"\d+",


def look_extends(dataset, look):
    """The ablations that look `look` on `dataset` asked the next round's seeds for, read
    from its plan_round checkpoint (plan.extended asks only where there is a next round)."""
    plan_file = checkpoints.plan_round.get(dataset=dataset, look=look).output.plan
    return json.loads(Path(plan_file).read_text())["extend"]


def pack_dir(dataset, ablation, pack):
    """One training job's output: a directory with a seed{N}/ (metrics.csv, run.json) per seed."""
    return f"results/runs/{dataset}/{ablation}/{pack}"


def ablation_pack_dirs(dataset, ablation):
    """The training jobs of one ablation on one dataset, in every round it takes part in."""
    return [
        pack_dir(dataset, ablation, pack)
        for pack in plan.packs_of(STUDY, dataset, ablation, look_extends)
    ]


def pack_dirs(dataset=None, looks=None):
    """Every training job's output (of `dataset`, of its first `looks` rounds)."""
    return [pack_dir(*job) for job in plan.train_jobs(STUDY, look_extends, dataset, looks)]


def train_benchmark(dataset, ablation, pack):
    return f"results/benchmarks/train/{dataset}/{ablation}/{pack}.tsv"


def get_hparams(wildcards):
    if wildcards.ablation not in STUDY["ablations"]:
        raise WorkflowError(f"unknown ablation {wildcards.ablation!r}: not in config ablations")
    expected = plan.datasets_of(STUDY, wildcards.ablation)
    if wildcards.dataset not in expected:
        raise WorkflowError(
            f"ablation {wildcards.ablation!r} runs on {', '.join(expected)}, "
            f"not {wildcards.dataset!r}"
        )
    return plan.hparams(STUDY, wildcards.ablation, wildcards.dataset)


def get_pack_seeds(wildcards):
    if wildcards.pack not in PACKS:
        raise WorkflowError(
            f"unknown pack of seeds {wildcards.pack!r}: the config's packs are "
            f"{', '.join(PACKS)} (seeds and seeds_per_job)"
        )
    return list(PACKS[wildcards.pack])


def get_train_priority(wildcards):
    return plan.train_priority(STUDY, wildcards.dataset, wildcards.ablation)


def get_data_options(wildcards):
    """Only the config keys this dataset depends on, so editing others rebuilds nothing."""
    return plan.data_options(wildcards.dataset, STUDY)
