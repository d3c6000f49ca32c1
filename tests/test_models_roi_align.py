"""RoIAlign by matmuls (harness.models.roi_align) against torchvision's kernel, forward and
backward: regions inside, across and beyond the map's edges, smaller than a cell, at 7x7 and 14x14;
the multi-scale pooler against torchvision's on FPN levels; the fallbacks."""

from __future__ import annotations

from collections import OrderedDict

import pytest
import torch
from torchvision.ops import MultiScaleRoIAlign, roi_align

from harness.models.roi_align import FastMultiScaleRoIAlign, fast_roi_align, roi_align_matmul


def regions(k: int, n: int, height: int, width: int, scale: float, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    size = torch.tensor([width / scale, height / scale])
    corner = torch.rand(k, 2, generator=g) * size * 1.3 - 0.15 * size  # some start outside the map
    extent = torch.rand(k, 2, generator=g) * size * torch.where(torch.rand(k, 1, generator=g) < 0.3, 0.02, 0.7)
    return torch.cat([torch.randint(0, n, (k, 1), generator=g).float(), corner, corner + extent], dim=1)


@pytest.mark.parametrize("shape,k,out,scale", [((2, 8, 32, 64), 90, (7, 7), 0.25),
                                               ((2, 8, 16, 32), 60, (14, 14), 0.125),
                                               ((1, 3, 5, 7), 40, (14, 14), 0.25), ((1, 2, 9, 4), 30, (7, 7), 1.0)])
def test_roi_align_matmul_equals_torchvision_forward_and_backward(shape, k, out, scale):
    x = torch.randn(shape, generator=torch.Generator().manual_seed(1), requires_grad=True)
    rois = regions(k, shape[0], *shape[2:], scale, seed=k)
    ours, theirs = roi_align_matmul(x, rois, out, scale, 2), roi_align(x, rois, out, scale, 2)
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)
    weights = torch.randn_like(theirs)
    grad, = torch.autograd.grad((ours * weights).sum(), x)
    grad_theirs, = torch.autograd.grad((theirs * weights).sum(), x)
    torch.testing.assert_close(grad, grad_theirs, atol=1e-4, rtol=1e-5)


def test_the_multiscale_pooler_equals_torchvisions():
    g = torch.Generator().manual_seed(2)
    features = OrderedDict((str(i), torch.randn(2, 4, 64 >> i, 128 >> i, generator=g)) for i in range(4))
    boxes = [regions(50, 1, 256, 512, 1.0, seed=s)[:, 1:].clamp(min=0) for s in (3, 4)]
    boxes = [torch.cat([b[:, :2], torch.maximum(b[:, 2:], b[:, :2] + 1)], 1) for b in boxes]
    sizes = [(256, 512)] * 2
    for out in (7, 14):
        ours = FastMultiScaleRoIAlign(["0", "1", "2", "3"], out, 2)(features, boxes, sizes)
        theirs = MultiScaleRoIAlign(["0", "1", "2", "3"], out, 2)(features, boxes, sizes)
        # sampling points ~100 cells from the origin: float32 rounds them by ~1e-5 cells, times the map's slope
        torch.testing.assert_close(ours, theirs, atol=1e-4, rtol=1e-5)


def test_adaptive_sampling_and_no_regions_take_torchvisions_kernel():
    x = torch.randn(1, 2, 8, 8)
    rois = torch.tensor([[0.0, 1.0, 1.0, 30.0, 20.0]])
    assert torch.equal(fast_roi_align(x, rois, 7, 0.25, 0), roi_align(x, rois, 7, 0.25, 0))
    assert fast_roi_align(x, rois[:0], 7, 0.25, 2).shape == (0, 2, 7, 7)
