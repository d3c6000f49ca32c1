"""The import graph of harness/ and analysis/: every module imports, no two modules import each
other, directly or around a circle, and packages form layers that only point down
(ARCHITECTURE.md, "Layers"). Imports are read with ast, those inside functions included: a lazy
import that closes a circle, or climbs a layer, still does (data/dataset.py and data/validate.py
used to import each other that way)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("harness", "analysis")
# Low -> high. "harness" = the top-level utilities (errors, atomic, progress, seeding, threads, ...);
# "top" = the command line (harness/commands/, cli.py, demo.py) and the benchmarks.
LAYERS = ("harness", "data", "panda", "models", "metrics", "config", "tracking", "train", "launch", "analysis", "top")
TOP = {"commands", "cli", "demo", "bench"}


def module_names() -> list[str]:
    names = []
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            parts = path.relative_to(REPO).with_suffix("").parts
            names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def module_path(name: str) -> Path:
    path = REPO.joinpath(*name.split("."))
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def imports(name: str, known: set[str]) -> set[str]:
    """Project modules `name` imports anywhere in its source: `from a.b import c` counts as a.b.c
    when that is a module, else a.b; relative imports are resolved against the package."""
    tree = ast.parse(module_path(name).read_text(encoding="utf-8"))
    package = name if module_path(name).name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            found.update(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names)
    return {m for m in found if m in known and m != name}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One circle of the graph, as a path that returns to its first module, or None."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def layer(name: str) -> str:
    """The layer of a module: its package under harness/ (a top-level module is a utility)."""
    parts = name.split(".")
    if parts[0] == "analysis":
        return "analysis"
    if len(parts) == 1 or parts[1] in TOP:
        return "top" if len(parts) > 1 else "harness"
    return parts[1] if parts[1] in LAYERS else "harness"


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    """Every import of a module from a higher layer than its own, as "a (layer) -> b (layer)"."""
    rank = {name: i for i, name in enumerate(LAYERS)}
    return [f"{m} ({layer(m)}) -> {d} ({layer(d)})" for m in sorted(graph) for d in sorted(graph[m])
            if rank[layer(d)] > rank[layer(m)]]


def test_the_cycle_finder_finds_a_circle_and_only_a_circle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_no_import_circle_among_project_modules():
    names = module_names()
    known = set(names)
    graph = {name: imports(name, known) for name in names}
    assert graph["harness.data.validate"] >= {"harness.data.dataset"}  # the reader sees real edges
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


def test_the_layer_check_sees_an_upward_import():
    assert layer("harness.errors") == "harness" and layer("harness.commands.train") == "top"
    assert layer("harness.train.tasks.panoptic.task") == "train" and layer("analysis.tables") == "analysis"
    graph = {"harness.tracking.run_store": {"harness.train.loop"}, "harness.train.loop": {"harness.data.dataset"}}
    assert upward_imports(graph) == ["harness.tracking.run_store (tracking) -> harness.train.loop (train)"]


def test_packages_import_only_from_their_own_layer_or_below():
    names = module_names()
    known = set(names)
    graph = {name: imports(name, known) for name in names}
    assert {layer(name) for name in names} == set(LAYERS)  # every layer is seen, none misspelt
    assert upward_imports(graph) == []


@pytest.mark.parametrize("name", module_names())
def test_every_module_imports(name):
    importlib.import_module(name)
