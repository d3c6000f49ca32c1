"""RoIAlign (Mask R-CNN) as two small matrix products per region, with torchvision's semantics
(`torchvision.ops.roi_align`, aligned=False, a fixed `sampling_ratio`): each sampling point's bilinear
weights, its validity (a point beyond -1 or the map's size reads zero) and the average over a bin's
sampling grid all factor into a row part and a column part, so a region's output is
Wy (ph x Ly) · window (Ly x Lx) · Wxᵀ (Lx x pw) over the window of rows and columns its points touch.

Why: torchvision's CPU backward scatters every sampling point's gradient one at a time on one thread;
it was 13 % of an upsnet-mini step (issue 24). Here autograd's backward is matmuls and one indexed
add. On other devices, with an adaptive sampling ratio, or where the windows would be large (a
paper-scale map on the CPU), torchvision's kernel runs instead."""

from __future__ import annotations

import torch
from torch import Tensor
from torchvision.ops import MultiScaleRoIAlign, roi_align
from torchvision.ops import poolers

MAX_WINDOW_ELEMENTS = 1 << 22  # regions x channels x window (16 MB): above it (a paper-scale map), torchvision's kernel


def axis_weights(start: Tensor, bin_size: Tensor, bins: int, grid: int, size: int) -> tuple[Tensor, Tensor]:
    """(first index (K,), weights (K, bins, L)) along one axis: torchvision's bilinear weights of each
    bin's `grid` sampling points, averaged, over the window [first, first + L) of the axis."""
    steps = (torch.arange(bins, device=start.device)[:, None] + (torch.arange(grid, device=start.device) + 0.5) / grid)
    coords = start[:, None, None] + steps[None] * bin_size[:, None, None]  # (K, bins, grid)
    valid = ((coords >= -1.0) & (coords <= size)).to(start.dtype)
    coords = coords.clamp(min=0)
    low = coords.floor()
    at_end = low >= size - 1
    low = torch.where(at_end, torch.full_like(low, size - 1), low)
    high_weight = torch.where(at_end, torch.zeros_like(coords), coords - low)
    first = low.amin(dim=(1, 2)).long()
    length = int((low.amax(dim=(1, 2)).long() - first).max().item()) + 2 if low.numel() else 1
    offset = (low.long() - first[:, None, None])
    weights = torch.zeros(start.shape[0], bins, length + 1, dtype=start.dtype, device=start.device)
    weights.scatter_add_(2, offset, (1 - high_weight) * valid / grid)
    weights.scatter_add_(2, offset + 1, high_weight * valid / grid)
    return first, weights[..., :length]


def roi_align_matmul(input: Tensor, rois: Tensor, output_size: tuple[int, int], spatial_scale: float,
                     sampling_ratio: int) -> Tensor:
    """`roi_align(input, rois, output_size, spatial_scale, sampling_ratio, aligned=False)` for
    sampling_ratio > 0: (K, C, ph, pw) from input (N, C, H, W) and rois (K, 5) [batch index, x1, y1, x2, y2]."""
    (ph, pw), (_, channels, height, width) = output_size, input.shape
    boxes = rois[:, 1:].to(input.dtype) * spatial_scale
    roi_w = (boxes[:, 2] - boxes[:, 0]).clamp(min=1.0)
    roi_h = (boxes[:, 3] - boxes[:, 1]).clamp(min=1.0)
    y0, wy = axis_weights(boxes[:, 1], roi_h / ph, ph, sampling_ratio, height)
    x0, wx = axis_weights(boxes[:, 0], roi_w / pw, pw, sampling_ratio, width)
    ly, lx = wy.shape[-1], wx.shape[-1]
    if rois.shape[0] * channels * ly * lx > MAX_WINDOW_ELEMENTS:
        return roi_align(input, rois, output_size, spatial_scale, sampling_ratio)
    padded = torch.nn.functional.pad(input, (0, lx, 0, ly))  # windows past the edge read zeros (weight 0)
    rows = (y0[:, None] + torch.arange(ly, device=input.device))[:, :, None]
    cols = (x0[:, None] + torch.arange(lx, device=input.device))[:, None, :]
    windows = padded[rois[:, 0].long()[:, None, None], :, rows, cols]  # (K, Ly, Lx, C)
    columns = torch.einsum("kyxc,kjx->kcyj", windows, wx)  # (K, C, Ly, pw)
    return torch.einsum("kiy,kcyj->kcij", wy, columns)


def fast_roi_align(input: Tensor, rois: Tensor, output_size, spatial_scale: float, sampling_ratio: int) -> Tensor:
    """torchvision's `roi_align` (aligned=False), by matmuls on the CPU where they apply."""
    output_size = tuple(output_size) if isinstance(output_size, (list, tuple)) else (output_size, output_size)
    if input.device.type == "cpu" and sampling_ratio > 0 and rois.shape[0] and input.dtype == torch.float32:
        return roi_align_matmul(input, rois, output_size, spatial_scale, sampling_ratio)
    return roi_align(input, rois, output_size, spatial_scale, sampling_ratio)


class FastMultiScaleRoIAlign(MultiScaleRoIAlign):
    """torchvision's MultiScaleRoIAlign (same levels, scales and outputs; no parameters) with
    `fast_roi_align` per level."""

    def forward(self, x: dict[str, Tensor], boxes: list[Tensor], image_shapes: list[tuple[int, int]]) -> Tensor:
        features = poolers._filter_input(x, self.featmap_names)
        if self.scales is None or self.map_levels is None:
            self.scales, self.map_levels = poolers._setup_scales(features, image_shapes, self.canonical_scale,
                                                                 self.canonical_level)
        rois = poolers._convert_to_roi_format(boxes)
        levels = self.map_levels(boxes) if len(features) > 1 else torch.zeros(len(rois), dtype=torch.int64)
        result = features[0].new_zeros((len(rois), features[0].shape[1], *self.output_size))
        for level, (feature, scale) in enumerate(zip(features, self.scales)):
            index = torch.where(levels == level)[0]
            if index.numel():
                result[index] = fast_roi_align(feature, rois[index], self.output_size, scale,
                                               self.sampling_ratio).to(result.dtype)
        return result


def use_fast_roi_align(roi_heads) -> None:
    """Swap a torchvision RoIHeads' box and mask poolers for FastMultiScaleRoIAlign (same settings)."""
    for name in ("box_roi_pool", "mask_roi_pool"):
        pool = getattr(roi_heads, name, None)
        if isinstance(pool, MultiScaleRoIAlign) and not isinstance(pool, FastMultiScaleRoIAlign):
            setattr(roi_heads, name, FastMultiScaleRoIAlign(pool.featmap_names, pool.output_size, pool.sampling_ratio,
                                                            canonical_scale=pool.canonical_scale,
                                                            canonical_level=pool.canonical_level))
