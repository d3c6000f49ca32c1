"""`panbench sweep RECIPE`: a recipe's `grid:` expanded into runs, each run executed once.

Each cell becomes a run spec (harness.config.run_spec: its id, cell and canonical variant, computed
once), so the plan knows each run's state before anything starts: finished, running elsewhere (its
lock is held: harness.tracking.run_lock), failed (it is retried) or to do. The runs to do go to
one executor:

- `local`: one after the other in this process, or `--parallel N` at once as N processes
  (`python -m harness.cli train`), the machine's cores split between them;
- `torchrun`: each run as a DDP job of `--nproc` processes (harness.launch.torchrun), `--parallel`
  jobs at once on disjoint GPUs;
- `slurm`: one submitit job array per set of `launch:` parameters (harness.launch.slurm).

A failed run is reported and the sweep goes on; a run another process is executing is skipped; the
summary says which runs finished, were skipped, run elsewhere or failed, why, and where their log is."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from harness.config.paths import DEFAULT_RUNS_ROOT
from harness.errors import ConfigError
from harness.launch.plan import Launch, PlannedRun, SweepSummary, check_executor, describe_cell, record_outcome
from harness.tracking.run_lock import RunLock
from harness.tracking.run_store import RunStore


def run_sweep(plan: list[PlannedRun], runs_root: str | Path = DEFAULT_RUNS_ROOT, *, executor: str = "local",
              launch: Launch | None = None, train: Callable[..., object] | None = None,
              echo: Callable[[str], None] = print) -> SweepSummary:
    """Run every run of `plan` that is neither finished nor running elsewhere; never twice, never
    stopping at a failure. `launch` says how (needed by every executor but the sequential local one)."""
    store = RunStore(runs_root)
    summary = SweepSummary(skipped=[p.run_id for p in plan if store.is_finished(p.run_id)])
    todo = []
    for planned in plan:
        if planned.run_id in summary.skipped:
            continue
        holder = RunLock(store.run_dir(planned.run_id)).held_elsewhere()
        if holder is not None:
            summary.running_elsewhere.append((planned.run_id, holder.describe()))
            echo(f"      run {planned.run_id} is running elsewhere ({holder.describe()}): skipped")
        else:
            todo.append(planned)
    if not todo:
        return summary
    if executor == "local" and (launch is None or launch.parallel == 1):
        _run_here(todo, store, train, summary, echo)
        return summary
    if launch is None:
        raise ConfigError(f"--executor {executor}: needs the recipe and overrides to launch runs")
    check_executor(executor, launch.cluster, launch.parallel)
    if executor == "slurm":
        from harness.launch.slurm import run_on_slurm

        run_on_slurm(todo, launch, summary, echo)
    else:
        from harness.launch.processes import run_as_processes

        run_as_processes(todo, launch, summary, echo, torchrun=executor == "torchrun")
    return summary


def _run_here(todo: list[PlannedRun], store: RunStore, train: Callable[..., object] | None, summary: SweepSummary,
              echo: Callable[[str], None]) -> None:
    """One run after the other in this process."""
    if train is None:
        from harness.train.run import run_training as train
    for k, planned in enumerate(todo, 1):
        echo(f"[{k}/{len(todo)}] run {planned.run_id}: {describe_cell(planned.cell)}")
        started = time.perf_counter()
        try:
            result = train(planned.spec, runs_root=store.root)
        except Exception as exc:  # a failing run is recorded and the sweep goes on
            record_outcome(store, planned, summary, echo, started, error=f"{type(exc).__name__}: {exc}")
            continue
        record_outcome(store, planned, summary, echo, started, skipped=bool(getattr(result, "skipped", False)),
                       running_elsewhere=getattr(result, "running_elsewhere", None))
