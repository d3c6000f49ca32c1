"""Panoptic segmentation as a task of the one training loop (harness/train/task.py): one model from
the registry (UPSNet- or SSS-style), SGD under the PanDA protocol (Sec. 4.1: lr scaled with the total
batch, warmup then steps, schedule.py), the summed loss dict of the model as one step, and the PQ /
mIoU / AP evaluation of harness/train/tasks/panoptic/evaluate.py."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn

from harness.config.recipe_schema import OptimConfig, SgdRecipe
from harness.panda.augment import OnlineAugment
from harness.panda.online import OnlinePanda
from harness.train.data_sources import PreparedData, online_panda
from harness.train.schedule import LrSchedule, scaled_lr
from harness.train.task import Evaluation, OptimizerSetup, Step, to_device


@dataclass(frozen=True)
class SgdSettings:
    """The original models' optimiser (UPSNet, seamseg): SGD with momentum, the lr scaled linearly with
    the total batch, linear warmup, then steps (or poly); values from the recipe's `optim:` section."""

    base_lr: float
    base_batch: int
    momentum: float
    nesterov: bool
    weight_decay: float
    grad_clip: float | None
    schedule: str
    steps: tuple[float, ...]
    gamma: float
    power: float
    warmup: float
    warmup_factor: float

    @classmethod
    def from_config(cls, optim: OptimConfig) -> "SgdSettings":
        return cls(base_lr=optim.base_lr, base_batch=optim.base_batch, momentum=optim.momentum,
                   nesterov=optim.nesterov, weight_decay=optim.weight_decay, grad_clip=optim.grad_clip,
                   schedule=optim.schedule, steps=tuple(optim.steps), gamma=optim.gamma, power=optim.power,
                   warmup=optim.warmup, warmup_factor=optim.warmup_factor)

    def lr(self, total_batch: int) -> float:
        return scaled_lr(self.base_lr, total_batch, self.base_batch)

    def lr_schedule(self, total: int) -> LrSchedule:
        return LrSchedule(total, self.warmup, self.warmup_factor, self.schedule, self.steps, self.gamma, self.power)


class PanopticTask:
    """Train a registry model on COCO-panoptic folders (the subset first, then its PanDA sets) and
    evaluate it on a validation folder."""

    find_unused_parameters = True  # heads without a loss in some steps (e.g. no thing in the batch)

    def __init__(self, *, model_name: str, model_options: dict[str, Any], categories: list[dict],
                 train_roots: Sequence[str | Path], seed: int, sgd: SgdSettings, hflip: float,
                 scale_jitter: Sequence[float], val_root: str | Path | None = None, val_max: int | None = None,
                 amp: bool = False, sync_batchnorm: bool = False, gt_cache: str | Path | None = None,
                 online: OnlinePanda | OnlineAugment | None = None):
        self.model_name, self.model_options = model_name, dict(model_options)
        self.categories, self.train_roots, self.seed, self.sgd = categories, list(train_roots), seed, sgd
        self.hflip, self.scale_jitter = hflip, tuple(scale_jitter)
        self.val_root, self.val_max, self.amp = val_root, val_max, amp
        self.sync_batchnorm = sync_batchnorm
        self.gt_cache = gt_cache  # the evaluation's ground-truth cache: the recipe's data.cache
        self.online = online  # PanDA drawn per sample in the data loader (data.panda: online)

    @classmethod
    def from_config(cls, recipe: SgdRecipe, prepared: PreparedData) -> "PanopticTask":
        t = recipe.train
        return cls(model_name=recipe.model.name, model_options=recipe.model.options, categories=prepared.categories,
                   train_roots=prepared.train_roots, seed=recipe.seed, sgd=SgdSettings.from_config(recipe.optim),
                   hflip=t.hflip, scale_jitter=t.scale_jitter, val_root=prepared.val_root, val_max=recipe.data.val_max,
                   amp=t.amp,
                   gt_cache=recipe.data.cache, online=online_panda(recipe))

    def modules(self) -> dict[str, nn.Module]:
        from harness.models.registry import create_model

        return {"model": create_model(self.model_name, categories=self.categories, **self.model_options)}

    def optimizers(self, modules: dict[str, nn.Module], total_iterations: int,
                   total_batch: int) -> dict[str, OptimizerSetup]:
        params = [p for p in modules["model"].parameters() if p.requires_grad]
        optimizer = torch.optim.SGD(params, lr=self.sgd.lr(total_batch), momentum=self.sgd.momentum,
                                    nesterov=self.sgd.nesterov, weight_decay=self.sgd.weight_decay)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, self.sgd.lr_schedule(total_iterations))
        return {"model": OptimizerSetup(optimizer, scheduler, self.sgd.grad_clip)}

    def train_set(self):
        from harness.train.loader import PanopticTrainSet

        return PanopticTrainSet(self.train_roots, self.categories, seed=self.seed, hflip=self.hflip,
                                scale_jitter=self.scale_jitter, online=self.online)

    @staticmethod
    def collate(samples: list) -> tuple[list[torch.Tensor], list[dict]]:
        images, targets = zip(*samples)
        return list(images), list(targets)

    def train_step(self, batch: tuple[list[torch.Tensor], list[dict]], step: Step) -> dict[str, float]:
        images, targets = to_device(batch, step.device)
        with step.autocast():
            losses = step.nets["model"](images, targets)
        loss = sum(losses.values())
        step.optims["model"].step(loss)
        return {"loss": float(loss.detach()), **{k: float(v.detach()) for k, v in losses.items()}}

    def evaluate(self, modules: dict[str, nn.Module], out_dir: Path, device: torch.device, n_samples: int,
                 progress: bool) -> Evaluation:
        from harness.train.tasks.panoptic.evaluate import evaluate_model

        return evaluate_model(modules["model"], self.val_root, out_dir, device, self.val_max, n_samples,
                              self.amp, progress, cache_dir=self.gt_cache)
