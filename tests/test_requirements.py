"""requirements.txt (pip) and environment.yml (conda) must list the same dependencies."""
import re

import pytest
import yaml

from conftest import REPO

pytestmark = pytest.mark.unit

CONDA_NAMES = {"pytorch": "torch"}  # conda-forge's name -> PyPI's name


def parse(spec: str) -> tuple[str, str]:
    name, version = re.match(r"\s*([A-Za-z0-9_.-]+)\s*(.*)", spec).groups()
    return CONDA_NAMES.get(name.lower(), name.lower()), version.replace(" ", "")


def test_pip_and_conda_dependency_sets_agree():
    pip = dict(parse(line) for line in (REPO / "requirements.txt").read_text().splitlines()
               if line.strip() and not line.startswith("#"))
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    conda = dict(parse(d) for d in env["dependencies"]
                 if isinstance(d, str) and not d.startswith(("python", "pip")))
    assert pip == conda
    assert {"snakemake", "torch", "torchvision", "pandas", "matplotlib", "pytest"} <= set(pip)
