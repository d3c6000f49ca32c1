"""RCNNTransform against torchvision's GeneralizedRCNNTransform: the same batch, targets and torch RNG
state after it, whether the resize factor is 1 (skipped) or not (torchvision's resize)."""

import pytest
import torch
from torchvision.models.detection.transform import GeneralizedRCNNTransform

from harness.models.rcnn_transform import RCNNTransform

MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


def batch(h: int, w: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    images = [torch.rand(3, h, w, generator=g) for _ in range(2)]
    targets = []
    for _ in images:
        masks = (torch.rand(4, h, w, generator=g) > 0.7).to(torch.uint8)
        boxes = torch.tensor([[1.0, 2.0, 30.0, 40.0], [5.5, 6.0, 20.0, 25.5], [0.0, 0.0, 10.0, 10.0],
                              [3.0, 3.0, 9.0, 12.0]])
        targets.append({"boxes": boxes, "labels": torch.arange(1, 5), "masks": masks})
    return images, targets


@pytest.mark.parametrize("min_size, max_size, training", [
    ((128,), 256, True),  # factor 1: skipped
    ((64, 96, 128), 256, True),  # a random draw, 1 only when it draws 128
    (128, 256, False),
    (100, 256, True),  # factor 100/128
    (100, 256, False),
])
def test_rcnn_transform_equals_torchvisions(min_size, max_size, training):
    results, states = [], []
    for cls in (GeneralizedRCNNTransform, RCNNTransform):
        transform = cls(min_size, max_size, MEAN, STD).train(training)
        images, targets = batch(128, 256)
        torch.manual_seed(3)
        outs = [transform(images, [dict(t) for t in targets]) for _ in range(4)]  # several draws
        results.append(outs)
        states.append(torch.get_rng_state())
    assert torch.equal(states[0], states[1])  # the same draws from torch's RNG
    for (ref_list, ref_targets), (list_, targets_) in zip(*results):
        assert ref_list.image_sizes == list_.image_sizes
        assert torch.equal(ref_list.tensors, list_.tensors)
        for a, b in zip(ref_targets, targets_):
            assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_factor_one_leaves_the_image_alone():
    transform = RCNNTransform(128, 256, MEAN, STD).train()
    images, targets = batch(128, 256)
    image, target = transform.resize(images[0], dict(targets[0]))
    assert image is images[0] and target["masks"] is targets[0]["masks"]
