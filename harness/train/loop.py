"""The training loop, one for every task (harness/train/task.py): the PanDA protocol's iteration
count (schedule.py), AMP on CUDA, DDP when launched by torchrun, a checkpoint every N iterations and
exact resume from the last one, step losses to a callback, a progress bar on rank 0. A stop signal
(harness.interrupts) lets the current step finish, checkpoints and raises Interrupted; a non-finite
loss raises Diverged before anything of that step is logged or checkpointed."""

from __future__ import annotations

import math
import resource
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from harness.config.recipe_schema import RecipeConfig
from harness.errors import PanbenchError
from harness.interrupts import Interrupted, deferred, pending
from harness.progress import progress_bar
from harness.train.checkpoint import LAST, CheckpointError, load_checkpoint, rng_state, save_checkpoint, set_rng_state
from harness.train.distributed import DistContext, barrier, gather_objects, max_over_ranks
from harness.train.loader import ResumableBatchSampler, samples_per_epoch
from harness.train.schedule import total_iterations
from harness.train.task import Optim, Step, Task


class Diverged(PanbenchError):
    """A loss was not finite: the run fails with the iteration, the terms and the lr in one line."""


@dataclass(frozen=True)
class TrainSettings:
    """The loop's own settings; `from_config` takes every value from the recipe (no defaults here:
    recipes/base.yaml holds them)."""

    epochs: float
    ims_per_gpu: int
    max_iters: int | None
    amp: bool
    checkpoint_every: int
    log_every: int
    eval_every: int
    seed: int
    workers: int

    @classmethod
    def from_config(cls, recipe: RecipeConfig) -> "TrainSettings":
        t = recipe.train
        return cls(epochs=t.epochs, ims_per_gpu=t.ims_per_gpu, max_iters=t.max_iters, amp=t.amp,
                   checkpoint_every=t.checkpoint_every, log_every=t.log_every, eval_every=recipe.eval.every,
                   seed=recipe.seed, workers=recipe.data.workers)

    def iterations(self, n_train: float, world_size: int) -> int:
        total = total_iterations(self.epochs, n_train, self.ims_per_gpu * world_size)
        return min(total, self.max_iters) if self.max_iters else total


@dataclass
class TrainResult:
    iterations: int
    start_iteration: int
    lrs: dict[str, float]  # each optimizer's lr before the schedule (the scaled base lr)
    last_losses: dict[str, float] = field(default_factory=dict)
    seconds_per_iter: float = math.nan  # wall clock
    cpu_seconds_per_iter: float = math.nan  # CPU time of this process (all its threads)
    data_seconds_per_iter: float = math.nan  # waiting for the data loader's next batch (wall clock)
    peak_rss_mb: float = math.nan


