"""The training loop: SGD with the PanDA protocol's scaled iterations and lr (schedule.py),
AMP on CUDA, DDP when launched by torchrun, a checkpoint every N iterations and exact resume
from the last one, step losses to a callback, a rich progress bar on rank 0."""

from __future__ import annotations

import math
import resource
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import torch
from omegaconf import DictConfig
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from harness.errors import ConfigError
from harness.progress import progress_bar
from harness.train.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from harness.train.distributed import DistContext, barrier, gather_objects
from harness.train.loader import PanopticTrainSet, ResumableBatchSampler, collate
from harness.train.schedule import LrSchedule, scaled_lr, total_iterations


@dataclass(frozen=True)
class TrainSettings:
    """Plain arguments of the loop; `from_config` maps a recipe's `train:` section onto them."""

    epochs: float
    ims_per_gpu: int = 1
    base_lr: float = 0.02
    base_batch: int = 16
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 1e-4
    schedule: str = "step"
    steps: Sequence[float] = (0.75,)
    gamma: float = 0.1
    power: float = 0.9
    warmup: float = 0.0
    warmup_factor: float = 1.0 / 3.0
    amp: bool = True
    grad_clip: float | None = None
    max_iters: int | None = None
    checkpoint_every: int = 500
    log_every: int = 10
    eval_every: int = 0
    seed: int = 0
    workers: int = 0

    @classmethod
    def from_config(cls, cfg: DictConfig) -> "TrainSettings":
        t = cfg.train
        return cls(epochs=float(t.epochs), ims_per_gpu=int(t.ims_per_gpu), base_lr=float(t.base_lr),
                   base_batch=int(t.base_batch), momentum=float(t.momentum), nesterov=bool(t.nesterov),
                   weight_decay=float(t.weight_decay), schedule=str(t.schedule), steps=tuple(t.steps),
                   gamma=float(t.gamma), power=float(t.power), warmup=float(t.warmup),
                   warmup_factor=float(t.warmup_factor), amp=bool(t.amp),
                   grad_clip=None if t.grad_clip is None else float(t.grad_clip),
                   max_iters=None if t.max_iters is None else int(t.max_iters),
                   checkpoint_every=int(t.checkpoint_every), log_every=int(t.log_every),
                   eval_every=int(cfg.eval.every), seed=int(cfg.seed), workers=int(cfg.data.workers))

    def iterations(self, n_train: int, world_size: int) -> int:
        total = total_iterations(self.epochs, n_train, self.ims_per_gpu * world_size)
        return min(total, self.max_iters) if self.max_iters else total

    def lr(self, world_size: int) -> float:
        return scaled_lr(self.base_lr, self.ims_per_gpu * world_size, self.base_batch)


@dataclass
class TrainResult:
    iterations: int
    start_iteration: int
    lr: float
    last_losses: dict[str, float] = field(default_factory=dict)
    seconds_per_iter: float = math.nan  # wall clock
    cpu_seconds_per_iter: float = math.nan  # CPU time of this process (all its threads)
    peak_rss_mb: float = math.nan


