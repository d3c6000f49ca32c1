"""torchvision's FPN RoI pooler with a vectorised CPU backward of its RoIAlign.

torchvision's CPU `_roi_align_backward` is a scalar loop that recomputes each sample's bilinear
weights once per channel, and the pooler calls RoIAlign (and its backward) on every FPN level, empty
or not. Here the weights are computed once per (RoI, bin, sample) with torch ops, every channel's
gradient is scattered by one `index_add_`, and empty levels are skipped. The additions reach each input
element in torchvision's order (RoI, bin row, bin column, sample row, sample column, corner), so the
gradient is torchvision's bit for bit (tests/test_models_roi_align.py): pinned losses and bit-exact
resume are unchanged. Measured: the upsnet-mini and sss-mini CPU steps about 7 % faster than with
torchvision's pooler (interleaved in one process, one thread). The forward is torchvision's op; CUDA tensors, other dtypes and an
adaptive sampling grid (`sampling_ratio <= 0`) use torchvision's op both ways."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torchvision.ops import MultiScaleRoIAlign
from torchvision.ops import roi_align as torchvision_roi_align
from torchvision.ops.poolers import _convert_to_roi_format, _filter_input, _setup_scales


def _sample_points(rois: Tensor, size: tuple[int, int], scale: float, grid: int, aligned: bool,
                   height: int, width: int) -> tuple[Tensor, Tensor, Tensor]:
    """(input index within the image plane, bilinear weight, inside the map) of each (RoI, bin row, bin
    column, sample row, sample column, corner), with torchvision's float32 arithmetic."""
    dtype = rois.dtype
    offset = torch.tensor(0.5 if aligned else 0.0, dtype=dtype)
    scaled = rois[:, 1:] * torch.tensor(scale, dtype=dtype) - offset
    start_w, start_h = scaled[:, 0], scaled[:, 1]
    roi_w, roi_h = scaled[:, 2] - start_w, scaled[:, 3] - start_h
    if not aligned:  # malformed RoIs count as 1x1
        roi_w, roi_h = roi_w.clamp(min=1.0), roi_h.clamp(min=1.0)
    frac = torch.arange(grid, dtype=dtype) + 0.5

    def positions(start: Tensor, extent: Tensor, bins: int) -> Tensor:  # (R, bins, grid)
        bin_size = (extent / bins)[:, None, None]
        return (start[:, None, None] + torch.arange(bins, dtype=dtype)[None, :, None] * bin_size) + \
            (frac * bin_size) / grid

    y, x = torch.broadcast_tensors(positions(start_h, roi_h, size[0])[:, :, None, :, None],
                                   positions(start_w, roi_w, size[1])[:, None, :, None, :])
    inside = ~((y < -1.0) | (y > height) | (x < -1.0) | (x > width))

    def corners(v: Tensor, extent: int) -> tuple[Tensor, Tensor, Tensor]:  # low, high, fraction
        v = v.clamp(min=0.0)
        low = v.to(torch.int64)
        edge = low >= extent - 1
        low = torch.where(edge, extent - 1, low)
        return low, torch.where(edge, low, low + 1), torch.where(edge, low.to(dtype), v) - low.to(dtype)

    y_low, y_high, ly = corners(y, height)
    x_low, x_high, lx = corners(x, width)
    hy, hx = 1.0 - ly, 1.0 - lx
    weights = torch.stack([hy * hx, hy * lx, ly * hx, ly * lx], dim=-1)
    index = torch.stack([y_low * width + x_low, y_low * width + x_high,
                         y_high * width + x_low, y_high * width + x_high], dim=-1)
    return index, weights, inside[..., None].expand_as(index)


