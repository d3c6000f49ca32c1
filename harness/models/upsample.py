"""Bilinear resizing (`F.interpolate(..., mode="bilinear", align_corners=False)` to a size) as two
matmuls with the per-axis interpolation matrices: out = Wy · x · Wxᵀ, each row of W holding the two
weights PyTorch gives an output pixel.

Why: PyTorch's CPU backward of bilinear upsampling scatters each output's gradient to four inputs on
one thread; on the mini models' maps (P3-P5 to P2, the semantic logits to the image) it was ~5 % of an
upsnet-mini step (issue 24). With matrices autograd's backward is two matmuls. Where the matrices
would cost more than MAX_MACS_PER_OUTPUT multiply-adds per output pixel (large inputs: paper scale),
on other devices and in other dtypes, PyTorch's kernel runs."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

MAX_MACS_PER_OUTPUT = 64


def interpolation_matrix(size_in: int, size_out: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    """(size_out, size_in): PyTorch's bilinear (align_corners=False) weights along one axis."""
    scale = size_in / size_out
    src = ((torch.arange(size_out, device=device, dtype=torch.float64) + 0.5) * scale - 0.5).clamp(min=0)
    low = src.floor().long().clamp(max=size_in - 1)
    high = (low + 1).clamp(max=size_in - 1)
    frac = (src - low).to(dtype)
    matrix = torch.zeros(size_out, size_in, dtype=dtype, device=device)
    rows = torch.arange(size_out, device=device)
    matrix.index_put_((rows, low), 1 - frac, accumulate=True)
    matrix.index_put_((rows, high), frac, accumulate=True)
    return matrix


def resize_bilinear(x: Tensor, size: tuple[int, int]) -> Tensor:
    """(B, C, h, w) -> (B, C, H, W), as F.interpolate(x, size, mode="bilinear", align_corners=False)."""
    (h, w), (out_h, out_w) = x.shape[-2:], tuple(size)
    macs_per_output = w * h / out_h + h
    if x.device.type != "cpu" or x.dtype != torch.float32 or macs_per_output > MAX_MACS_PER_OUTPUT:
        return F.interpolate(x, size=(out_h, out_w), mode="bilinear", align_corners=False)
    wy = interpolation_matrix(h, out_h, x.dtype, x.device)
    wx = interpolation_matrix(w, out_w, x.dtype, x.device)
    return torch.matmul(wy, torch.matmul(x, wx.t()))