def peak_rss_mb() -> float:
    """Peak resident memory of this process (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _to_device(images: list[torch.Tensor], targets: list[dict], device: torch.device):
    return ([im.to(device, non_blocking=True) for im in images],
            [{k: v.to(device, non_blocking=True) for k, v in t.items()} for t in targets])


def _progress(enabled: bool) -> Progress:
    return progress_bar(TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("loss {task.fields[loss]:.4f}"), TextColumn("{task.fields[s_it]:.2f} s/it"),
                        TimeRemainingColumn(), disable=not enabled)


class Trainer:
    """Trains `model` on `dataset` under `settings`; the checkpoint lives in `checkpoint_dir`."""

    def __init__(self, model: torch.nn.Module, dataset: PanopticTrainSet, settings: TrainSettings, ctx: DistContext,
                 checkpoint_dir: Path, log: Callable[[dict], None] | None = None,
                 evaluate: Callable[[int], None] | None = None, progress: bool = True):
        self.model = model.to(ctx.device)
        self.dataset, self.settings, self.ctx = dataset, settings, ctx
        self.checkpoint_dir = Path(checkpoint_dir)
        self.log_fn, self.evaluate_fn, self.progress = log, evaluate, progress and ctx.is_main
        self.total = settings.iterations(len(dataset), ctx.world_size)
        self.lr = settings.lr(ctx.world_size)
        self.amp = settings.amp and ctx.device.type == "cuda"
        self.net = (DistributedDataParallel(self.model, device_ids=[ctx.device.index] if ctx.device.type == "cuda" else None,
                                            find_unused_parameters=True) if ctx.distributed else self.model)
        params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.SGD(params, lr=self.lr, momentum=settings.momentum, nesterov=settings.nesterov,
                                         weight_decay=settings.weight_decay)
        self.schedule = LrSchedule(self.total, settings.warmup, settings.warmup_factor, settings.schedule,
                                   settings.steps, settings.gamma, settings.power)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, self.schedule)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        self.iteration = self._resume()

    def _resume(self) -> int:
        # on the CPU: RNG states must stay CPU tensors; load_state_dict moves the rest to the model's device
        state = load_checkpoint(self.checkpoint_dir)
        if state is None:
            return 0
        data = state["data"]
        if data["n"] != len(self.dataset) or data["seed"] != self.settings.seed:
            raise ConfigError(f"{self.checkpoint_dir}: checkpoint was made for {data['n']} images / seed "
                              f"{data['seed']}, this run has {len(self.dataset)} / {self.settings.seed}")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        rngs = state["rng"]
        set_rng_state(rngs[self.ctx.rank] if self.ctx.rank < len(rngs) else rngs[0])
        return int(state["iteration"])

    def save(self, sampler: ResumableBatchSampler, iteration: int) -> None:
        """Every rank contributes its RNG state; rank 0 writes."""
        rngs = gather_objects(self.ctx, rng_state())
        if self.ctx.is_main:
            save_checkpoint(self.checkpoint_dir, {
                "iteration": iteration, "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(), "scaler": self.scaler.state_dict(),
                "data": sampler.state(iteration), "rng": rngs, "total": self.total, "lr": self.lr})
        barrier(self.ctx)

    def step(self, images: list[torch.Tensor], targets: list[dict]) -> dict[str, float]:
        images, targets = _to_device(images, targets, self.ctx.device)
        with torch.autocast(device_type=self.ctx.device.type, enabled=self.amp):
            losses = self.net(images, targets)
        loss = sum(losses.values())
        if not torch.isfinite(loss):
            raise FloatingPointError(f"loss is {loss.item()} at iteration {self.iteration} "
                                     f"({ {k: float(v) for k, v in losses.items()} })")
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.settings.grad_clip:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.settings.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        return {"loss": float(loss.detach()), **{k: float(v.detach()) for k, v in losses.items()}}

    def fit(self, stop_at: int | None = None) -> TrainResult:
        """Train up to iteration `stop_at` (default: the end), checkpointing on the way and at the stop."""
        s, start = self.settings, self.iteration
        end = self.total if stop_at is None else min(stop_at, self.total)
        sampler = ResumableBatchSampler(len(self.dataset), s.ims_per_gpu, self.ctx.world_size, self.ctx.rank, s.seed,
                                        start, end)
        # own generator: creating the loader's iterator must not draw from the global RNG (exact resume)
        loader = DataLoader(self.dataset, batch_sampler=sampler, num_workers=s.workers, collate_fn=collate,
                            generator=torch.Generator().manual_seed(s.seed))
        self.net.train()
        result = TrainResult(iterations=self.total, start_iteration=start, lr=self.lr)
        t0, cpu0 = time.perf_counter(), time.process_time()
        with _progress(self.progress) as bar:
            task = bar.add_task("train", total=self.total, completed=start, loss=math.nan, s_it=math.nan)
            for images, targets in loader:
                t_step = time.perf_counter()
                lr = self.optimizer.param_groups[0]["lr"]  # the lr this step uses
                losses = self.step(images, targets)
                self.iteration += 1
                it = self.iteration
                s_it = time.perf_counter() - t_step
                bar.update(task, advance=1, loss=losses["loss"], s_it=s_it)
                result.last_losses = losses
                if self.log_fn and self.ctx.is_main and (it % max(1, s.log_every) == 0 or it == end):
                    self.log_fn({"step": it, "epoch": it * s.ims_per_gpu * self.ctx.world_size / len(self.dataset),
                                 "lr": lr, "s_per_it": round(s_it, 4), **losses})
                if s.checkpoint_every and it % s.checkpoint_every == 0 and it < end:
                    self.save(sampler, it)
                if self.evaluate_fn and s.eval_every and it % s.eval_every == 0 and it < self.total:
                    self.evaluate_fn(it)
                    self.net.train()
        done = self.iteration - start
        result.seconds_per_iter = (time.perf_counter() - t0) / done if done else math.nan
        result.cpu_seconds_per_iter = (time.process_time() - cpu0) / done if done else math.nan
        result.peak_rss_mb = peak_rss_mb()
        if done:
            self.save(sampler, self.iteration)
        return result
