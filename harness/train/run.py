"""One run of one recipe cell, end to end: prepare the data (synthetic pool / subset / PanDA sets,
cached), build the model, train under the PanDA protocol, evaluate, record.

Launch (one process, CPU or one GPU):
    panbench train panda-table2-mini data.n=10 data.panda=1x
DDP (one process per GPU with NCCL, or CPU processes with gloo):
    torchrun --nproc_per_node 8 -m harness.train.run panda-table2 data.n=100 data.panda=1x
    panbench train panda-table2-mini --nproc 2 data.n=10          (the same through torchrun)

Iterations and lr follow harness/train/schedule.py: iterations = epochs * n_train / (GPUs x
ims_per_gpu), lr = base_lr * (GPUs x ims_per_gpu) / base_batch.

The run id is a hash of the resolved config (harness/tracking/run_store.py): a finished run is
skipped, a killed one resumes from its last checkpoint, a failed one records its error and
traceback and is retried on the next call."""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig

from harness.tracking.run_store import RunStore, run_id
from harness.tracking.wandb_sink import WandbSink
from harness.train.data_sources import describe, prepare_data
from harness.train.distributed import DistContext, barrier, init_distributed, shutdown
from harness.train.evaluate import PREDICTIONS, evaluate_model
from harness.train.loader import PanopticTrainSet
from harness.train.loop import Trainer, TrainSettings
from harness.train.recipes import load_recipe, select_cell, to_dict


def seed_everything(seed: int) -> None:
    """Same seed on every rank: identical initial weights (DDP also broadcasts them)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _rounded(value: float, digits: int) -> float | None:
    """None for NaN (a resumed run that had nothing left to train): JSON has no NaN."""
    return None if math.isnan(value) else round(value, digits)


def _prepare(cfg: DictConfig, ctx: DistContext, progress: bool):
    """Rank 0 builds the cached folders; the other ranks then find them in the cache."""
    prepared = prepare_data(cfg, progress=progress) if ctx.is_main else None
    barrier(ctx)
    return prepared if ctx.is_main else prepare_data(cfg, progress=False)


def run_training(cfg: DictConfig, runs_root: str | Path = "results/runs", progress: bool = True) -> Path:
    """Train and evaluate one config (the first grid cell if it still has a grid); return its run dir."""
    from harness.models.registry import create_model

    if cfg.get("grid"):
        cfg = select_cell(cfg)
    config = to_dict(cfg)
    rid = run_id(config)
    store = RunStore(runs_root)
    run_dir = store.run_dir(rid)
    ctx = init_distributed()
    show = progress and ctx.is_main
    if store.is_finished(rid):
        if ctx.is_main:
            print(f"run {rid} is finished: {run_dir}")
        return run_dir
    barrier(ctx)  # every rank has read the status before rank 0 rewrites run.json
    record = store.start(config, world_size=ctx.world_size) if ctx.is_main else {}
    sink: WandbSink | None = None
    started = time.perf_counter()
    try:
        prepared = _prepare(cfg, ctx, show)
        if ctx.is_main:
            record = store.update(rid, n=prepared.n_original, n_train=prepared.n_train, data=describe(prepared))
            sink = WandbSink(record, run_dir, mode=cfg.wandb.mode, project=cfg.wandb.project, entity=cfg.wandb.entity)
            store.update(rid, wandb_dir=sink.directory)
        seed_everything(int(cfg.seed))
        model = create_model(cfg.model.name, categories=prepared.categories, **dict(cfg.model.options))
        dataset = PanopticTrainSet(prepared.train_roots, prepared.categories, seed=int(cfg.seed),
                                   hflip=float(cfg.train.hflip), scale_jitter=tuple(cfg.train.scale_jitter))
        settings = TrainSettings.from_config(cfg)
        amp = bool(cfg.train.amp)

        def log_step(step_record: dict) -> None:
            store.append_history(rid, step_record)
            sink.log_step(step_record)

        def evaluate_at(step: int) -> None:
            if ctx.is_main:
                result = evaluate_model(trainer.model, prepared.val_root, run_dir / PREDICTIONS / f"step_{step:07d}",
                                        ctx.device, cfg.data.val_max, 0, amp, show)
                flat = {k: v for k, v in result.metrics.items() if k != "per_class"}
                store.append_history(rid, {"step": step, "eval": flat})
                sink.log_metrics(flat, step)
            barrier(ctx)

        trainer = Trainer(model, dataset, settings, ctx, store.checkpoint_dir(rid), log=log_step,
                          evaluate=evaluate_at, progress=show)
        if trainer.iteration and ctx.is_main:
            print(f"run {rid}: resuming at iteration {trainer.iteration} of {trainer.total}")
            store.truncate_history(rid, trainer.iteration)
        result = trainer.fit()
        if ctx.is_main:
            evaluation = evaluate_model(trainer.model, prepared.val_root, run_dir / PREDICTIONS, ctx.device,
                                        cfg.data.val_max, int(cfg.eval.images_logged), amp, show)
            sink.log_final(evaluation.metrics, prepared.categories, evaluation.samples)
            store.update(rid, iterations=result.iterations, lr=result.lr,
                         seconds_per_iter=_rounded(result.seconds_per_iter, 4),
                         cpu_seconds_per_iter=_rounded(result.cpu_seconds_per_iter, 4),
                         peak_rss_mb=_rounded(result.peak_rss_mb, 1))
            store.finish(rid, evaluation.metrics, time.perf_counter() - started)
            sink.finish(0)
        barrier(ctx)
    except BaseException as exc:
        if ctx.is_main:
            store.fail(rid, exc, time.perf_counter() - started)
            if sink is not None:
                sink.finish(1)
        raise
    return run_dir


def main(argv: list[str] | None = None) -> int:
    """`python -m harness.train.run RECIPE [key=value ...]` (the torchrun entry point)."""
    parser = argparse.ArgumentParser(prog="harness.train.run", description="Train one recipe cell.")
    parser.add_argument("recipe")
    parser.add_argument("overrides", nargs="*", metavar="key=value")
    parser.add_argument("--runs-root", default="results/runs")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    cfg = select_cell(load_recipe(args.recipe, args.overrides))
    try:
        run_training(cfg, args.runs_root, progress=not args.no_progress)
    finally:
        shutdown(init_distributed())
    return 0


if __name__ == "__main__":
    sys.exit(main())
