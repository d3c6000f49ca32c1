"""Bilinear sampling of feature rows as a sparse matrix product: the sampling step of panbench's CPU
deformable convolution (harness.models.deform_conv).

Each sampling point reads its four floor/ceil corners, so sampling a (images·H·W, C) feature matrix
at n points is S @ features with S an (n, images·H·W) CSR matrix of 4 bilinear weights per row (a
corner outside the map weighs 0, the zero padding of torchvision's deformable convolution and of
`grid_sample`). The backward needs no scatter: the features' gradient is Sᵀ @ grad, Sᵀ built by one
stable radix sort of the corners' rows, and the points' gradient is the weights' slopes times the
dot products <grad of the point, corner features>, one sampled dense-dense product (SDDMM) on S's
pattern. Why: `grid_sample`'s CPU backward scatters every channel of every corner with scalar
adds. The whole deformable convolution at upsnet-mini's P2 shape (2 images, 32 -> 32 channels, 32x64,
3x3 taps), forward + backward on one thread: 22.0 -> 14.4 ms (torch 2.14.1's sparse CSR kernels).

Positions are in pixels (row y, column x), so integer points keep the floor corner exactly as
torchvision's kernel does; float32 and float64 both run, CPU only."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

RADIX_ROWS = 1 << 16  # up to this many feature rows the transpose sorts 16-bit keys (numpy's radix sort)


def _csr(rows: Tensor, columns: Tensor, values: Tensor, size: tuple[int, int]) -> Tensor:
    """A CSR matrix of trusted parts (no invariant check). torch flags the layout beta with a one-off
    UserWarning; the products used here (CSR @ dense, sampled_addmm) are what it was built for."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")
        return torch.sparse_csr_tensor(rows, columns, values, size, check_invariants=False)


def _corners(y: Tensor, x: Tensor, height: int, width: int) -> tuple[Tensor, Tensor, tuple[Tensor, ...]]:
    """(images, m) points -> (images, m, 4) int32 feature rows of their corners (image·H·W + row·W +
    column; a row inside the map where the corner is outside), their weights, and the per-axis parts
    the backward's slopes are made of."""
    images = y.shape[0]
    y_low, x_low = y.floor(), x.floor()
    y_frac, x_frac = y - y_low, x - x_low
    yi, xi = y_low.to(torch.int32), x_low.to(torch.int32)
    in_y0 = ((yi >= 0) & (yi < height)).to(y.dtype)
    in_y1 = ((yi >= -1) & (yi < height - 1)).to(y.dtype)
    in_x0 = ((xi >= 0) & (xi < width)).to(y.dtype)
    in_x1 = ((xi >= -1) & (xi < width - 1)).to(y.dtype)
    hy, ly = (1 - y_frac) * in_y0, y_frac * in_y1  # weights of the top and bottom corners, 0 outside
    hx, lx = (1 - x_frac) * in_x0, x_frac * in_x1
    base = (torch.arange(images, dtype=torch.int32) * (height * width)).view(images, 1)
    row0 = yi.clamp(0, height - 1) * width + base
    row1 = (yi + 1).clamp_(0, height - 1) * width + base
    col0, col1 = xi.clamp(0, width - 1), (xi + 1).clamp_(0, width - 1)
    index = torch.empty((*y.shape, 4), dtype=torch.int32)
    weights = torch.empty((*y.shape, 4), dtype=y.dtype)
    for k, (row, col, wy, wx) in enumerate(((row0, col0, hy, hx), (row0, col1, hy, lx),
                                            (row1, col0, ly, hx), (row1, col1, ly, lx))):
        torch.add(row, col, out=index[..., k])
        torch.mul(wy, wx, out=weights[..., k])
    return index, weights, (hy, ly, hx, lx, in_y0, in_y1, in_x0, in_x1)


def _transpose_order(flat: Tensor, rows: int) -> Tensor:
    """Stable order of the corner entries by feature row: Sᵀ's CSR column order."""
    if rows <= RADIX_ROWS:
        return torch.from_numpy(np.argsort(flat.numpy().astype(np.uint16), kind="stable"))
    return torch.argsort(flat, stable=True)


class BilinearRows(torch.autograd.Function):
    """(images·H·W, C) features sampled at (images, m) points (y, x) -> (images·m, C)."""

    @staticmethod
    def forward(ctx: Any, features: Tensor, y: Tensor, x: Tensor, height: int, width: int) -> Tensor:
        index, weights, parts = _corners(y, x, height, width)
        n = index.numel() // 4
        starts = torch.arange(0, 4 * n + 1, 4, dtype=torch.int32)
        matrix = _csr(starts, index.view(-1), weights.view(-1), (n, features.shape[0]))
        ctx.save_for_backward(features, starts, index, weights, *parts)
        return matrix @ features

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        features, starts, index, weights, hy, ly, hx, lx, in_y0, in_y1, in_x0, in_x1 = ctx.saved_tensors
        n, rows = grad.shape[0], features.shape[0]
        grad = grad.contiguous()
        flat = index.view(-1)
        grad_features = grad_y = grad_x = None
        if ctx.needs_input_grad[0]:
            order = _transpose_order(flat, rows)
            row_starts = torch.zeros(rows + 1, dtype=torch.int32)
            torch.cumsum(torch.bincount(flat, minlength=rows), 0, out=row_starts[1:])
            values = torch.from_numpy(weights.view(-1).numpy()[order.numpy()])
            grad_features = _csr(row_starts, (order >> 2).to(torch.int32), values, (rows, n)) @ grad
        if ctx.needs_input_grad[1] or ctx.needs_input_grad[2]:
            pattern = _csr(starts, flat, torch.ones(4 * n, dtype=grad.dtype), (n, rows))
            dots = torch.sparse.sampled_addmm(pattern, grad, features.t(), beta=0.0).values().view(index.shape)
            d00, d01, d10, d11 = dots.unbind(-1)  # <grad, corner features> per corner
            top, bottom = hx * d00 + lx * d01, hx * d10 + lx * d11
            left, right = hy * d00 + ly * d10, hy * d01 + ly * d11
            grad_y = in_y1 * bottom - in_y0 * top  # d weight / dy: -hx, -lx (top), +hx, +lx (bottom)
            grad_x = in_x1 * right - in_x0 * left
        return grad_features, grad_y, grad_x, None, None


def sample_rows(features: Tensor, y: Tensor, x: Tensor, height: int, width: int) -> Tensor:
    """Bilinear samples (images·m, C) of `features` (images·H·W, C: each image's map, row-major) at
    the (images, m) points (y, x) in pixels; corners outside the map read zero."""
    return BilinearRows.apply(features, y, x, height, width)
