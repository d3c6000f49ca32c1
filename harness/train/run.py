"""One run of one recipe cell, end to end: prepare the data (synthetic pool / subset / PanDA sets,
cached), build the task, train it with the one loop (harness/train/loop.py), evaluate, record in
the run store and W&B.

Launch (one process, CPU or one GPU):
    panbench train panda-table2-mini data.n=10 data.panda=1x
DDP (one process per GPU with NCCL, or CPU processes with gloo):
    torchrun --nproc_per_node 8 -m harness.train.run panda-table2 data.n=100 data.panda=1x
    panbench train panda-table2-mini --nproc 2 data.n=10          (the same through torchrun)

Iterations and lr follow harness/train/schedule.py: iterations = epochs * n_train / (GPUs x
ims_per_gpu), lr = base_lr * (GPUs x ims_per_gpu) / base_batch.

The run id comes from the run spec (harness/train/run_spec.py): a finished run is skipped, a killed
one resumes from its last checkpoint, a failed one records its error and traceback and is retried
on the next call."""

from __future__ import annotations

import argparse
import math
import os
import random
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from harness.threads import apply_thread_policy, set_process_defaults

set_process_defaults()  # torchrun's workers start here: before torch loads OpenMP (harness.threads)

import numpy as np  # noqa: E402
import torch  # noqa: E402

from harness.errors import PanbenchError  # noqa: E402
from harness.tracking.run_store import RunStore  # noqa: E402
from harness.tracking.wandb_sink import WandbSink  # noqa: E402
from harness.train.data_sources import PreparedData, describe, prepare_data  # noqa: E402
from harness.train.distributed import DistContext, barrier, init_distributed, shutdown  # noqa: E402
from harness.train.evaluate import PREDICTIONS  # noqa: E402
from harness.train.loop import Trainer, TrainSettings  # noqa: E402
from harness.train.recipe_schema import RecipeConfig  # noqa: E402
from harness.train.run_spec import RunSpec  # noqa: E402
from harness.train.tasks import build_task  # noqa: E402


class RunFailed(PanbenchError):
    """A run launched in other processes (torchrun) ended without finishing; the record says why."""


@dataclass(frozen=True)
class RunResult:
    run_id: str
    run_dir: Path
    metrics: dict  # metrics.json
    skipped: bool  # it was finished before this call


