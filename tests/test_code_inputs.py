"""A rule's code input is read from its script's imports, through the package."""
from pathlib import Path

import pytest

from conftest import REPO
from mlpstudy.code_inputs import package_modules

pytestmark = pytest.mark.unit


def names(paths):
    return [Path(p).stem for p in paths]


def test_imports_are_followed_through_the_package(tmp_path):
    package = tmp_path / "mlpstudy"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from .b import thing\nimport json\n")
    (package / "b.py").write_text("def thing():\n    from . import c  # imported where it is used\n")
    (package / "c.py").write_text("import torch\n")
    (package / "unused.py").write_text("")
    script = tmp_path / "script.py"
    script.write_text("import sys\nfrom mlpstudy.a import x\nfrom pandas import DataFrame\n")
    assert names(package_modules(script, package)) == ["__init__", "a", "b", "c"]


def test_the_training_scripts_code_input_holds_every_module_it_runs():
    scripts = REPO / "workflow" / "scripts"
    modules = names(package_modules(scripts / "train.py", scripts / "mlpstudy"))
    # through training: both paths of a pack (single, packed) and what they run
    assert {"training", "single", "packed", "evaluation", "objective", "models", "datasets",
            "checkpoints", "runs", "files", "live", "devices"} <= set(modules)
    assert "figures" not in modules and "summary" not in modules
    # the study's plan, the claims and the report's TensorBoard runs (the training job's
    # child writes the mean so far) change no training: editing them retrains nothing
    assert not {"plan", "claims", "stats", "config", "seed_groups", "aggregate"} & set(modules)


def test_the_package_imports_run_one_way_with_no_module_in_a_ring():
    """No two modules import each other, directly or through others (imports inside
    functions count): each module can be read knowing only those below it."""
    from mlpstudy.code_inputs import _imported_modules
    package = REPO / "workflow" / "scripts" / "mlpstudy"
    graph = {path.stem: _imported_modules(path) - {"__init__"} for path in package.glob("*.py")}
    assert {"training", "packed", "models", "objective"} <= set(graph)

    def ring_from(module, path):
        for imported in sorted(graph.get(module, ())):
            if imported in path:
                return path[path.index(imported):] + [imported]
            ring = ring_from(imported, path + [imported])
            if ring:
                return ring
        return None

    rings = [ring_from(m, [m]) for m in sorted(graph)]
    assert not any(rings), f"import ring: {' -> '.join(next(r for r in rings if r))}"
