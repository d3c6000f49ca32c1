"""The RoI pooler's vectorised RoIAlign backward (harness.models.roi_align) against torchvision's own op:
the same output and the same input gradient, bit for bit, on RoIs inside, across and outside the
map, degenerate ones, both `aligned` conventions and several images; the FPN pooler against
torchvision's `MultiScaleRoIAlign`; and the models built with it."""

from __future__ import annotations

from collections import OrderedDict

import pytest
import torch
from torchvision.ops import MultiScaleRoIAlign
from torchvision.ops import roi_align as torchvision_roi_align

from harness.models.roi_align import FastMultiScaleRoIAlign, roi_align

pytestmark = pytest.mark.usefixtures("one_thread")


def random_rois(generator: torch.Generator, n: int, images: int, height: float, width: float) -> torch.Tensor:
    """Boxes in image pixels: most inside, some across the border or wholly outside, a few degenerate."""
    x0 = torch.rand(n, generator=generator) * width * 1.4 - 0.2 * width
    y0 = torch.rand(n, generator=generator) * height * 1.4 - 0.2 * height
    w = torch.rand(n, generator=generator) * width * 0.6
    h = torch.rand(n, generator=generator) * height * 0.6
    w[:3], h[:3] = 0.0, 0.3  # zero-width and sub-pixel boxes
    index = torch.randint(0, images, (n,), generator=generator).float()
    return torch.stack([index, x0, y0, x0 + w, y0 + h], dim=1)


@pytest.mark.parametrize("aligned", [False, True])
@pytest.mark.parametrize("size,scale,grid", [((7, 7), 0.25, 2), ((14, 14), 0.125, 2), ((5, 3), 0.5, 3)])
def test_gradient_is_torchvisions_bit_for_bit(aligned, size, scale, grid):
    g = torch.Generator().manual_seed(hash((aligned, size, grid)) % 2**31)
    features = torch.randn(3, 8, 24, 40, generator=g)
    rois = random_rois(g, 60, 3, 24 / scale, 40 / scale)
    upstream = torch.randn(60, 8, *size, generator=g)
    outputs, grads = [], []
    for op in (torchvision_roi_align, roi_align):
        x = features.clone().requires_grad_(True)
        y = op(x, rois, size, scale, grid, aligned)
        (dx,) = torch.autograd.grad(y, x, upstream)
        outputs.append(y)
        grads.append(dx)
    assert torch.equal(outputs[0], outputs[1])
    assert grads[1].is_contiguous() and grads[0].abs().sum() > 0
    assert torch.equal(grads[0], grads[1])


def test_adaptive_sampling_and_no_rois_take_torchvisions_path():
    x = torch.randn(1, 4, 16, 16, requires_grad=True)
    rois = torch.tensor([[0.0, 1.0, 2.0, 30.0, 20.0]])
    y = roi_align(x, rois, (7, 7), 0.5, 0)  # sampling_ratio 0: torchvision's op itself
    assert y.grad_fn.name() != "_RoIAlignBackward"
    empty = roi_align(x, torch.zeros(0, 5), (7, 7), 0.5, 2)
    (dx,) = torch.autograd.grad(empty.sum(), x, allow_unused=True)
    assert empty.shape == (0, 4, 7, 7) and (dx is None or not dx.any())


def test_fpn_pooler_equals_torchvisions():
    g = torch.Generator().manual_seed(3)
    sizes = [(64, 128), (32, 64), (16, 32), (8, 16)]
    boxes = [random_rois(g, 40, 1, 256, 512)[:, 1:].clamp(min=0) for _ in range(2)]
    for b in boxes:
        b[:, 2:] = torch.maximum(b[:, 2:], b[:, :2] + 1)
    boxes[1][:5] *= 0.1  # small boxes: the finest level
    results = []
    for pooler in (MultiScaleRoIAlign(["0", "1", "2", "3"], 7, 2), FastMultiScaleRoIAlign(["0", "1", "2", "3"], 7, 2)):
        feats = OrderedDict((str(k), torch.randn(2, 6, *s, generator=torch.Generator().manual_seed(k)).requires_grad_(True))
                            for k, s in enumerate(sizes))
        out = pooler(feats, boxes, [(256, 512), (256, 512)])
        grads = torch.autograd.grad(out, list(feats.values()), torch.ones_like(out), allow_unused=True)
        results.append((out, [torch.zeros_like(f) if d is None else d for f, d in zip(feats.values(), grads)]))
    (out_tv, grads_tv), (out, grads) = results
    assert torch.equal(out_tv, out)
    assert all(torch.equal(a, b) for a, b in zip(grads_tv, grads))
    assert sum(bool(d.any()) for d in grads) >= 2  # the boxes reach several levels


def test_models_pool_through_it():
    from harness.models import create_model
    from harness.data.categories import categories_json

    model = create_model("upsnet-mini", categories=categories_json())
    heads = model.detector.roi_heads
    assert isinstance(heads.box_roi_pool, FastMultiScaleRoIAlign)
    assert isinstance(heads.mask_roi_pool, FastMultiScaleRoIAlign)
    assert (heads.box_roi_pool.output_size, heads.mask_roi_pool.output_size) == ((7, 7), (14, 14))
    assert heads.box_roi_pool.sampling_ratio == heads.mask_roi_pool.sampling_ratio == 2
