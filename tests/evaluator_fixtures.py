"""Synthetic street scenes as evaluator training batches, a few optimiser steps, and weight files
with the right names and shapes but (almost) no bytes."""

from __future__ import annotations

import numpy as np
import torch

from harness.data.categories import categories_json
from harness.data.panoptic_format import make_segments_info
from harness.data.synth import make_scene
from harness.models.targets import panoptic_to_targets
from harness.seeding import keyed_rng


def scene_batch(n: int, seed: int = 0, height: int = 64, width: int = 128) -> tuple[list[torch.Tensor], list[dict]]:
    """(images (3, H, W) in [0, 1], targets with boxes / labels / semantic) of `n` street scenes."""
    images, targets = [], []
    for i in range(n):
        image, ids, category_of, iscrowd_of = make_scene(keyed_rng(seed, i), height, width)
        target = panoptic_to_targets(ids, make_segments_info(ids, category_of, iscrowd_of), categories_json())
        images.append(torch.from_numpy(image).permute(2, 0, 1).float() / 255.0)
        targets.append({k: target[k] for k in ("boxes", "labels", "semantic")})
    return images, targets


def train_steps(model: torch.nn.Module, images: list[torch.Tensor], targets: list[dict], steps: int,
                batch: int = 4, lr: float = 2e-3, seed: int = 0) -> list[float]:
    """Losses of `steps` AdamW steps over consecutive batches (the model takes a list of images, as
    torchvision's detectors and panbench's segmenters both do)."""
    torch.manual_seed(seed)
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    losses = []
    for step in range(steps):
        picks = [(step * batch + j) % len(images) for j in range(batch)]
        loss = sum(model([images[j] for j in picks], [targets[j] for j in picks]).values())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def falls(losses: list[float], window: int = 5) -> bool:
    return float(np.mean(losses[-window:])) < 0.7 * float(np.mean(losses[:window]))


def constant_state_dict(module: torch.nn.Module, seed: int = 0) -> dict[str, torch.Tensor]:
    """`module`'s state-dict names and shapes, each tensor one random value broadcast (stride 0), so
    a 200 MB architecture saves to a few kilobytes."""
    generator = torch.Generator().manual_seed(seed)
    out = {}
    for name, value in module.state_dict().items():
        fill = torch.rand((), generator=generator) + 0.5 if value.dtype.is_floating_point else torch.zeros(())
        out[name] = fill.to(value.dtype).expand(value.shape)
    return out


EVALUATOR_RECIPE = "synth-evaluators-mini"


def evaluator_overrides(cache, *extra: str) -> list[str]:
    """A tiny evaluator run of `synth-evaluators-mini`: 8 training scenes, 4 validation scenes, 24 iterations."""
    return ["data.synth.count=8", "data.synth.val_count=4", "train.epochs=6", "train.ims_per_gpu=2",
            "train.base_batch=2", "train.log_every=1", "wandb.mode=disabled", f"data.cache={cache}", *extra]


def evaluator_reference(cache, model: str | None = None, *extra: str) -> str:
    """The recipe reference of that run (`eval.segmenter` / `--segmenter` form)."""
    return " ".join([EVALUATOR_RECIPE, *evaluator_overrides(cache, *extra), *([f"model.name={model}"] if model else [])])


def train_tiny_evaluators(root, cache) -> dict[str, str]:
    """Both tiny evaluator runs, trained in this process through run_training; {model: run id}."""
    from harness.train.run import run_training
    from harness.config.run_spec import RunSpec

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: a second thread only spin-waits on a busy machine
    try:
        return {model: run_training(RunSpec.from_recipe(EVALUATOR_RECIPE, evaluator_overrides(cache, f"model.name={model}")),
                                    root, progress=False).run_id
                for model in ("drn-d-mini", "fasterrcnn-mini")}
    finally:
        torch.set_num_threads(threads)