def peak_rss_mb() -> float:
    """Peak resident memory of this process (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def lr_fields(lrs: dict[str, float]) -> dict[str, float]:
    """`lr` for a task with one optimizer, `lr_<name>` for each of several."""
    return {"lr": next(iter(lrs.values()))} if len(lrs) == 1 else {f"lr_{name}": lr for name, lr in lrs.items()}


def _progress(enabled: bool) -> Progress:
    return progress_bar(TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("loss {task.fields[loss]:.4f}"), TextColumn("{task.fields[s_it]:.2f} s/it"),
                        TimeRemainingColumn(), disable=not enabled)


class Trainer:
    """Trains `task` under `settings`; the checkpoint lives in `checkpoint_dir`. `log` receives each
    logged step's record; `evaluate(step)` runs every `settings.eval_every` iterations."""

    def __init__(self, task: Task, settings: TrainSettings, ctx: DistContext, checkpoint_dir: Path,
                 log: Callable[[dict], None] | None = None, evaluate: Callable[[int], None] | None = None,
                 progress: bool = True):
        self.task, self.settings, self.ctx = task, settings, ctx
        self.checkpoint_dir = Path(checkpoint_dir)
        self.log_fn, self.evaluate_fn, self.progress = log, evaluate, progress and ctx.is_main
        self.dataset = task.train_set()
        self.epoch_samples = samples_per_epoch(self.dataset)
        self.total = settings.iterations(self.epoch_samples, ctx.world_size)
        self.amp = settings.amp and ctx.device.type == "cuda"
        modules = task.modules()
        if ctx.distributed and task.sync_batchnorm and ctx.device.type == "cuda":  # SyncBatchNorm runs on CUDA only
            modules = {name: nn.SyncBatchNorm.convert_sync_batchnorm(m) for name, m in modules.items()}
        self.modules = {name: m.to(ctx.device) for name, m in modules.items()}
        self.nets = {name: self._wrap(m) for name, m in self.modules.items()}
        setups = task.optimizers(self.modules, self.total, settings.ims_per_gpu * ctx.world_size)
        self.optims = {name: Optim(setup, self.amp) for name, setup in setups.items()}
        self.iteration = self._resume()

    def _wrap(self, module: nn.Module) -> nn.Module:
        if not self.ctx.distributed or not any(p.requires_grad for p in module.parameters()):
            return module
        device_ids = [self.ctx.device.index] if self.ctx.device.type == "cuda" else None
        return DistributedDataParallel(module, device_ids=device_ids,
                                       find_unused_parameters=self.task.find_unused_parameters)

    def _resume(self) -> int:
        # on the CPU: RNG states must stay CPU tensors; load_state_dict moves the rest to the modules' device
        state = load_checkpoint(self.checkpoint_dir)
        if state is None:
            return 0
        path = self.checkpoint_dir / LAST
        data = state["data"]
        if data["n"] != len(self.dataset) or data["seed"] != self.settings.seed:
            raise CheckpointError(path, f"made for {data['n']} images / seed {data['seed']}, this run has "
                                        f"{len(self.dataset)} / {self.settings.seed}")
        if set(state["modules"]) != set(self.modules) or set(state["optimizers"]) != set(self.optims):
            raise CheckpointError(path, f"holds modules {sorted(state['modules'])} / optimizers "
                                        f"{sorted(state['optimizers'])}, this task has {sorted(self.modules)} / "
                                        f"{sorted(self.optims)}")
        try:
            for name, module in self.modules.items():
                module.load_state_dict(state["modules"][name])
            for name, optim in self.optims.items():
                optim.load_state_dict(state["optimizers"][name])
        except (RuntimeError, KeyError, ValueError, TypeError) as exc:
            raise CheckpointError(path, f"does not fit this run ({str(exc).splitlines()[0]})") from None
        rngs = state["rng"]
        set_rng_state(rngs[self.ctx.rank] if self.ctx.rank < len(rngs) else rngs[0])
        return int(state["iteration"])

    def save(self, sampler: ResumableBatchSampler, iteration: int) -> None:
        """Every rank contributes its RNG state; rank 0 writes."""
        rngs = gather_objects(self.ctx, rng_state())
        if self.ctx.is_main:
            save_checkpoint(self.checkpoint_dir, {
                "iteration": iteration, "total": self.total, "data": sampler.state(iteration), "rng": rngs,
                "modules": {name: m.state_dict() for name, m in self.modules.items()},
                "optimizers": {name: o.state_dict() for name, o in self.optims.items()}})
        barrier(self.ctx)

    def step(self, batch: Any) -> dict[str, float]:
        """One iteration of the task, then every scheduler; a non-finite loss stops the run before the
        step is logged or checkpointed (the last checkpoint stays good)."""
        losses = self.task.train_step(batch, Step(self.nets, self.optims, self.ctx.device, self.iteration, self.amp))
        bad = {k: v for k, v in losses.items() if not math.isfinite(v)}
        if bad:
            terms = ", ".join(f"{k}={v}" for k, v in bad.items())
            lrs = {name: o.lr for name, o in self.optims.items()}  # the step's: the schedulers step below
            lr = ", ".join(f"{k} {v:.6g}" for k, v in lr_fields(lrs).items())
            raise Diverged(f"loss is not finite at iteration {self.iteration + 1}: {terms} ({lr}); the run is failed, "
                           f"its last checkpoint kept (a lower train.base_lr, or train.grad_clip, may help)")
        for optim in self.optims.values():
            if optim.scheduler is not None:
                optim.scheduler.step()
        return losses

    def _batches(self, loader: DataLoader, sampler: ResumableBatchSampler, saved_at: Callable[[], int]):
        """The loader's batches; when a signal is pending, a loader error (a data worker the signal
        stopped) is the interruption: the state after the last step is checkpointed, then Interrupted."""
        try:
            yield from loader
        except Exception:
            signum = pending()
            if not signum or self.ctx.distributed:  # under DDP the ranks could not agree on a checkpoint
                raise
            if saved_at() != self.iteration:
                self.save(sampler, self.iteration)
            raise Interrupted(signum, self.iteration) from None

    def fit(self, stop_at: int | None = None) -> TrainResult:
        """Train up to iteration `stop_at` (default: the end), checkpointing on the way and at the stop."""
        s, start = self.settings, self.iteration
        end = self.total if stop_at is None else min(stop_at, self.total)
        sampler = ResumableBatchSampler(len(self.dataset), s.ims_per_gpu, self.ctx.world_size, self.ctx.rank, s.seed,
                                        start, end)
        # own generator: creating the loader's iterator must not draw from the global RNG (exact resume)
        loader = DataLoader(self.dataset, batch_sampler=sampler, num_workers=s.workers, collate_fn=self.task.collate,
                            generator=torch.Generator().manual_seed(s.seed))
        for net in self.nets.values():
            net.train()
        result = TrainResult(iterations=self.total, start_iteration=start,
                             lrs={name: o.base_lr for name, o in self.optims.items()})
        t0, cpu0 = time.perf_counter(), time.process_time()
        waited = 0.0
        saved = start
        with _progress(self.progress) as bar, deferred():
            task = bar.add_task("train", total=self.total, completed=start, loss=math.nan, s_it=math.nan)
            t_ready = time.perf_counter()  # ready for the next batch
            for batch in self._batches(loader, sampler, saved_at=lambda: saved):
                t_step = time.perf_counter()
                data_s = t_step - t_ready
                waited += data_s
                lrs = {name: o.lr for name, o in self.optims.items()}  # the lrs this step uses
                losses = self.step(batch)
                self.iteration += 1
                it = self.iteration
                s_it = time.perf_counter() - t_step
                bar.update(task, advance=1, loss=losses.get("loss", next(iter(losses.values()), math.nan)), s_it=s_it)
                result.last_losses = losses
                if self.log_fn and self.ctx.is_main and (it % max(1, s.log_every) == 0 or it == end):
                    self.log_fn({"step": it, "epoch": it * s.ims_per_gpu * self.ctx.world_size / self.epoch_samples,
                                 **lr_fields(lrs), "s_per_it": round(s_it, 4), "data_s": round(data_s, 4), **losses})
                if s.checkpoint_every and it % s.checkpoint_every == 0 and it < end:
                    self.save(sampler, it)
                    saved = it
                if self.evaluate_fn and s.eval_every and it % s.eval_every == 0 and it < self.total:
                    self.evaluate_fn(it)
                    for net in self.nets.values():
                        net.train()
                signum = max_over_ranks(self.ctx, pending() or 0)  # every rank stops at the same step
                if signum:
                    if saved != it:
                        self.save(sampler, it)
                    raise Interrupted(signum, it)
                t_ready = time.perf_counter()
        done = self.iteration - start
        result.seconds_per_iter = (time.perf_counter() - t0) / done if done else math.nan
        result.cpu_seconds_per_iter = (time.process_time() - cpu0) / done if done else math.nan
        result.data_seconds_per_iter = waited / done if done else math.nan
        result.peak_rss_mb = peak_rss_mb()
        if done:
            self.save(sampler, self.iteration)
        return result
