"""One run of one recipe cell, end to end: prepare the data (synthetic pool / subset / PanDA sets,
cached), build the task, train it with the one loop (harness/train/loop.py), evaluate, record in
the run store and W&B.

Launch (one process, CPU or one GPU), through the one entry point, `panbench train`
(harness/commands/train.py):
    panbench train panda-table2-mini data.n=10 data.panda=1x
DDP (one process per GPU with NCCL, or CPU processes with gloo):
    torchrun --nproc_per_node 8 -m harness.cli train panda-table2 data.n=100 data.panda=1x
    panbench train panda-table2-mini --nproc 2 data.n=10          (the same through torchrun)
A whole grid, locally, through torchrun or on SLURM: `panbench sweep` (harness/launch).

Iterations and lr follow harness/train/schedule.py: iterations = epochs * n_train / (GPUs x
ims_per_gpu), lr = base_lr * (GPUs x ims_per_gpu) / base_batch.

The run id comes from the run spec (harness/config/run_spec.py): a finished run is skipped, a killed
one resumes from its last checkpoint, a failed one records its error and traceback and is retried
on the next call; only `--rerun` trains a finished run again (its record kept in `earlier/<k>/`). One
execution per run: rank 0 takes the run's lock (harness/tracking/run_lock.py) before anything is
written; a run whose lock is held elsewhere is skipped with the holder's host and pid. Every restart
cuts `history.jsonl` back to the checkpoint's iteration (to nothing without a checkpoint), so no step
is logged twice. Rank 0 writes the human-readable `train.log` (harness/train/train_log.py). Each
attempt that ends adds its device time to run.json's `cost`: GPU-hours = wall clock x GPUs;
CPU-hours = rank 0's CPU time (all threads and data workers) x processes."""

from __future__ import annotations

import math
import os
import random
import resource
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from harness.config.paths import DEFAULT_RUNS_ROOT
from harness.config.recipe_schema import RecipeConfig
from harness.config.run_spec import RunSpec
from harness.interrupts import Interrupted, handled
from harness.threads import apply_thread_policy
from harness.tracking.provenance import describe_state, state_of
from harness.tracking.run_lock import RunLock
from harness.tracking.run_store import PREDICTIONS, TRAIN_LOG, RunStore
from harness.tracking.wandb_sink import WandbSink
from harness.train.data_sources import PreparedData, describe, prepare_data
from harness.train.distributed import DistContext, barrier, broadcast_object, init_distributed
from harness.train.loop import Diverged, Trainer, TrainSettings
from harness.train.tasks.registry import build_task
from harness.train.train_log import TrainLog

FINISHED = "finished"  # rank 0's verdict when the run was finished by the time it held the lock


@dataclass(frozen=True)
class RunResult:
    run_id: str
    run_dir: Path
    metrics: dict  # metrics.json
    skipped: bool  # not trained by this call: finished before, or running elsewhere
    running_elsewhere: str | None = None  # the lock holder (host, pid) when it runs elsewhere


