"""The trainer on the real mini UPSNet-style model and synthetic street scenes: the loss falls,
and N steps + stop + resume N steps gives bit-identical weights to 2N steps straight."""

from __future__ import annotations

import pytest
import torch

from harness.data.dataset import PanopticDataset
from harness.data.synth import synthesize_dataset
from harness.models.registry import create_model
from harness.train.distributed import DistContext
from harness.train.loader import PanopticTrainSet
from harness.train.loop import Trainer, TrainSettings

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    root = synthesize_dataset(tmp_path_factory.mktemp("scenes") / "train", 4, seed=0, width=256, height=128,
                              workers=1, progress=False)
    return root, PanopticDataset.load(root).categories


def _trainer(scenes, checkpoint_dir, settings, augment=True, log=None):
    root, categories = scenes
    torch.manual_seed(0)
    model = create_model("upsnet-mini", categories=categories)
    dataset = PanopticTrainSet([root], categories, seed=0, hflip=0.5 if augment else 0.0,
                               scale_jitter=(0.8, 1.2) if augment else (1.0, 1.0))
    return Trainer(model, dataset, settings, DistContext(), checkpoint_dir, log=log, progress=False)


def test_loss_falls_on_a_fixed_batch(scenes, tmp_path):
    settings = TrainSettings(epochs=3, ims_per_gpu=4, base_lr=0.02, base_batch=4, checkpoint_every=0, log_every=1)
    logs = []
    result = _trainer(scenes, tmp_path, settings, augment=False, log=logs.append).fit()
    losses = [r["loss"] for r in logs]
    assert result.iterations == 3 and len(losses) == 3 and [r["step"] for r in logs] == [1, 2, 3]
    assert losses[-1] < 0.9 * losses[0], losses
    assert {"loss_semantic", "loss_mask", "loss_classifier"} <= set(logs[0])


def test_resume_reproduces_the_straight_run(scenes, tmp_path):
    settings = TrainSettings(epochs=1, ims_per_gpu=1, base_lr=0.02, base_batch=1, warmup=0.25, steps=(0.5,),
                             checkpoint_every=1)
    straight = _trainer(scenes, tmp_path / "straight", settings)
    straight.fit()
    first = _trainer(scenes, tmp_path / "resumed", settings)
    first.fit(stop_at=2)
    torch.manual_seed(1234)  # a fresh process would start from another RNG state
    second = _trainer(scenes, tmp_path / "resumed", settings)
    assert second.iteration == 2 and second.scheduler.last_epoch == 2
    second.fit()
    assert second.iteration == straight.iteration == 4
    for (name, a), b in zip(straight.model.state_dict().items(), second.model.state_dict().values()):
        assert torch.equal(a, b), name