def roi_align_backward(grad: Tensor, rois: Tensor, input_shape: torch.Size, size: tuple[int, int], scale: float,
                       grid: int, aligned: bool) -> Tensor:
    """The gradient of RoIAlign (`grid` x `grid` samples per bin) with respect to its (N, C, H, W) input."""
    batch, channels, height, width = input_shape
    plane = batch * height * width
    out = grad.new_zeros(channels, plane + 1)  # the last column takes the samples outside the map
    if grad.numel():
        index, weights, inside = _sample_points(rois, size, scale, grid, aligned, height, width)
        index = index + (rois[:, 0].to(torch.int64) * (height * width))[:, None, None, None, None, None]
        index = torch.where(inside, index, plane).reshape(-1)
        values = grad.new_empty((channels, *weights.shape))
        torch.mul(grad.permute(1, 0, 2, 3)[:, :, :, :, None, None, None], weights, out=values)
        values.div_(float(grid * grid))  # torchvision: grad * w / count, rounded twice
        out.index_add_(1, index, values.view(channels, -1))
    return out[:, :plane].view(channels, batch, height, width).permute(1, 0, 2, 3).contiguous()


class _RoIAlign(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, input: Tensor, rois: Tensor, scale: float, size: tuple[int, int], grid: int,
                aligned: bool) -> Tensor:
        ctx.save_for_backward(rois)
        ctx.shape, ctx.config = input.shape, (size, scale, grid, aligned)
        return torch.ops.torchvision.roi_align(input, rois, scale, size[0], size[1], grid, aligned)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        (rois,) = ctx.saved_tensors
        size, scale, grid, aligned = ctx.config
        return roi_align_backward(grad, rois, ctx.shape, size, scale, grid, aligned), None, None, None, None, None


def roi_align(input: Tensor, rois: Tensor, output_size: tuple[int, int], spatial_scale: float,
              sampling_ratio: int, aligned: bool = False) -> Tensor:
    """`torchvision.ops.roi_align` of (K, 5) `rois`, with the vectorised backward where it applies."""
    if input.device.type != "cpu" or input.dtype != torch.float32 or sampling_ratio <= 0:
        return torchvision_roi_align(input, rois, output_size, spatial_scale, sampling_ratio, aligned)
    return _RoIAlign.apply(input, rois.to(input.dtype), float(spatial_scale), tuple(output_size),
                           int(sampling_ratio), aligned)


class FastMultiScaleRoIAlign(MultiScaleRoIAlign):
    """`torchvision.ops.MultiScaleRoIAlign` (same levels, scales and output) pooling through `roi_align`."""

    def forward(self, x: dict[str, Tensor], boxes: list[Tensor], image_shapes: list[tuple[int, int]]) -> Tensor:
        features = _filter_input(x, self.featmap_names)
        if self.scales is None or self.map_levels is None:
            self.scales, self.map_levels = _setup_scales(features, image_shapes, self.canonical_scale,
                                                         self.canonical_level)
        rois = _convert_to_roi_format(boxes)
        if len(features) == 1:
            return roi_align(features[0], rois, self.output_size, self.scales[0], self.sampling_ratio)
        levels = self.map_levels(boxes)
        result = features[0].new_zeros((len(rois), features[0].shape[1], *self.output_size))
        for level, (feature, scale) in enumerate(zip(features, self.scales)):
            in_level = torch.where(levels == level)[0]
            if len(in_level):  # an empty level adds nothing to the output or to the gradient
                result[in_level] = roi_align(feature, rois[in_level], self.output_size, scale,
                                             self.sampling_ratio).to(result.dtype)
        return result


def fpn_poolers(featmap_names: tuple[str, ...] = ("0", "1", "2", "3")) -> dict[str, FastMultiScaleRoIAlign]:
    """The box (7x7) and mask (14x14) poolers torchvision's Mask R-CNN builds by default, sampling 2."""
    return {"box_roi_pool": FastMultiScaleRoIAlign(list(featmap_names), 7, 2),
            "mask_roi_pool": FastMultiScaleRoIAlign(list(featmap_names), 14, 2)}
