"""Bilinear resizing by interpolation matrices (harness.models.upsample) against F.interpolate
(bilinear, align_corners=False), forward and backward, up, down and unchanged sizes; the fallback."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from harness.models.upsample import MAX_MACS_PER_OUTPUT, resize_bilinear


@pytest.mark.parametrize("shape,size", [((2, 19, 32, 64), (128, 256)), ((2, 8, 16, 32), (32, 64)),
                                        ((2, 8, 4, 8), (32, 64)), ((1, 3, 5, 7), (13, 29)), ((1, 2, 9, 4), (9, 4)),
                                        ((1, 1, 7, 3), (5, 2))])
def test_resize_bilinear_equals_interpolate(shape, size):
    x = torch.randn(shape, generator=torch.Generator().manual_seed(0), requires_grad=True)
    ours, theirs = resize_bilinear(x, size), F.interpolate(x, size=size, mode="bilinear", align_corners=False)
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)
    weights = torch.randn_like(theirs)
    grad, = torch.autograd.grad((ours * weights).sum(), x)
    grad_theirs, = torch.autograd.grad((theirs * weights).sum(), x)
    torch.testing.assert_close(grad, grad_theirs, atol=1e-4, rtol=1e-5)


def test_large_inputs_take_pytorchs_kernel():
    x = torch.randn(1, 1, 2 * MAX_MACS_PER_OUTPUT, 8)
    assert torch.equal(resize_bilinear(x, (4 * MAX_MACS_PER_OUTPUT, 16)),
                       F.interpolate(x, size=(4 * MAX_MACS_PER_OUTPUT, 16), mode="bilinear", align_corners=False))
