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

The plan runs in stages (plan.stages): the upstream runs that other runs depend on (a synthesis run's
evaluators) first, each stage through the same executor; a run whose upstream run did not finish is
blocked, not started. A failed run is reported and the sweep goes on; a run another process is
executing is skipped; the summary says which runs finished, were skipped, run elsewhere, failed or
were blocked, why, and where their log is. `run_upstream` is the same for the dependencies of one run
(`panbench train`, `panbench evaluate synthesis`). A stop signal (SIGTERM,
SIGINT, SIGHUP) stops the sweep: the run in this process records itself `interrupted`; runs in child
processes get the signal forwarded and are waited for (harness.interrupts.CHILD_WAIT_S); SLURM jobs
keep running on the cluster. The summary then lists each interrupted run and the command exits
128 + the signal (a rerun of the sweep resumes them)."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Callable

from harness.config.dependencies import Dependency, DependencyError, upstream
from harness.config.paths import DEFAULT_RUNS_ROOT
from harness.errors import ConfigError
from harness.interrupts import Interrupted
from harness.launch.plan import Launch, PlannedRun, SweepSummary, check_executor, plan_runs, record_outcome, stages
from harness.tracking.run_lock import RunLock
from harness.tracking.run_store import RunStore


def run_sweep(plan: list[PlannedRun], runs_root: str | Path = DEFAULT_RUNS_ROOT, *, executor: str = "local",
              launch: Launch | None = None, train: Callable[..., object] | None = None,
              echo: Callable[[str], None] = print) -> SweepSummary:
    """Run every run of `plan` that is neither finished (unless planned with `rerun`) nor running
    elsewhere, stage by stage (upstream runs first); never twice, never stopping at a failure. `launch`
    says how (needed by every executor but the sequential local one)."""
    store = RunStore(runs_root)
    summary = SweepSummary(skipped=[p.run_id for p in plan if store.is_finished(p.run_id) and not p.rerun])
    try:
        for stage in stages(plan):
            todo = []
            for planned in stage:
                if planned.run_id in summary.skipped:
                    continue
                waiting = [rid for rid in planned.needs if not store.is_finished(rid)]
                holder = RunLock(store.run_dir(planned.run_id)).held_elsewhere()
                if waiting:
                    reason = ", ".join(f"upstream run {rid} is {store.status(rid) or 'not started'}"
                                       for rid in waiting)
                    summary.blocked.append((planned.run_id, reason))
                    echo(f"      run {planned.run_id} is blocked: {reason}")
                elif holder is not None:
                    summary.running_elsewhere.append((planned.run_id, holder.describe()))
                    echo(f"      run {planned.run_id} is running elsewhere ({holder.describe()}): skipped")
                else:
                    todo.append(planned)
            if todo:
                _execute(todo, store, executor, launch, train, summary, echo)
    except Interrupted as exc:  # no later stage starts
        summary.signal = exc.signum
    return summary


def _execute(todo: list[PlannedRun], store: RunStore, executor: str, launch: Launch | None,
             train: Callable[..., object] | None, summary: SweepSummary, echo: Callable[[str], None]) -> None:
    """One stage of the plan through the executor."""
    if executor == "local" and (launch is None or launch.parallel == 1):
        _run_here(todo, store, train, summary, echo)
        return
    if launch is None:
        raise ConfigError(f"--executor {executor}: needs the recipe and overrides to launch runs")
    check_executor(executor, launch.cluster, launch.parallel)
    if executor == "slurm":
        from harness.launch.slurm import run_on_slurm

        run_on_slurm(todo, launch, summary, echo)
    else:
        from harness.launch.processes import run_as_processes

        run_as_processes(todo, launch, summary, echo, torchrun=executor == "torchrun")


def run_upstream(needs: list[Dependency], runs_root: str | Path = DEFAULT_RUNS_ROOT, *,
                 echo: Callable[[str], None] = print) -> None:
    """Train the runs that `needs` name by recipe reference and that are not finished (with their own
    upstream runs), here, one after the other: the sweep's local executor for the dependencies of one
    run. A DependencyError names the first that did not finish."""
    ups = {up.spec.run_id: up for up in (upstream(need) for need in needs) if up is not None}
    plan = [replace(p, upstream=ups.get(p.run_id, p.upstream)) for p in plan_runs([u.spec for u in ups.values()],
                                                                                    runs_root)]
    if all(p.done for p in plan):
        return
    for planned in plan:
        if not planned.done:
            echo(f"{planned.describe()}: run {planned.run_id} is not finished; training it first")
    summary = run_sweep(plan, runs_root, echo=echo)
    if summary.signal is not None:  # the run that needed them stops too
        raise Interrupted(summary.signal)
    problems = ([f"upstream run {rid} failed: {error} (log: {log})" for rid, error, log in summary.failed]
                + [f"upstream run {rid} is running elsewhere ({holder}); try again once it has finished"
                   for rid, holder in summary.running_elsewhere]
                + [f"upstream run {rid} is blocked: {reason}" for rid, reason in summary.blocked])
    if problems:
        raise DependencyError(problems[0])


def _run_here(todo: list[PlannedRun], store: RunStore, train: Callable[..., object] | None, summary: SweepSummary,
              echo: Callable[[str], None]) -> None:
    """One run after the other in this process."""
    if train is None:
        from harness.train.run import run_training as train
    for k, planned in enumerate(todo, 1):
        echo(f"[{k}/{len(todo)}] run {planned.run_id}: {planned.describe()}")
        started = time.perf_counter()
        try:
            result = train(planned.spec, runs_root=store.root, **({"rerun": True} if planned.rerun else {}))
        except Interrupted:  # recorded by the run; the sweep stops
            record_outcome(store, planned, summary, echo, started)
            raise
        except Exception as exc:  # a failing run is recorded and the sweep goes on
            record_outcome(store, planned, summary, echo, started, error=f"{type(exc).__name__}: {exc}")
            continue
        record_outcome(store, planned, summary, echo, started, skipped=bool(getattr(result, "skipped", False)),
                       running_elsewhere=getattr(result, "running_elsewhere", None))
