"""The PanDA protocol (Sec. 4.1): iterations keep epochs constant, lr scales with the total batch.
Reference values: UPSNet's Cityscapes configs (4 GPUs: 48k iterations at lr 0.005; 16 GPUs:
12k iterations at lr 0.02; both 1 image per GPU)."""

from __future__ import annotations

import pytest

from harness.config.recipes import load_recipe, select_cell, typed_recipe
from harness.train.loop import TrainSettings
from harness.train.schedule import LrSchedule, scaled_lr, total_iterations
from harness.train.tasks.panoptic.task import SgdSettings

UPSNET_EPOCHS = 48000 * 4 / 2975


def test_upsnet_cityscapes_configs_follow_the_rule():
    assert total_iterations(UPSNET_EPOCHS, 2975, 4) == 48000
    assert total_iterations(UPSNET_EPOCHS, 2975, 16) == 12000
    assert scaled_lr(0.02, 4, 16) == pytest.approx(0.005)
    assert scaled_lr(0.02, 8, 16) == pytest.approx(0.01)  # the paper's 8 GPUs


def _recipe(*overrides):
    return typed_recipe(select_cell(load_recipe("base", list(overrides))))


def test_iterations_scale_with_training_images_panda_included():
    recipe = _recipe("train.epochs=10", "train.ims_per_gpu=2")  # base.yaml: base_lr 0.02 per 16 images
    settings = TrainSettings.from_config(recipe)
    assert settings.iterations(10, world_size=1) == 50
    assert settings.iterations(20, world_size=1) == 100  # PanDA 1x doubles the images -> the iterations
    assert settings.iterations(20, world_size=2) == 50  # two processes: twice the batch, half the steps
    assert SgdSettings.from_config(recipe.optim).lr(total_batch=2 * 2) == pytest.approx(0.02 * 4 / 16)
    capped = TrainSettings.from_config(_recipe("train.epochs=10", "train.ims_per_gpu=2", "train.max_iters=7"))
    assert capped.iterations(20, 1) == 7
    assert total_iterations(0.1, 3, 8) == 1  # never zero


def test_settings_take_every_value_from_the_recipe():
    """No second set of defaults: what base.yaml says is what the loop and the optimiser use."""
    recipe = _recipe()
    sgd = SgdSettings.from_config(recipe.optim)
    assert (sgd.warmup, sgd.warmup_factor, sgd.steps, sgd.weight_decay) == (0.03125, 0.3333333, (0.75,), 0.0001)
    assert TrainSettings.from_config(recipe).epochs == 64.54
    with pytest.raises(TypeError):
        TrainSettings(epochs=10, ims_per_gpu=2)  # no defaults of its own


def test_warmup_then_steps():
    s = LrSchedule(total=100, warmup=0.1, warmup_factor=0.25, kind="step", steps=(0.5, 0.75), gamma=0.1, power=0.9)
    assert s(0) == pytest.approx(0.25)
    assert s(5) == pytest.approx(0.25 * 0.5 + 0.5)  # halfway through the linear warmup
    assert s(10) == 1.0 and s(49) == 1.0
    assert s(50) == pytest.approx(0.1) and s(75) == pytest.approx(0.01)


def test_poly():
    s = LrSchedule(total=100, warmup=0.0, warmup_factor=1.0, kind="poly", steps=(), gamma=0.1, power=0.9)
    assert s(0) == 1.0 and s(50) == pytest.approx(0.5 ** 0.9) and s(100) == 0.0
    with pytest.raises(ValueError):
        LrSchedule(total=10, warmup=0.0, warmup_factor=1.0, kind="cosine", steps=(), gamma=0.1, power=0.9)
