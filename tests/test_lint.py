"""The workflow passes the checks the Snakemake workflow catalog runs on every workflow it
lists: `snakemake --lint` (each rule with a log and a software environment, helpers apart
from rules, ...) and `snakefmt --check` (the rules files formatted alike); and the file the
catalog reads for its usage page, .snakemake-workflow-catalog.yml."""
import subprocess
import sys

import pytest

from conftest import REPO

pytestmark = pytest.mark.lint


def run(*cmd, cwd=REPO):
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=300)


def test_snakemake_lint_is_clean():
    result = run(sys.executable, "-m", "snakemake", "--lint")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Lints for" not in result.stdout + result.stderr, result.stdout + result.stderr


def test_rules_files_are_formatted():
    result = run(sys.executable, "-m", "snakefmt", "--check", ".")
    assert result.returncode == 0, result.stderr + "\nrun `snakefmt .` to format them"


def test_every_rule_uses_the_projects_conda_environment(workdir):
    """One environment file for all rules, and it is environment.yml: `--use-conda` gets the
    dependency set that test_requirements keeps equal to requirements.txt."""
    (workdir / "show_envs.smk").write_text(
        'include: "Snakefile"\n'
        "for r in workflow.rules:\n"
        '    print("CONDA", r.name, r.conda_env)\n')
    result = run(sys.executable, "-m", "snakemake", "-s", "show_envs.smk", "-n", cwd=workdir)
    assert result.returncode == 0, result.stderr
    envs = dict(line.split()[1:] for line in result.stdout.splitlines()
                if line.startswith("CONDA "))
    assert {"train", "prepare_dataset", "aggregate", "summary", "all"} <= set(envs)
    assert envs.pop("all") == "None"  # runs nothing
    # Each path is relative to the rules file that names it.
    rules = REPO / "workflow" / "rules"
    assert {(rules / e).resolve() for e in envs.values()} == {REPO / "environment.yml"}


def test_catalog_file_names_the_flags_and_the_deployment():
    """.snakemake-workflow-catalog.yml, which the catalog reads for its usage page."""
    import yaml
    usage = yaml.safe_load((REPO / ".snakemake-workflow-catalog.yml").read_text())["usage"]
    assert "--cores" in usage["mandatory-flags"]["flags"] and usage["mandatory-flags"]["desc"]
    deployment = usage["software-stack-deployment"]
    assert deployment["conda"] is True  # every rule names environment.yml
    assert usage["report"] is True and deployment["report"] is True
    assert (REPO / "config" / "README.md").is_file()
