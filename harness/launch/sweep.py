"""`panbench sweep RECIPE`: a recipe's `grid:` expanded into runs, each run once.

The run id is the hash of the resolved config (harness.tracking.run_store), so the plan knows which
runs are finished before anything starts; finished runs are skipped, a failed run is reported and
the sweep goes on, and the summary says which runs failed, why, and where their log is."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from omegaconf import DictConfig, ListConfig, OmegaConf

from harness.errors import ConfigError
from harness.tracking.run_store import ERROR_LOG, RunStore, run_id
from harness.train.recipes import CASES_KEY, expand_grid, load_recipe, to_dict

EXECUTORS = ("local", "torchrun", "slurm")


@dataclass
class PlannedRun:
    run_id: str
    config: DictConfig
    cell: dict                 # the grid values that distinguish this run
    status: str | None         # status in the run store before the sweep (None: never started)

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


def grid_keys(cfg: DictConfig) -> list[str]:
    grid = OmegaConf.to_container(cfg.get("grid") or OmegaConf.create({}), resolve=True)
    keys = [k for k in grid if k != CASES_KEY]
    for case in grid.get(CASES_KEY) or []:
        keys += [k for k in case if k not in keys]
    return keys


def plan_sweep(recipe: str, overrides: Iterable[str] = (), runs_root: str | Path = "results/runs",
               seeds: Iterable[int] | None = None) -> list[PlannedRun]:
    """Every cell of the recipe's grid with its run id and current status. An override of a grid key
    pins the grid to that value (load_recipe: `data.n=10` runs only the n = 10 cells); `seeds`
    repeats every cell with each training seed (mean ± std over seeds in the tables)."""
    cfg = load_recipe(recipe, list(overrides))
    keys = grid_keys(cfg)
    cells = expand_grid(cfg)
    if seeds is not None:
        cells = [_with_seed(c, seed) for c in cells for seed in seeds]
        keys = [*keys, "seed"] if "seed" not in keys else keys
    store = RunStore(runs_root)
    plan = []
    for cell in cells:
        rid = run_id(to_dict(cell))
        values = {k: _plain(OmegaConf.select(cell, k)) for k in keys}
        plan.append(PlannedRun(rid, cell, values, store.status(rid)))
    return plan


def _with_seed(cell: DictConfig, seed: int) -> DictConfig:
    cell = cell.copy()
    cell.seed = int(seed)
    return cell


def _plain(value: object) -> object:
    return OmegaConf.to_container(value) if isinstance(value, (DictConfig, ListConfig)) else value


def describe_cell(cell: dict) -> str:
    return " ".join(f"{k}={v}" for k, v in cell.items()) or "(single run)"


def check_executor(executor: str) -> None:
    if executor not in EXECUTORS:
        raise ConfigError(f"--executor {executor}: unknown (choose from {', '.join(EXECUTORS)})")
    if executor != "local":
        raise ConfigError(f"--executor {executor} is not implemented yet; use --executor local "
                          f"(one run after the other in this process)")


def run_sweep(plan: list[PlannedRun], runs_root: str | Path = "results/runs", *, executor: str = "local",
              train: Callable[..., Path] | None = None, echo: Callable[[str], None] = print) -> SweepSummary:
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
            train(planned.config, runs_root=runs_root)
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
