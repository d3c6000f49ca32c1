"""GAN image synthesis as a task of the one training loop (harness/train/task.py): SPADE or the
panoptic-aware SPADE (synthesis paper Fig. 5) from the model registry, trained as NVlabs/SPADE's
`Pix2PixTrainer` does: per iteration one generator step (`run_generator_one_step`: hinge GAN loss,
discriminator feature matching, VGG when its weights are given), then one discriminator step
(`run_discriminator_one_step`: the generator runs without gradient). Adam with TTUR (β1 = 0,
lr 1e-4 for G and 4e-4 for D), constant or linearly decayed to 0 over the last part of the run
(SPADE's `niter_decay`), from the recipe's `gan:` section. The evaluation
(harness/train/tasks/synthesis/evaluate.py) generates the validation set and scores it.

DDP: the whole SynthesisGAN is ONE module (its `forward(batch, mode)` dispatches to the G losses, the
D losses or inference, so DDP hooks every call), with two optimisers over its generator's and its
discriminator's parameters. The D step uses no generator parameter, hence
`find_unused_parameters = True`; the G step also leaves gradients on D, which the D optimiser clears
before its backward (Optim.step zeroes its own parameters first), as SPADE does. Wrapping G and D
separately would put the loss code here instead of in the model. The generator's BatchNorm (SPADE's
parameter-free norm) becomes SyncBatchNorm under DDP on CUDA (`sync_batchnorm`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch
from torch import nn

from harness.seeding import RUN_ID
from harness.config.paths import DEFAULT_RUNS_ROOT
from harness.config.recipe_schema import GanConfig, GanRecipe
from harness.errors import ConfigError
from harness.metrics.synthesis import Resolver
from harness.train.checkpoint import LAST, load_checkpoint
from harness.train.data_sources import PreparedData
from harness.train.task import Evaluation, OptimizerSetup, Step, to_device
from harness.train.tasks.synthesis.data import LabelSource, SynthesisSet, collate
from harness.train.tasks.synthesis.evaluate import EvaluatorSettings, evaluate_generator

GAN = "gan"  # the one module
INIT_OPTIONS = {"init_generator": "generator", "init_discriminator": "discriminator"}  # a weights file or a run id
GENERATOR, DISCRIMINATOR = "generator", "discriminator"  # its two optimisers


@dataclass(frozen=True)
class LinearDecay:
    """Factor on both lrs at iteration `it`: 1, then linearly to 0 over the last `fraction` of the
    `total` iterations (SPADE: `niter` epochs constant, `niter_decay` epochs of linear decay; Cityscapes
    100 + 100, so fraction 0.5). fraction 0: constant (COCO-Stuff)."""

    total: int
    fraction: float

    @property
    def decay_iters(self) -> int:
        return int(round(self.fraction * self.total))

    def __call__(self, it: int) -> float:
        if self.decay_iters == 0:
            return 1.0
        return max(0.0, min(1.0, (self.total - it) / self.decay_iters))


@dataclass(frozen=True)
class GanSettings:
    """The recipe's `gan:` section: Adam's lrs and betas (no scaling with the batch: neither paper
    scales them), the decay fraction, and SPADE's load size for its random crop."""

    lr_generator: float
    lr_discriminator: float
    beta1: float
    beta2: float
    decay: float
    load_size: tuple[int, int] | None = None

    @classmethod
    def from_config(cls, gan: GanConfig) -> "GanSettings":
        return cls(gan.lr_generator, gan.lr_discriminator, gan.beta1, gan.beta2, gan.decay,
                   tuple(gan.load_size) if gan.load_size else None)


def run_part(runs_root: str | Path, run_id: str, part: str, key: str) -> tuple[dict[str, torch.Tensor], Path]:
    """(the `part.` entries of run `run_id`'s checkpoint, the checkpoint file): what
    `model.options.<key>=RUN_ID` starts from; a run without a checkpoint is a ConfigError."""
    folder = Path(runs_root) / run_id / "checkpoints"
    checkpoint = load_checkpoint(folder)
    if checkpoint is None:
        raise ConfigError(f"{folder}: model.options.{key}={run_id} names a run without a checkpoint")
    prefix = f"{part}."
    state = checkpoint["modules"].get(GAN, {})
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}, folder / LAST


