"""Pasting RoI mask logits (N, M, M) into full-image maps (N, H, W) with zeros outside each box.

Bilinear resampling is separable, so each instance's paste is `Wy @ logits @ Wx^T` with two small
interpolation matrices (H x M and W x M): one batched matmul for all instances, differentiable in
the logits (UPSNet's panoptic loss back-propagates through it), no loop over instances or pixels."""

from __future__ import annotations

import torch


def interpolation_matrix(lo: torch.Tensor, hi: torch.Tensor, length: int, cells: int) -> torch.Tensor:
    """(N,) box edges (pixel-edge coordinates) -> (N, length, cells) bilinear weights mapping the
    `cells` mask samples onto pixels `0..length-1`; rows of pixels outside [lo, hi) are zero.
    Mask cell j covers [lo + j·w, lo + (j+1)·w), w = (hi - lo) / cells, as RoIAlign samples it."""
    centers = torch.arange(length, dtype=lo.dtype, device=lo.device) + 0.5
    extent = (hi - lo).clamp(min=1e-6)
    source = ((centers[None] - lo[:, None]) / extent[:, None] * cells - 0.5).clamp(0, cells - 1)
    cell = torch.arange(cells, dtype=lo.dtype, device=lo.device)
    weights = (1 - (source[..., None] - cell).abs()).clamp(min=0)
    inside = (centers[None] >= lo[:, None]) & (centers[None] < hi[:, None])
    return weights * inside[..., None]


def paste_logits(logits: torch.Tensor, boxes: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """logits (N, M, M), boxes (N, 4) xyxy -> (N, height, width), zero outside each box."""
    if logits.shape[0] == 0:
        return logits.new_zeros((0, height, width))
    boxes = boxes.float()  # coordinates in float32 even under AMP: fp16 steps by 2 px above 2048
    wy = interpolation_matrix(boxes[:, 1], boxes[:, 3], height, logits.shape[1]).to(logits.dtype)  # (N, H, M)
    wx = interpolation_matrix(boxes[:, 0], boxes[:, 2], width, logits.shape[2]).to(logits.dtype)  # (N, W, M)
    return wy @ logits @ wx.transpose(1, 2)


def box_masks(boxes: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """(N, 4) xyxy -> (N, height, width) bool: pixel centres inside each box."""
    ys = torch.arange(height, device=boxes.device, dtype=boxes.dtype) + 0.5
    xs = torch.arange(width, device=boxes.device, dtype=boxes.dtype) + 0.5
    in_y = (ys[None] >= boxes[:, 1:2]) & (ys[None] < boxes[:, 3:4])
    in_x = (xs[None] >= boxes[:, 0:1]) & (xs[None] < boxes[:, 2:3])
    return in_y[:, :, None] & in_x[:, None, :]
