"""One trainer, several tasks (ARCHITECTURE.md "One trainer, several tasks"; detectron2's
`SimpleTrainer.run_step`, mmengine's `train_step(data, optim_wrapper)`): the loop in
harness/train/loop.py owns the iterations, exact resume, checkpoints, DDP, AMP and logging; a task
says what is trained and what one step is. Panoptic segmentation (harness/train/tasks/panoptic/task.py)
is one task; GAN synthesis, with a generator and a discriminator stepped in turn, is another.

A task class is built by `from_config(recipe, prepared_data)` (harness/train/tasks/registry.py picks the
class from the model's family) and provides
    modules()                             {name: nn.Module}, built on the CPU after the run is seeded
    optimizers(modules, total, batch)     {name: OptimizerSetup} for `total` iterations at `batch`
                                          images per step (all ranks), e.g. Adam G and Adam D
    train_set()                           a Dataset indexed by (index, epoch) keys (loader.py)
    collate(samples)                      the batch handed to train_step
    train_step(batch, step)               one iteration: forwards under `step.autocast()`, then
                                          `step.optims[name].step(loss)` for each optimizer it steps;
                                          returns the losses to log as floats
    evaluate(modules, out_dir, device, n_samples, progress)   an Evaluation of the trained modules
    sync_batchnorm, find_unused_parameters                    DDP options

The loop steps every scheduler once per iteration after `train_step`, and checkpoints every module,
optimizer, scheduler and GradScaler (one per optimizer) by name."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn
from torch.utils.data import Dataset


@dataclass
class OptimizerSetup:
    """What a task hands the loop for one optimizer."""

    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None
    grad_clip: float | None = None  # max gradient norm of this optimizer's parameters (None: off)


@dataclass
class Evaluation:
    metrics: dict[str, Any]  # metrics.json: flat keys of run_store.METRIC_KEYS + per_class
    samples: list[dict] = field(default_factory=list)  # a few images for W&B
    record: dict[str, Any] = field(default_factory=dict)  # more run.json fields (e.g. a synthesis protocol)

    def record_in(self, run_dir: Path) -> dict[str, Any]:
        """`record` for run.json: files written under the run folder (Paths, or lists of them) as
        POSIX paths relative to it, as the dashboard reads them."""
        def relative(value: Any) -> Any:
            if isinstance(value, Path):
                return value.resolve().relative_to(Path(run_dir).resolve()).as_posix()
            return [relative(v) for v in value] if isinstance(value, list) else value

        return {key: relative(value) for key, value in self.record.items()}


class Optim:
    """One optimizer with its lr scheduler, its own AMP GradScaler and its gradient clipping."""

    def __init__(self, setup: OptimizerSetup, amp: bool):
        self.optimizer, self.scheduler, self.grad_clip = setup.optimizer, setup.scheduler, setup.grad_clip
        self.scaler = torch.amp.GradScaler("cuda", enabled=amp)
        self.base_lr = float(self.optimizer.defaults["lr"])

    @property
    def lr(self) -> float:
        """The lr the next step uses."""
        return float(self.optimizer.param_groups[0]["lr"])

    def parameters(self) -> list[torch.Tensor]:
        return [p for group in self.optimizer.param_groups for p in group["params"]]

    def step(self, loss: torch.Tensor) -> None:
        """zero_grad, backward through the scaler, clip, step: one update of this optimizer."""
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.grad_clip:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.parameters(), self.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()

    def state_dict(self) -> dict[str, Any]:
        return {"optimizer": self.optimizer.state_dict(), "scaler": self.scaler.state_dict(),
                "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.scaler.load_state_dict(state["scaler"])
        if self.scheduler is not None:
            self.scheduler.load_state_dict(state["scheduler"])


@dataclass
class Step:
    """What `train_step` gets: the modules to call (DDP-wrapped under DDP), the optimizers by name."""

    nets: dict[str, nn.Module]
    optims: dict[str, Optim]
    device: torch.device
    iteration: int
    amp: bool

    def autocast(self) -> contextlib.AbstractContextManager:
        """Mixed precision for the forward passes (CUDA only; a no-op on the CPU)."""
        return torch.autocast(device_type=self.device.type, enabled=self.amp)


class Task(Protocol):
    sync_batchnorm: bool  # BatchNorm -> SyncBatchNorm under DDP on CUDA (SPADE's generator)
    find_unused_parameters: bool  # DDP: some parameters get no gradient in some steps

    def modules(self) -> dict[str, nn.Module]: ...

    def optimizers(self, modules: dict[str, nn.Module], total_iterations: int,
                   total_batch: int) -> dict[str, OptimizerSetup]: ...

    def train_set(self) -> Dataset: ...

    def collate(self, samples: list) -> Any: ...

    def train_step(self, batch: Any, step: Step) -> dict[str, float]: ...

    def evaluate(self, modules: dict[str, nn.Module], out_dir: Path, device: torch.device, n_samples: int,
                 progress: bool) -> Evaluation: ...


def to_device(tree: Any, device: torch.device) -> Any:
    """Tensors of nested lists / tuples / dicts moved to `device` (the structure kept)."""
    if isinstance(tree, torch.Tensor):
        return tree.to(device, non_blocking=True)
    if isinstance(tree, dict):
        return {k: to_device(v, device) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(to_device(v, device) for v in tree)
    return tree