class GanSynthesisTask:
    """Train a synthesis model of the registry on COCO-panoptic folders and score its images of the
    validation folder."""

    find_unused_parameters = True  # the discriminator step uses no generator parameter

    def __init__(self, *, model_name: str, model_options: dict[str, Any], train_roots: Sequence[str | Path],
                 val_root: str | Path, seed: int, gan: GanSettings, hflip: float = 0.5, ims_per_gpu: int = 1,
                 val_max: int | None = None, evaluators: EvaluatorSettings = EvaluatorSettings(), amp: bool = False,
                 sync_batchnorm: bool = True, resolve_run: Resolver | None = None,
                 runs_root: str | Path = DEFAULT_RUNS_ROOT):
        from harness.models.registry import model_arguments, model_family

        if model_family(model_name) != "synthesis":
            raise ConfigError(f"model {model_name!r} is not a synthesis model")
        self.model_name, self.model_options = model_name, dict(model_options)
        self.runs_root = Path(runs_root)
        self.init_runs = {key: str(self.model_options.pop(key)) for key in INIT_OPTIONS  # read in modules()
                          if isinstance(self.model_options.get(key), str) and RUN_ID.match(self.model_options[key])}
        for key, rid in self.init_runs.items():  # before any data is prepared or anything trains
            if load_checkpoint(self.runs_root / rid / "checkpoints") is None:
                raise ConfigError(f"{self.runs_root / rid / 'checkpoints'}: model.options.{key}={rid} names a run "
                                  "without a checkpoint")
        self.train_roots, self.val_root = list(train_roots), Path(val_root)
        self.seed, self.gan, self.hflip, self.ims_per_gpu, self.val_max = seed, gan, hflip, ims_per_gpu, val_max
        self.evaluators, self.amp, self.sync_batchnorm = evaluators, amp, sync_batchnorm
        self.labels = LabelSource.of([*self.train_roots, self.val_root])
        arguments = model_arguments(model_name, **self.model_options)
        self.image_size = tuple(arguments["image_size"])
        self.dontcare_label = bool(arguments["dontcare_label"])
        self.resolve_run = evaluators.resolved_now(resolve_run)

    @classmethod
    def from_config(cls, recipe: GanRecipe, prepared: PreparedData, weights: Mapping[str, str] | None = None,
                    runs_root: str | Path = DEFAULT_RUNS_ROOT) -> "GanSynthesisTask":
        """`weights`: the evaluators' files by recipe key (`eval.segmenter`, ...), resolved from the
        recipe's run ids or references before the run (harness/train/tasks/evaluator/runs.resolved_weights)."""
        t, e, w = recipe.train, recipe.eval, dict(weights or {})
        return cls(model_name=recipe.model.name, model_options=recipe.model.options, train_roots=prepared.train_roots,
                   val_root=prepared.val_root, seed=recipe.seed, gan=GanSettings.from_config(recipe.gan),
                   hflip=t.hflip, ims_per_gpu=t.ims_per_gpu, val_max=recipe.data.val_max,
                   evaluators=EvaluatorSettings(w.get("eval.segmenter", e.segmenter), w.get("eval.detector", e.detector),
                                                e.fid_weights, e.protocol), amp=t.amp, runs_root=runs_root)

    def modules(self) -> dict[str, nn.Module]:
        from harness.models.registry import create_model

        from harness.models.synthesis.spade_weights import load_part

        gan = create_model(self.model_name, **self.labels.model_arguments(), **self.model_options)
        for key, rid in self.init_runs.items():
            part = INIT_OPTIONS[key]
            load_part(getattr(gan, part), *run_part(self.runs_root, rid, part, key), part)
        return {GAN: gan}

    def optimizers(self, modules: dict[str, nn.Module], total_iterations: int,
                   total_batch: int) -> dict[str, OptimizerSetup]:
        gan, schedule = modules[GAN], LinearDecay(total_iterations, self.gan.decay)
        betas = (self.gan.beta1, self.gan.beta2)
        setups = {}
        for name, net, lr in ((GENERATOR, gan.generator, self.gan.lr_generator),
                              (DISCRIMINATOR, gan.discriminator, self.gan.lr_discriminator)):
            optimizer = torch.optim.Adam(net.parameters(), lr=lr, betas=betas)
            setups[name] = OptimizerSetup(optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, schedule))
        return setups

    def train_set(self) -> SynthesisSet:
        return SynthesisSet(self.train_roots, self.labels, self.image_size, seed=self.seed, hflip=self.hflip,
                            load_size=self.gan.load_size, dontcare_label=self.dontcare_label)

    def val_set(self) -> SynthesisSet:
        return SynthesisSet([self.val_root], self.labels, self.image_size, seed=self.seed, hflip=0.0,
                            dontcare_label=self.dontcare_label)

    collate = staticmethod(collate)

    def train_step(self, batch: dict[str, torch.Tensor], step: Step) -> dict[str, float]:
        """G then D, as SPADE's trainer; the losses as logged (`train/*` in W&B): G's total and its
        terms (hinge `g_gan`, `feature_matching`, `vgg`, each λ-weighted), D's total and its terms."""
        batch = to_device(batch, step.device)
        gan = step.nets[GAN]
        with step.autocast():
            g_losses = gan(batch, "generator")
        loss_g = sum(g_losses.values())
        step.optims[GENERATOR].step(loss_g)
        with step.autocast():
            d_losses = gan(batch, "discriminator")
        loss_d = sum(d_losses.values())
        step.optims[DISCRIMINATOR].step(loss_d)
        terms = {("g_gan" if k == "gan" else k): v for k, v in {**g_losses, **d_losses}.items()}
        return {"loss_g": float(loss_g.detach()), "loss_d": float(loss_d.detach()),
                **{k: float(v.detach()) for k, v in terms.items()}}

    def evaluate(self, modules: dict[str, nn.Module], out_dir: Path, device: torch.device, n_samples: int,
                 progress: bool) -> Evaluation:
        gan = modules[GAN]
        evaluation = evaluate_generator(gan, self.val_set(), Path(out_dir), device, val_max=self.val_max,
                                        batch_size=self.ims_per_gpu, n_samples=n_samples, amp=self.amp,
                                        evaluators=self.evaluators, resolve_run=self.resolve_run, progress=progress)
        evaluation.record.update(vgg_loss_enabled=gan.vgg_loss_enabled, beta2=self.gan.beta2,
                                 label_input={**self.labels.describe(), "dontcare_label": self.dontcare_label})
        return evaluation
