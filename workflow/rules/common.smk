# Config validation and every helper the rules use. Validation runs at parse
# time, so a bad config fails before any job starts, naming the bad key.
import os
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError

SCRIPTS = Path(workflow.basedir) / "workflow" / "scripts"
sys.path.insert(0, str(SCRIPTS))

from mlpstudy import config as study_config
from mlpstudy.devices import gpu_request
from mlpstudy.locks import clear_stale_lock

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
# The modules a training job runs: editing any of them reruns every training job.
TRAIN_CODE = [str(PACKAGE / f"{m}.py") for m in
              ("__init__", "data", "devices", "files", "models", "runs", "training")]
GPU_REQUEST = gpu_request(STUDY["device"])
RUN_DIR = "results/runs/{dataset}/{ablation}/seed{seed}"


wildcard_constraints:
    dataset=r"[A-Za-z0-9_-]+",
    ablation=r"[A-Za-z0-9_-]+",
    seed=r"\d+",


def study_runs(dataset=None):
    """(dataset, ablation, seed) of every training job the config asks for: each ablation on
    each study dataset (or on its own, like xor). With `dataset`, only that dataset's runs."""
    return [(d, ablation, seed)
            for ablation in STUDY["ablations"]
            for d in study_config.datasets_of(STUDY, ablation)
            if dataset is None or d == dataset
            for seed in STUDY["seeds"]]


def all_runs():
    return [f"results/runs/{d}/{a}/seed{s}/{name}"
            for d, a, s in study_runs() for name in ("metrics.csv", "run.json")]


def get_hparams(wildcards):
    if wildcards.ablation not in STUDY["ablations"]:
        raise WorkflowError(f"unknown ablation {wildcards.ablation!r}: not in config ablations")
    expected = study_config.datasets_of(STUDY, wildcards.ablation)
    if wildcards.dataset not in expected:
        raise WorkflowError(f"ablation {wildcards.ablation!r} runs on {', '.join(expected)}, "
                            f"not {wildcards.dataset!r}")
    return study_config.hparams(STUDY, wildcards.ablation)


def get_data_options(wildcards):
    """Only the config keys this dataset depends on, so editing others rebuilds nothing."""
    name = wildcards.dataset
    if name in STUDY["custom_datasets"]:
        return {"custom_datasets": {name: STUDY["custom_datasets"][name]}}
    keys = {"xor": ("xor",), "mnist-5k": ()}.get(name, ("data_dirs", "download"))
    return {key: STUDY[key] for key in keys}
