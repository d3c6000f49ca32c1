"""The trainer on the real mini UPSNet-style model and synthetic street scenes: the loss falls,
and N steps + stop + resume N steps gives bit-identical weights to 2N steps straight."""

from __future__ import annotations

import pytest
import torch

from harness.config.recipes import load_recipe, select_cell, typed_recipe
from harness.data.dataset import PanopticDataset
from harness.data.synth import synthesize_dataset
from harness.train.distributed import DistContext
from harness.train.loop import Trainer, TrainSettings
from harness.train.tasks.panoptic.task import PanopticTask, SgdSettings

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    root = synthesize_dataset(tmp_path_factory.mktemp("scenes") / "train", 4, seed=0, width=256, height=128,
                              workers=1, progress=False)
    return root, PanopticDataset.load(root).categories


def settings(*overrides):
    """The loop's and the optimiser's settings as a recipe gives them (recipes/base.yaml + overrides)."""
    recipe = typed_recipe(select_cell(load_recipe("base", ["seed=0", "data.workers=0", *overrides])))
    return TrainSettings.from_config(recipe), SgdSettings.from_config(recipe.optim)


def _trainer(scenes, checkpoint_dir, settings, augment=True, log=None):
    root, categories = scenes
    loop, sgd = settings
    torch.manual_seed(0)
    task = PanopticTask(model_name="upsnet-mini", model_options={}, categories=categories, train_roots=[root],
                        seed=0, sgd=sgd, hflip=0.5 if augment else 0.0,
                        scale_jitter=(0.8, 1.2) if augment else (1.0, 1.0))
    return Trainer(task, loop, DistContext(), checkpoint_dir, log=log, progress=False)


def test_loss_falls_on_a_fixed_batch(scenes, tmp_path):
    loop = settings("train.epochs=3", "train.ims_per_gpu=4", "train.base_lr=0.02", "train.base_batch=4",
                    "train.checkpoint_every=0", "train.log_every=1", "train.warmup=0.0")
    logs = []
    result = _trainer(scenes, tmp_path, loop, augment=False, log=logs.append).fit()
    losses = [r["loss"] for r in logs]
    assert result.iterations == 3 and len(losses) == 3 and [r["step"] for r in logs] == [1, 2, 3]
    assert losses[-1] < 0.9 * losses[0], losses
    assert {"loss_semantic", "loss_mask", "loss_classifier"} <= set(logs[0])


def test_resume_reproduces_the_straight_run(scenes, tmp_path):
    loop = settings("train.epochs=1", "train.ims_per_gpu=1", "train.base_lr=0.02", "train.base_batch=1",
                    "train.warmup=0.25", "train.steps=[0.5]", "train.checkpoint_every=1")
    straight = _trainer(scenes, tmp_path / "straight", loop)
    straight.fit()
    first = _trainer(scenes, tmp_path / "resumed", loop)
    first.fit(stop_at=2)
    torch.manual_seed(1234)  # a fresh process would start from another RNG state
    second = _trainer(scenes, tmp_path / "resumed", loop)
    assert second.iteration == 2 and second.optims["model"].scheduler.last_epoch == 2
    second.fit()
    assert second.iteration == straight.iteration == 4
    for (name, a), b in zip(straight.modules["model"].state_dict().items(), second.modules["model"].state_dict().values()):
        assert torch.equal(a, b), name