def seed_everything(seed: int) -> None:
    """Same seed on every rank: identical initial weights (DDP also broadcasts them)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _rounded(value: float, digits: int) -> float | None:
    """None for NaN (a resumed run that had nothing left to train): JSON has no NaN."""
    return None if math.isnan(value) else round(value, digits)


def _prepare(recipe: RecipeConfig, ctx: DistContext, progress: bool, runs_root: str | Path) -> PreparedData:
    """Rank 0 builds the cached folders; the other ranks then find them in the cache."""
    prepared = prepare_data(recipe, progress=progress, runs_root=runs_root) if ctx.is_main else None
    barrier(ctx)
    return prepared if ctx.is_main else prepare_data(recipe, progress=False, runs_root=runs_root)


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (data workers), all threads."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run_training(spec: RunSpec, runs_root: str | Path = DEFAULT_RUNS_ROOT, progress: bool = True,
                 rerun: bool = False) -> RunResult:
    """Train and evaluate the run `spec` names, recording it under `runs_root`; a finished run, or
    one whose lock another process holds, is skipped. `rerun` (asked for by `--rerun` only) trains a
    finished run again, its record set aside in `earlier/<k>/` first."""
    store = RunStore(runs_root)
    rid, run_dir = spec.run_id, store.confine(spec.run_id)  # a planted link: refused before any write
    ctx = init_distributed()
    if store.is_finished(rid) and not rerun:
        return RunResult(rid, run_dir, store.read_metrics(rid) or {}, skipped=True)
    lock = RunLock(run_dir) if ctx.is_main else None
    verdict = None  # rank 0's: None (train), FINISHED, or where the run executes
    if lock is not None:
        if not lock.acquire():
            holder = lock.holder()
            verdict = holder.describe() if holder else "holder unknown"
        elif store.is_finished(rid) and rerun:
            print(f"run {rid}: rerun; the finished record is kept in {store.set_aside(rid)}")
        elif store.is_finished(rid):  # finished by the holder this process waited on
            lock.release()
            verdict = FINISHED
    verdict = broadcast_object(ctx, verdict)  # every rank has read the status before rank 0 rewrites run.json
    if verdict == FINISHED:
        return RunResult(rid, run_dir, store.read_metrics(rid) or {}, skipped=True)
    if verdict is not None:
        return RunResult(rid, run_dir, {}, skipped=True, running_elsewhere=verdict)
    try:
        if lock is not None and lock.took_over is not None:
            print(f"run {rid}: took over the stale lock of {lock.took_over.describe()} (its process is gone or "
                  f"its lease ran out)")
        with handled():  # SIGTERM / SIGINT / SIGHUP: recorded `interrupted` (harness.interrupts)
            return _train(spec, store, ctx, progress)
    finally:
        if lock is not None:
            lock.release()


def _train(spec: RunSpec, store: RunStore, ctx: DistContext, progress: bool) -> RunResult:
    """One attempt of a locked run (rank 0 holds the lock)."""
    recipe = spec.settings
    apply_thread_policy(recipe.train.threads)
    rid, run_dir = spec.run_id, store.run_dir(spec.run_id)
    show = progress and ctx.is_main
    run_record = store.start(spec, world_size=ctx.world_size) if ctx.is_main else {}
    log = TrainLog(run_dir / TRAIN_LOG, ctx.device) if ctx.is_main else None
    if log is not None:
        log.line(f"run {rid} attempt {run_record['attempts']}: {spec.label(spec.n_requested)} seed={spec.seed}, "
                 f"code {describe_state(state_of(run_record))}, {ctx.world_size} process(es) on {ctx.device.type}")
    sink: WandbSink | None = None
    trainer: Trainer | None = None
    started, cpu_started = time.perf_counter(), cpu_seconds()
    metrics: dict = {}

    def add_cost() -> None:
        wall = time.perf_counter() - started
        gpu_hours = wall * ctx.world_size / 3600 if ctx.device.type == "cuda" else 0.0
        store.add_cost(rid, gpu_hours, (cpu_seconds() - cpu_started) * ctx.world_size / 3600)

    try:
        prepared = _prepare(recipe, ctx, show, store.root)
        if ctx.is_main:
            store.record_data(rid, n=prepared.n_original, n_train=prepared.n_train, data=describe(prepared))
        seed_everything(recipe.seed)
        task = build_task(recipe, prepared, store.root)

        def log_step(step_record: dict) -> None:
            store.append_history(rid, step_record)
            sink.log_step(step_record)
            log.step(step_record)

        def evaluate_at(step: int) -> None:
            if ctx.is_main:
                result = task.evaluate(trainer.modules, run_dir / PREDICTIONS / f"step_{step:07d}", ctx.device, 0,
                                       show)
                flat = {k: v for k, v in result.metrics.items() if k != "per_class"}
                store.append_history(rid, {"step": step, "eval": flat})
                sink.log_metrics(flat, step)
                log.evaluation(flat, step)
            barrier(ctx)

        trainer = Trainer(task, TrainSettings.from_config(recipe), ctx, store.checkpoint_dir(rid), log=log_step,
                          evaluate=evaluate_at, progress=show)
        if ctx.is_main:
            if trainer.iteration:
                print(f"run {rid}: resuming at iteration {trainer.iteration} of {trainer.total}")
            store.truncate_history(rid, trainer.iteration)  # what a killed attempt logged after its checkpoint
            sink = WandbSink(spec, run_dir, recipe.wandb, n=prepared.n_original, wandb_id=run_record["wandb_id"],
                             history=store.read_history(rid))
            store.update(rid, wandb_dir=sink.directory)
            log.begin(trainer.total, trainer.iteration)
        result = trainer.fit()
        if ctx.is_main:
            evaluation = task.evaluate(trainer.modules, run_dir / PREDICTIONS, ctx.device, recipe.eval.images_logged,
                                       show)
            sink.log_final(evaluation.metrics, prepared.categories, evaluation.samples, step=trainer.iteration)
            log.evaluation(evaluation.metrics, trainer.iteration, final=True)
            lrs = result.lrs
            store.update(rid, iterations=result.iterations, lr=next(iter(lrs.values())) if len(lrs) == 1 else lrs,
                         seconds_per_iter=_rounded(result.seconds_per_iter, 4),
                         cpu_seconds_per_iter=_rounded(result.cpu_seconds_per_iter, 4),
                         peak_rss_mb=_rounded(result.peak_rss_mb, 1), **evaluation.record_in(run_dir))
            add_cost()
            store.finish(rid, evaluation.metrics, time.perf_counter() - started)
            log.line(f"finished in {time.perf_counter() - started:.1f} s")
            sink.finish(0)
            metrics = evaluation.metrics
        barrier(ctx)
    except BaseException as exc:
        iteration = trainer.iteration if trainer is not None else 0
        if isinstance(exc, Interrupted):
            exc.run_id = rid
            exc.iteration = iteration if exc.iteration is None else exc.iteration
        if ctx.is_main:
            _record_failure(store, rid, exc, time.perf_counter() - started, ctx, iteration)
            log.line(f"{(store.read_run(rid) or {}).get('status')} after {time.perf_counter() - started:.1f} s: "
                     f"{type(exc).__name__}: {exc}")
            add_cost()
            if sink is not None:
                sink.finish(exc.exit_code if isinstance(exc, Interrupted) else 1)
        elif not isinstance(exc, Interrupted):  # rank 0 records the interruption
            store.write_rank_error(rid, ctx.rank, exc)
        if isinstance(exc, Diverged):
            raise Diverged(f"run {rid}: {exc}") from None
        raise
    return RunResult(rid, run_dir, metrics, skipped=False)


def _record_failure(store: RunStore, rid: str, exc: BaseException, duration_s: float, ctx: DistContext,
                    iteration: int) -> None:
    """Rank 0 records the failure in one write; under DDP the root cause is the rank that failed
    first (rank 0's own error is then only the collective it lost its peer in). A SystemExit is
    submitit stopping the job to requeue it (on its preemption / time-limit signal), an Interrupted
    a stop signal: the run is `interrupted`, not failed, and a rerun resumes it."""
    if isinstance(exc, Interrupted):
        store.fail(rid, exc, duration_s, status="interrupted", interrupted=exc.record())
        return
    if isinstance(exc, SystemExit):
        requeue = {"signal": "SIG" + os.environ.get("SUBMITIT_PREEMPT_SIGNAL", "USR2"), "iteration": iteration}
        store.fail(rid, exc, duration_s, status="interrupted", interrupted=requeue)
        return
    status = "failed"
    cause = store.root_cause(rid) if ctx.distributed else None
    if cause is None:
        store.fail(rid, exc, duration_s, status=status)
    else:
        store.record_failure(rid, cause[0], cause[1], duration_s, status=status)
