"""The library modules a rule's script runs, found by reading import statements (nothing is
imported to find them): the workflow makes them the rule's inputs, so that editing any of them
reruns the rule (Snakemake's own code trigger only sees the rule's script)."""

from __future__ import annotations

import ast
import functools
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
# What runs a job (its log, its GPU lease) rather than computes its outputs, and what the DAG is
# built and checked from (the registry's names, the recipe table): editing these reruns nothing;
# a name that changes a job changes the DAG or the job's params.
JOB_RUNNER_MODULES = frozenset({"jobs", "gpu", "registry", "recipes"})


def imported_names(node: ast.AST) -> list[str]:
    """The package modules one import statement names: from . import x, from .x import y,
    from mnistflow.x import y, import mnistflow.x."""
    if isinstance(node, ast.ImportFrom) and node.level == 1:
        return [node.module.split(".")[0]] if node.module else [a.name for a in node.names]
    if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("mnistflow"):
        return node.module.split(".")[1:2] or [a.name for a in node.names]
    if isinstance(node, ast.Import):
        return [a.name.split(".")[1] for a in node.names if a.name.startswith("mnistflow.")]
    return []


@functools.cache
def imports_of(path: Path) -> frozenset[str]:
    """The package modules the Python file ``path`` imports."""
    tree = ast.parse(Path(path).read_text())
    names = {name for node in ast.walk(tree) for name in imported_names(node)}
    return frozenset(name for name in names if (PACKAGE_DIR / f"{name}.py").exists())


def script_modules(script: Path) -> list[str]:
    """The package files the script imports and every package module they import, directly or
    not, but for the job runner's."""
    seen, todo = set(JOB_RUNNER_MODULES), list(imports_of(Path(script)))
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(imports_of(PACKAGE_DIR / f"{name}.py"))
    return [str(PACKAGE_DIR / f"{name}.py") for name in sorted(seen - JOB_RUNNER_MODULES)]
