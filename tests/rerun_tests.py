"""Running another test module's tests again with one of its functions swapped for an engine: the
engines are then held to every assertion the reference's own tests make."""

from __future__ import annotations

import inspect
from types import ModuleType


def parametrised_calls(test) -> list[dict]:
    """Every argument combination of a test's @pytest.mark.parametrize marks."""
    calls = [{}]
    for mark in (m for m in getattr(test, "pytestmark", []) if m.name == "parametrize"):
        names = [n.strip() for n in mark.args[0].split(",")]
        calls = [{**c, **dict(zip(names, v if len(names) > 1 else (v,)))} for c in calls for v in mark.args[1]]
    return calls


def module_tests(module: ModuleType) -> tuple[list[tuple[str, dict]], list[str]]:
    """(test name, arguments) of every test of `module` and every parameter combination, with ids."""
    tests = [(name, kwargs) for name, test in inspect.getmembers(module, inspect.isfunction)
             if name.startswith("test_") for kwargs in parametrised_calls(test)]
    return tests, [f"{name}{list(kwargs.values()) if kwargs else ''}" for name, kwargs in tests]
