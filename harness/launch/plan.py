"""A sweep's plan: every cell of a recipe's grid as a run spec with its state (finished, running
elsewhere, failed, to do), preceded by the upstream runs the cells depend on (harness/train/
dependencies.py: a synthesis run's evaluators named by recipe reference), how its runs are launched,
and the summary every executor files its outcomes in (harness/launch/sweep.py runs the plan in
stages, upstream first; processes.py, torchrun.py and slurm.py execute each stage)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from harness.config.dependencies import Upstream, upstream_runs
from harness.config.paths import DEFAULT_RUNS_ROOT
from harness.config.recipes import load_recipe
from harness.config.run_spec import RunSpec, run_specs
from harness.errors import ConfigError
from harness.metrics.vocabulary import METRICS
from harness.tracking.run_lock import Holder, RunLock
from harness.tracking.run_store import ERROR_LOG, RunStore

EXECUTORS = ("local", "torchrun", "slurm")
CLUSTERS = ("slurm", "local", "debug")  # submitit's AutoExecutor clusters


@dataclass
class PlannedRun:
    spec: RunSpec
    status: str | None  # status in the run store before the sweep (None: never started)
    holder: Holder | None = None  # who executes it now, when its lock is held
    upstream: Upstream | None = None  # set when the run is planned as another run's dependency
    needs: tuple[str, ...] = ()  # run ids of the upstream runs that must finish before this one starts
    rerun: bool = False  # `--rerun`: a finished run is run again (its record kept beside it)

    @property
    def run_id(self) -> str:
        return self.spec.run_id

    def describe(self) -> str:
        """The cell, or for an upstream run the dependency it is (`upstream eval.segmenter '...'`)."""
        if self.upstream is None:
            return describe_cell(self.cell)
        return f"upstream {self.upstream.dependency.describe()}: {describe_cell(self.cell)}"

    def command(self, launch: "Launch") -> tuple[str, list[str]]:
        """The recipe and overrides a launched process rebuilds this run's spec from."""
        if self.upstream is not None:
            return self.upstream.recipe, list(self.upstream.overrides)
        return launch.recipe, [*launch.overrides, *cell_overrides(self.spec)]

    @property
    def cell(self) -> dict:
        """The grid values that distinguish this run."""
        return self.spec.cell

    @property
    def done(self) -> bool:
        return self.status == "finished"

    @property
    def state(self) -> str:
        """finished / running elsewhere / failed / to do (a finished run under `--rerun`)."""
        if self.done and not self.rerun:
            return "finished"
        if self.holder is not None:
            return "running elsewhere"
        return "failed" if self.status == "failed" else "to do"


@dataclass
class SweepSummary:
    finished: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # finished before the sweep
    running_elsewhere: list[tuple[str, str]] = field(default_factory=list)  # run id, holder
    failed: list[tuple[str, str, str]] = field(default_factory=list)  # run id, error, log path
    blocked: list[tuple[str, str]] = field(default_factory=list)  # run id, the upstream run it waits for
    interrupted: list[tuple[str, str]] = field(default_factory=list)  # run id, "SIGTERM at iteration N"
    signal: int | None = None  # the stop signal the sweep received (harness.interrupts)

    @property
    def ok(self) -> bool:
        return not self.failed and not self.blocked and self.signal is None


@dataclass(frozen=True)
class Launch:
    """How the runs of a sweep are started: the recipe and overrides that name them (processes
    started by the sweep rebuild each spec from these plus the cell, and check its id)."""

    recipe: str
    overrides: tuple[str, ...]
    runs_root: Path
    parallel: int = 1
    nproc: int | None = None  # torchrun processes per run (None: the launch section's ranks per node)
    cluster: str = "slurm"


def plan_sweep(recipe: str, overrides: Iterable[str] = (), runs_root: str | Path = DEFAULT_RUNS_ROOT,
               seeds: Iterable[int] | None = None, rerun: bool = False) -> list[PlannedRun]:
    """Every cell of the recipe's grid with its run spec and current state. An override of a grid key
    pins the grid to that value (load_recipe: `data.n=10` runs only the n = 10 cells); `seeds`
    repeats every cell with each training seed (mean ± std over seeds in the tables); `rerun` plans
    the finished runs of the grid again (never their upstream runs)."""
    return plan_runs(run_specs(load_recipe(recipe, list(overrides)), seeds=seeds), runs_root, rerun)


