"""The package modules a script runs, read from its imports: a rule's `code` input.

A rule declares the modules its script imports as input, so that editing one reruns
exactly the jobs it affects. Reading them from the real imports (followed through the
package, transitively) keeps that list from going stale when an import is added.
Only the standard library is used: the Snakefile calls this while it is parsed.
"""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = "mlpstudy"


def _imported_modules(path: Path) -> set[str]:
    """Names of the package's modules that `path` imports (absolute or relative)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level == 0 and module.split(".")[0] != PACKAGE:
                continue
            base = module.split(".", 1)[1] if node.level == 0 and "." in module else (
                "" if node.level == 0 else module)
            if base:
                found.add(base.split(".")[0])
            else:  # `from mlpstudy import data` / `from . import data`
                found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name.split(".")[1] for alias in node.names
                         if alias.name.startswith(PACKAGE + "."))
    return found


def package_modules(script: str | Path, package_dir: str | Path) -> list[str]:
    """Paths of every module of the package that `script` runs, its __init__ included."""
    package_dir = Path(package_dir)
    seen, todo = {"__init__"}, list(_imported_modules(Path(script)))
    while todo:
        name = todo.pop()
        if name in seen or not (package_dir / f"{name}.py").exists():
            continue
        seen.add(name)
        todo += _imported_modules(package_dir / f"{name}.py")
    return [str(package_dir / f"{name}.py") for name in sorted(seen)]
