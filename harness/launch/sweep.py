"""`panbench sweep RECIPE`: a recipe's `grid:` expanded into runs, each run once.

Each cell becomes a run spec (harness.train.run_spec: its id, cell and canonical variant, computed
once), so the plan knows which runs are finished before anything starts; finished runs are skipped,
a failed run is reported and the sweep goes on, and the summary says which runs failed, why, and
where their log is. The spec itself is what each run is given."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from harness.errors import ConfigError
from harness.tracking.run_store import ERROR_LOG, RunStore
from harness.train.recipes import load_recipe
from harness.train.run_spec import RunSpec, run_specs

EXECUTORS = ("local", "torchrun", "slurm")


@dataclass
class PlannedRun:
    spec: RunSpec
    status: str | None         # status in the run store before the sweep (None: never started)

    @property
    def run_id(self) -> str:
        return self.spec.run_id

    @property
    def cell(self) -> dict:
        """The grid values that distinguish this run."""
        return self.spec.cell

    @property
    def done(self) -> bool:
        return self.status == "finished"


@dataclass
class SweepSummary:
    finished: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[tuple[str, str, str]] = field(default_factory=list)   # run id, error, log path

    @property
    def ok(self) -> bool:
        return not self.failed


def plan_sweep(recipe: str, overrides: Iterable[str] = (), runs_root: str | Path = "results/runs",
               seeds: Iterable[int] | None = None) -> list[PlannedRun]:
    """Every cell of the recipe's grid with its run spec and current status. An override of a grid key
    pins the grid to that value (load_recipe: `data.n=10` runs only the n = 10 cells); `seeds`
    repeats every cell with each training seed (mean ± std over seeds in the tables)."""
    store = RunStore(runs_root)
    specs = run_specs(load_recipe(recipe, list(overrides)), seeds=seeds)
    return [PlannedRun(spec, store.status(spec.run_id)) for spec in specs]


def describe_cell(cell: dict) -> str:
    return " ".join(f"{k}={v}" for k, v in cell.items()) or "(single run)"


def check_executor(executor: str) -> None:
    if executor not in EXECUTORS:
        raise ConfigError(f"--executor {executor}: unknown (choose from {', '.join(EXECUTORS)})")
    if executor != "local":
        raise ConfigError(f"--executor {executor} is not implemented yet; use --executor local "
                          f"(one run after the other in this process)")


def run_sweep(plan: list[PlannedRun], runs_root: str | Path = "results/runs", *, executor: str = "local",
              train: Callable[..., object] | None = None, echo: Callable[[str], None] = print) -> SweepSummary:
    """Run every unfinished run of `plan` in turn; never twice, never stopping at a failure."""
    check_executor(executor)
    if train is None:
        from harness.train.run import run_training as train
    store = RunStore(runs_root)
    summary = SweepSummary()
    todo = [p for p in plan if not store.is_finished(p.run_id)]
    summary.skipped = [p.run_id for p in plan if store.is_finished(p.run_id)]
    for k, planned in enumerate(todo, 1):
        echo(f"[{k}/{len(todo)}] run {planned.run_id}: {describe_cell(planned.cell)}")
        started = time.perf_counter()
        try:
            train(planned.spec, runs_root=runs_root)
        except Exception as exc:  # a failing run is recorded and the sweep goes on
            log = store.run_dir(planned.run_id) / ERROR_LOG
            summary.failed.append((planned.run_id, f"{type(exc).__name__}: {exc}",
                                   str(log if log.is_file() else store.run_dir(planned.run_id))))
            echo(f"      failed after {time.perf_counter() - started:.1f} s: {type(exc).__name__}: {exc}")
            continue
        if store.is_finished(planned.run_id):
            summary.finished.append(planned.run_id)
            echo(f"      finished in {time.perf_counter() - started:.1f} s")
        else:
            summary.failed.append((planned.run_id, f"ended with status {store.status(planned.run_id)!r}",
                                   str(store.run_dir(planned.run_id))))
    return summary
