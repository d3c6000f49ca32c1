"""Runs as processes on this machine: `--executor local --parallel N` (N runs at once, each
`python -m harness.cli train`) and `--executor torchrun` (each run a DDP job of `--nproc`
processes, `--parallel` jobs at once). Each run is a separate process (or group of processes) with
its own torch threads: the cores are split, threads = cores // (runs at once x processes per run),
and on a GPU machine each run gets its own GPUs (CUDA_VISIBLE_DEVICES), so parallel runs never share
a device.
Each process takes the run's lock itself, so a run killed with its sweep is found with a dead
holder and taken over by the next sweep. A stop signal the sweep receives is forwarded to every
running child, which records its run `interrupted`; no new run starts."""

from __future__ import annotations

import os
import queue
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

from harness.errors import ConfigError
from harness.interrupts import Interrupted, deferred, pending
from harness.launch.plan import Launch, PlannedRun, SweepSummary, record_outcome
from harness.launch.torchrun import RunFailed, run_distributed, run_process
from harness.progress import STEP_PERCENT
from harness.tracking.run_store import TRAIN_LOG, RunStore
from harness.train.train_log import latest_step


def local_slots(parallel: int, procs_per_run: int) -> list[dict[str, str]]:
    """The environment of each of `parallel` concurrent runs: its share of the cores and its GPUs."""
    import torch

    cores = len(os.sched_getaffinity(0))
    threads = str(max(1, cores // (parallel * procs_per_run)))
    gpus = torch.cuda.device_count()
    if gpus and parallel * procs_per_run > gpus:
        raise ConfigError(f"--parallel {parallel} x {procs_per_run} process(es) per run needs "
                          f"{parallel * procs_per_run} GPUs; this machine has {gpus}")
    slots = []
    for k in range(parallel):
        env = {"OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}
        if gpus:
            env["CUDA_VISIBLE_DEVICES"] = ",".join(str(g) for g in range(k * procs_per_run, (k + 1) * procs_per_run))
        slots.append(env)
    return slots


class ProgressWatch:
    """Echoes a launched run's newest train.log step line each time it has done another STEP_PERCENT
    of its iterations (the run's own process prints nothing: its output is the log)."""

    def __init__(self, rid: str, log: Path, echo: Callable[[str], None]):
        self.rid, self.log, self.echo, self.shown = rid, log, echo, 0.0

    def __call__(self) -> None:
        latest = latest_step(self.log)
        if latest is not None and 100 * latest[1] - self.shown >= STEP_PERCENT:
            self.shown = 100 * latest[1]
            self.echo(f"      run {self.rid}: {latest[0]}")


def run_as_processes(todo: list[PlannedRun], launch: Launch, summary: SweepSummary, echo: Callable[[str], None],
                     torchrun: bool) -> None:
    store = RunStore(launch.runs_root)
    nprocs = {p.run_id: launch.nproc or p.spec.settings.launch.ranks_per_node for p in todo} if torchrun \
        else {p.run_id: 1 for p in todo}
    per_run = max(nprocs.values())
    parallel = min(launch.parallel, len(todo))
    envs = local_slots(parallel, per_run)
    slots: queue.Queue[dict[str, str]] = queue.Queue()
    for env in envs:
        slots.put(env)
    what = f"DDP jobs of {per_run} process(es)" if torchrun else "separate processes"
    echo(f"{len(todo)} run(s), {parallel} at once as {what}, {envs[0]['OMP_NUM_THREADS']} torch thread(s) per "
         f"process ({len(os.sched_getaffinity(0))} cores)")

    def one(k: int, planned: PlannedRun) -> None:
        if pending():  # the sweep is stopping: no new run
            return
        slot = slots.get()
        try:
            _launch_one(k, planned, slot, nprocs[planned.run_id] if torchrun else None)
        finally:
            slots.put(slot)

    def _launch_one(k: int, planned: PlannedRun, slot: dict[str, str], nproc: int | None) -> None:
        rid = planned.run_id
        log = store.run_dir(rid) / TRAIN_LOG
        log.parent.mkdir(parents=True, exist_ok=True)
        recipe, overrides = planned.command(launch)
        echo(f"[{k}/{len(todo)}] run {rid}: {planned.describe()} (log: {log})")
        env = {**os.environ, **slot}
        started = time.perf_counter()
        watch = ProgressWatch(rid, log, echo)
        try:
            if nproc is not None:
                result = run_distributed(planned.spec, recipe, overrides, launch.runs_root, nproc,
                                         progress=False, env=env, log=log, rerun=planned.rerun, watch=watch)
            else:
                result = run_process(planned.spec, recipe, overrides, launch.runs_root, env=env, log=log,
                                     rerun=planned.rerun, watch=watch)
        except RunFailed as exc:
            error = (store.read_run(rid) or {}).get("error") or str(exc)
            record_outcome(store, planned, summary, echo, started, error=error, log=log)
            return
        except Interrupted:  # the forwarded signal stopped it, and it recorded itself
            record_outcome(store, planned, summary, echo, started, log=log)
            return
        record_outcome(store, planned, summary, echo, started, skipped=result.skipped,
                       running_elsewhere=result.running_elsewhere, log=log)

    with deferred(), ThreadPoolExecutor(max_workers=parallel) as pool:  # a signal: forwarded, children waited for
        for future in [pool.submit(one, k, p) for k, p in enumerate(todo, 1)]:
            future.result()
    if pending():
        raise Interrupted(pending())