def plan_runs(specs: list[RunSpec], runs_root: str | Path = DEFAULT_RUNS_ROOT,
              rerun: bool = False) -> list[PlannedRun]:
    """`specs` with their state, after every upstream run they need (each once, recursively: an
    upstream run's own dependencies come before it), finished upstream runs included; `rerun` marks
    `specs` (not their upstream runs) to run again when finished."""
    store = RunStore(runs_root)
    own = {spec.run_id for spec in specs}
    ups: dict[str, Upstream] = {}
    needs: dict[str, tuple[str, ...]] = {}
    queue = list(specs)
    while queue:
        spec = queue.pop(0)
        found = upstream_runs(spec)
        needs[spec.run_id] = tuple(up.spec.run_id for up in found)
        for up in found:
            if up.spec.run_id not in own and up.spec.run_id not in ups:
                ups[up.spec.run_id] = up
                queue.append(up.spec)

    def planned(spec: RunSpec, upstream: Upstream | None = None) -> PlannedRun:
        store.confine(spec.run_id)  # a planted link in the store: the whole sweep is refused before any run
        return PlannedRun(spec, store.status(spec.run_id), RunLock(store.run_dir(spec.run_id)).held_elsewhere(),
                          upstream, needs[spec.run_id], rerun and upstream is None)

    return [planned(up.spec, up) for up in ups.values()] + [planned(spec) for spec in specs]


def stages(plan: list[PlannedRun]) -> list[list[PlannedRun]]:
    """The plan in stages that run one after the other: a run in the stage after the last run it needs."""
    planned_ids = {p.run_id for p in plan}
    done: set[str] = set()
    left, out = list(plan), []
    while left:
        ready = [p for p in left if all(n in done or n not in planned_ids for n in p.needs)]
        if not ready:
            raise ConfigError("the runs' dependencies form a cycle: " + ", ".join(p.run_id for p in left))
        out.append(ready)
        done |= {p.run_id for p in ready}
        left = [p for p in left if p.run_id not in done]
    return out


def describe_cell(cell: dict) -> str:
    return " ".join(f"{k}={v}" for k, v in cell.items()) or "(single run)"


def cell_overrides(spec: RunSpec) -> list[str]:
    """`key=value` overrides that pin the recipe's grid to this spec's cell (values as JSON, which
    the override parser reads as YAML); the launched process checks that it lands on the same id."""
    return [f"{key}={json.dumps(value)}" for key, value in spec.cell.items()]


def metric_summary(metrics: dict) -> str:
    """The first measured metric of each family (PQ, mIoU, AP, detAP, ...): a sweep line's summary."""
    shown: dict[str, str] = {}
    for key, metric in METRICS.items():
        value = metrics.get(key)
        if metric.family not in shown and isinstance(value, (int, float)) and not isinstance(value, bool):
            shown[metric.family] = f"{metric.label} {value:.4g}"
    return ", ".join(shown.values())


def check_executor(executor: str, cluster: str = "slurm", parallel: int = 1) -> None:
    if executor not in EXECUTORS:
        raise ConfigError(f"--executor {executor}: unknown (choose from {', '.join(EXECUTORS)})")
    if cluster not in CLUSTERS:
        raise ConfigError(f"--cluster {cluster}: unknown (choose from {', '.join(CLUSTERS)})")
    if parallel < 1:
        raise ConfigError(f"--parallel {parallel}: must be >= 1")
    if executor == "slurm" and parallel != 1:
        raise ConfigError("--parallel applies to --executor local|torchrun; on SLURM, set "
                          "launch.array_parallelism")


def failure_log(store: RunStore, rid: str, fallback: Path | None = None) -> str:
    """Where a failed run's traceback is: its record's, its error.log, else the launch log."""
    record = store.read_run(rid) or {}
    for candidate in (record.get("traceback"), store.run_dir(rid) / ERROR_LOG, fallback):
        if candidate and Path(candidate).is_file():
            return str(candidate)
    return str(store.run_dir(rid))


def record_outcome(store: RunStore, planned: PlannedRun, summary: SweepSummary, echo: Callable[[str], None],
                   started: float, skipped: bool = False, running_elsewhere: str | None = None,
                   error: str | None = None, log: Path | None = None) -> None:
    """File one run's outcome in the summary, from its record (the truth) and what its launcher saw
    (`skipped`: finished by another process before this one took the lock)."""
    rid = planned.run_id
    took = f"{time.perf_counter() - started:.1f} s"
    if running_elsewhere:
        summary.running_elsewhere.append((rid, running_elsewhere))
        echo(f"      run {rid} is running elsewhere ({running_elsewhere}): skipped")
    elif store.is_finished(rid) and skipped:
        summary.skipped.append(rid)
        echo(f"      run {rid} was finished elsewhere meanwhile: skipped")
    elif store.is_finished(rid):
        summary.finished.append(rid)
        scores = metric_summary(store.read_metrics(rid) or {})
        echo(f"      run {rid} finished in {took}" + (f": {scores}" if scores else ""))
    elif store.status(rid) == "interrupted":
        stop = (store.read_run(rid) or {}).get("interrupted") or {}
        at = f" at iteration {stop['iteration']}" if stop.get("iteration") is not None else ""
        summary.interrupted.append((rid, f"{stop.get('signal', 'a signal')}{at}"))
        echo(f"      run {rid} interrupted by {stop.get('signal', 'a signal')}{at} after {took}: a rerun resumes it")
    else:
        record = store.read_run(rid) or {}
        reason = error or record.get("error") or f"ended with status {record.get('status')!r}"
        summary.failed.append((rid, reason, failure_log(store, rid, log)))
        echo(f"      run {rid} failed after {took}: {reason}")