def seed_everything(seed: int) -> None:
    """Same seed on every rank: identical initial weights (DDP also broadcasts them)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _rounded(value: float, digits: int) -> float | None:
    """None for NaN (a resumed run that had nothing left to train): JSON has no NaN."""
    return None if math.isnan(value) else round(value, digits)


def _prepare(recipe: RecipeConfig, ctx: DistContext, progress: bool) -> PreparedData:
    """Rank 0 builds the cached folders; the other ranks then find them in the cache."""
    prepared = prepare_data(recipe, progress=progress) if ctx.is_main else None
    barrier(ctx)
    return prepared if ctx.is_main else prepare_data(recipe, progress=False)


def run_training(spec: RunSpec, runs_root: str | Path = "results/runs", progress: bool = True) -> RunResult:
    """Train and evaluate the run `spec` names, recording it under `runs_root`."""
    recipe = spec.settings
    apply_thread_policy(recipe.train.threads)
    store = RunStore(runs_root)
    rid, run_dir = spec.run_id, store.run_dir(spec.run_id)
    ctx = init_distributed()
    show = progress and ctx.is_main
    if store.is_finished(rid):
        return RunResult(rid, run_dir, store.read_metrics(rid) or {}, skipped=True)
    barrier(ctx)  # every rank has read the status before rank 0 rewrites run.json
    if ctx.is_main:
        store.start(spec, world_size=ctx.world_size)
    sink: WandbSink | None = None
    started = time.perf_counter()
    metrics: dict = {}
    try:
        prepared = _prepare(recipe, ctx, show)
        if ctx.is_main:
            store.record_data(rid, n=prepared.n_original, n_train=prepared.n_train, data=describe(prepared))
            sink = WandbSink(spec, run_dir, recipe.wandb, n=prepared.n_original)
            store.update(rid, wandb_dir=sink.directory)
        seed_everything(recipe.seed)
        task = build_task(recipe, prepared)

        def log_step(step_record: dict) -> None:
            store.append_history(rid, step_record)
            sink.log_step(step_record)

        def evaluate_at(step: int) -> None:
            if ctx.is_main:
                result = task.evaluate(trainer.modules, run_dir / PREDICTIONS / f"step_{step:07d}", ctx.device, 0,
                                       show)
                flat = {k: v for k, v in result.metrics.items() if k != "per_class"}
                store.append_history(rid, {"step": step, "eval": flat})
                sink.log_metrics(flat, step)
            barrier(ctx)

        trainer = Trainer(task, TrainSettings.from_config(recipe), ctx, store.checkpoint_dir(rid), log=log_step,
                          evaluate=evaluate_at, progress=show)
        if trainer.iteration and ctx.is_main:
            print(f"run {rid}: resuming at iteration {trainer.iteration} of {trainer.total}")
            store.truncate_history(rid, trainer.iteration)
        result = trainer.fit()
        if ctx.is_main:
            evaluation = task.evaluate(trainer.modules, run_dir / PREDICTIONS, ctx.device, recipe.eval.images_logged,
                                       show)
            sink.log_final(evaluation.metrics, prepared.categories, evaluation.samples)
            lrs = result.lrs
            store.update(rid, iterations=result.iterations, lr=next(iter(lrs.values())) if len(lrs) == 1 else lrs,
                         seconds_per_iter=_rounded(result.seconds_per_iter, 4),
                         cpu_seconds_per_iter=_rounded(result.cpu_seconds_per_iter, 4),
                         peak_rss_mb=_rounded(result.peak_rss_mb, 1), **evaluation.record_in(run_dir))
            store.finish(rid, evaluation.metrics, time.perf_counter() - started)
            sink.finish(0)
            metrics = evaluation.metrics
        barrier(ctx)
    except BaseException as exc:
        if ctx.is_main:
            store.fail(rid, exc, time.perf_counter() - started)
            if sink is not None:
                sink.finish(1)
        raise
    return RunResult(rid, run_dir, metrics, skipped=False)


def run_distributed(spec: RunSpec, recipe: str, overrides: list[str], runs_root: str | Path, nproc: int,
                    progress: bool = True) -> RunResult:
    """The run `spec` (= `recipe` + `overrides`) as `nproc` DDP processes through torchrun; its
    outcome is read from the run store the processes wrote."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
           "-m", "harness.train.run", recipe, *overrides, "--runs-root", str(runs_root)]
    if not progress:
        cmd.append("--no-progress")
    code = subprocess.call(cmd)
    store = RunStore(runs_root)
    record = store.read_run(spec.run_id) or {}
    if code == 0 and record.get("status") == "finished":
        return RunResult(spec.run_id, store.run_dir(spec.run_id), store.read_metrics(spec.run_id) or {}, skipped=False)
    raise RunFailed(f"run {spec.run_id} {record.get('status', 'not started')} (torchrun exit code {code}): "
                    f"{record.get('error')} (log: {record.get('traceback') or store.run_dir(spec.run_id)})")


def main(argv: list[str] | None = None) -> int:
    """`python -m harness.train.run RECIPE [key=value ...]` (the torchrun entry point)."""
    parser = argparse.ArgumentParser(prog="harness.train.run", description="Train one recipe cell.")
    parser.add_argument("recipe")
    parser.add_argument("overrides", nargs="*", metavar="key=value")
    parser.add_argument("--runs-root", default="results/runs")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    try:
        run_training(RunSpec.from_recipe(args.recipe, args.overrides), args.runs_root, progress=not args.no_progress)
    except PanbenchError as exc:
        if int(os.environ.get("RANK", "0")) == 0:
            print(f"panbench: error: {exc}", file=sys.stderr)
        return 2
    finally:
        shutdown(init_distributed())
    return 0


if __name__ == "__main__":
    sys.exit(main())
