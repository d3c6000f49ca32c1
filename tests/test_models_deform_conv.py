"""panbench's CPU deformable convolution against `torchvision.ops.deform_conv2d` (the reference):
forward and the five gradients in float64, with random, out-of-image and integer offsets."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch.nn.modules.utils import _pair

from harness.models.deform_conv import DeformConv2d, deform_conv2d
from harness.models.semantic_heads import DeformableSemanticHead

# name: (batch, channels, height, width, out channels, kernel, stride, padding, dilation, groups, offset groups)
CONFIGS = {
    "3x3": (2, 4, 7, 9, 5, (3, 3), 1, 1, 1, 1, 1),
    "strided-dilated": (2, 4, 11, 10, 6, (3, 3), 2, (1, 2), (2, 1), 1, 1),
    "groups": (1, 8, 6, 5, 6, (3, 2), 1, (1, 0), 1, 2, 4),
    "1x1-no-padding": (3, 3, 5, 6, 2, (1, 1), 1, 0, 1, 1, 3),
    "power-of-two-map": (2, 4, 8, 16, 4, (3, 3), 1, 1, 1, 1, 2),
}


def random_call(config: tuple, offsets: str, with_mask: bool, seed: int = 0) -> dict:
    b, c, h, w, o, (kh, kw), stride, padding, dilation, groups, offset_groups = config
    gen = torch.Generator().manual_seed(seed)
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)
    oh, ow = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1, (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    # |offset| up to ~10 px: many sampling points fall outside the image
    offset = 3 * torch.randn(b, 2 * offset_groups * kh * kw, oh, ow, generator=gen, dtype=torch.float64)
    if offsets == "integer":  # sampling points exactly on the grid, many of them outside the image
        offset = offset.round()
    elif offsets == "zero":  # UPSNet's initialisation: a plain convolution
        offset.zero_()
    elif offsets == "edges":  # exactly on -1, 0, H-1, H (and the same for x): the zero-padding borders
        y = torch.tensor([-1.0, 0.0, h - 1.0, float(h), -0.5, h - 0.5], dtype=torch.float64)
        x = torch.tensor([-1.0, 0.0, w - 1.0, float(w), -0.5, w - 0.5], dtype=torch.float64)
        pick = torch.randint(0, 6, offset.shape, generator=gen)
        oy = torch.arange(oh).view(-1, 1) * sh - ph
        ox = torch.arange(ow).view(1, -1) * sw - pw
        ky = (torch.arange(kh).repeat_interleave(kw) * dh).repeat(offset_groups).view(-1, 1, 1)
        kx = (torch.arange(kw).repeat(kh) * dw).repeat(offset_groups).view(-1, 1, 1)
        offset[:, 0::2] = y[pick[:, 0::2]] - (oy + ky)  # dy: lands on the chosen row
        offset[:, 1::2] = x[pick[:, 1::2]] - (ox + kx)
    tensors = {
        "input": torch.randn(b, c, h, w, generator=gen, dtype=torch.float64),
        "offset": offset,
        "weight": torch.randn(o, c // groups, kh, kw, generator=gen, dtype=torch.float64),
        "bias": torch.randn(o, generator=gen, dtype=torch.float64),
    }
    if with_mask:
        tensors["mask"] = torch.rand(b, offset_groups * kh * kw, oh, ow, generator=gen, dtype=torch.float64)
    for t in tensors.values():
        t.requires_grad_(True)
    return {**tensors, "stride": _pair(stride), "padding": _pair(padding), "dilation": _pair(dilation)}


def forward_and_gradients(fn, call: dict) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    out = fn(**call)
    grad_out = torch.randn(out.shape, generator=torch.Generator().manual_seed(1), dtype=out.dtype)
    names = [k for k in ("input", "offset", "weight", "bias", "mask") if k in call]
    grads = torch.autograd.grad(out, [call[k] for k in names], grad_out)
    return out, dict(zip(names, grads))


@pytest.mark.parametrize("with_mask", [False, True], ids=["dcnv1", "dcnv2-mask"])
@pytest.mark.parametrize("offsets", ["random", "integer", "zero", "edges"])
@pytest.mark.parametrize("config", list(CONFIGS))
def test_equal_to_torchvision_forward_and_backward(config, offsets, with_mask):
    call = random_call(CONFIGS[config], offsets, with_mask)
    ref_out, ref_grads = forward_and_gradients(torchvision.ops.deform_conv2d, call)
    out, grads = forward_and_gradients(deform_conv2d, call)
    torch.testing.assert_close(out, ref_out, atol=1e-10, rtol=0)
    assert set(grads) == set(ref_grads)
    for name, ref in ref_grads.items():
        torch.testing.assert_close(grads[name], ref, atol=1e-10, rtol=0, msg=f"gradient of {name}")
    assert ref_grads["offset"].abs().max() > 0.1  # the offsets' gradient is exercised, not all zero


def test_module_keeps_torchvisions_parameters_and_state_dict():
    ours, ref = DeformConv2d(4, 6, 3, padding=1, bias=True), torchvision.ops.DeformConv2d(4, 6, 3, padding=1)
    ref.load_state_dict(ours.state_dict())
    x, offset = torch.randn(2, 4, 9, 7), torch.randn(2, 18, 9, 7)
    torch.testing.assert_close(ours(x, offset), ref(x, offset), atol=1e-5, rtol=1e-5)


def test_semantic_head_matches_torchvisions_convolution_in_float64():
    head = DeformableSemanticHead(in_channels=8, num_classes=5, hidden_channels=8, num_layers=2).double()
    for block in head.subnet:  # random offsets, so the deformation matters
        torch.nn.init.normal_(block.offset.weight, std=0.5)
    features = [torch.randn(1, 8, 16 // 2 ** i, 24 // 2 ** i, dtype=torch.float64) for i in range(4)]
    ours = head(features)
    for block in head.subnet:
        tv = torchvision.ops.DeformConv2d(8, 8, 3, padding=1, bias=False).double()
        tv.load_state_dict(block.conv.state_dict())
        block.conv = tv
    torch.testing.assert_close(ours, head(features), atol=1e-10, rtol=0)


def test_float32_batch_of_zero_and_bad_offsets():
    x, w = torch.randn(0, 4, 5, 5), torch.randn(3, 4, 3, 3)
    assert deform_conv2d(x, torch.zeros(0, 18, 5, 5), w, padding=1).shape == (0, 3, 5, 5)
    with pytest.raises(RuntimeError, match="offset.shape\\[1\\] = 17"):
        deform_conv2d(torch.randn(1, 4, 5, 5), torch.zeros(1, 17, 5, 5), w, padding=1)
    with pytest.raises(RuntimeError, match="mask"):
        deform_conv2d(torch.randn(1, 4, 5, 5), torch.zeros(1, 18, 5, 5), w, padding=1, mask=torch.ones(1, 8, 5, 5))
