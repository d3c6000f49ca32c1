"""Pasting RoI mask logits (N, M, M) into image-sized maps (N, H, W) with zeros outside each box.

Bilinear resampling is separable, so each instance's paste is `Wy @ logits @ Wx^T` with two small
interpolation matrices (H x M and W x M): one batched matmul for all instances, differentiable in
the logits (UPSNet's panoptic loss back-propagates through it), no loop over instances or pixels.

Geometry is the inverse of the mask targets torchvision trains on (`roi_align(..., aligned=False)`):
pixel i sits at coordinate i and mask cell j at x0 + (j + 1/2)(x1 - x0)/M. A coarser output grid of
stride s (UPSNet's panoptic loss at the semantic head's stride 4) samples at s·k + (s - 1)/2, the
centre of the s x s pixels it covers."""

from __future__ import annotations

import torch


def grid_positions(length: int, stride: int, device: torch.device) -> torch.Tensor:
    """Image coordinates of the `length` cells of an output grid with the given stride."""
    return torch.arange(length, dtype=torch.float32, device=device) * stride + (stride - 1) / 2


def interpolation_matrix(lo: torch.Tensor, hi: torch.Tensor, length: int, cells: int, stride: int = 1) -> torch.Tensor:
    """(N,) box extents -> (N, length, cells) bilinear weights mapping the `cells` mask samples onto
    the output grid; rows of grid cells outside [lo, hi) are zero."""
    positions = grid_positions(length, stride, lo.device)
    extent = (hi - lo).clamp(min=1e-6)
    source = ((positions[None] - lo[:, None]) / extent[:, None] * cells - 0.5).clamp(0, cells - 1)
    cell = torch.arange(cells, dtype=torch.float32, device=lo.device)
    weights = (1 - (source[..., None] - cell).abs()).clamp(min=0)
    inside = (positions[None] >= lo[:, None]) & (positions[None] < hi[:, None])
    return weights * inside[..., None]


def paste_logits(logits: torch.Tensor, boxes: torch.Tensor, height: int, width: int, stride: int = 1) -> torch.Tensor:
    """logits (N, M, M), boxes (N, 4) xyxy in image pixels -> (N, height, width) on the stride-`stride`
    grid, zero outside each box."""
    if logits.shape[0] == 0:
        return logits.new_zeros((0, height, width))
    boxes = boxes.float()  # coordinates in float32 even under AMP: fp16 steps by 2 px above 2048
    wy = interpolation_matrix(boxes[:, 1], boxes[:, 3], height, logits.shape[1], stride).to(logits.dtype)  # (N, H, M)
    wx = interpolation_matrix(boxes[:, 0], boxes[:, 2], width, logits.shape[2], stride).to(logits.dtype)  # (N, W, M)
    return wy @ logits @ wx.transpose(1, 2)


def box_masks(boxes: torch.Tensor, height: int, width: int, stride: int = 1) -> torch.Tensor:
    """(N, 4) xyxy in image pixels -> (N, height, width) bool: grid cells inside each box, with the
    same geometry as `paste_logits`."""
    ys = grid_positions(height, stride, boxes.device)
    xs = grid_positions(width, stride, boxes.device)
    boxes = boxes.float()
    in_y = (ys[None] >= boxes[:, 1:2]) & (ys[None] < boxes[:, 3:4])
    in_x = (xs[None] >= boxes[:, 0:1]) & (xs[None] < boxes[:, 2:3])
    return in_y[:, :, None] & in_x[:, None, :]
