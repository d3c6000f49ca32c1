"""Deformable convolution (Dai et al., ICCV 2017) with DCNv2's optional modulation mask (Zhu et
al., CVPR 2019), the operation of UPSNet's semantic head, with `torchvision.ops.deform_conv2d`'s
semantics: offsets (B, 2·G·kh·kw, H', W') hold a (dy, dx) pair per offset group G and kernel
position i·kw + j, in that order; kernel tap (i, j) of output (oy, ox) samples the input at
(oy·sh − ph + i·dh + dy, ox·sw − pw + j·dw + dx), bilinearly from the floor corner, a corner
outside the image reading zero; the mask (B, G·kh·kw, H', W') scales each sample; conv `groups`
split the input channels as `nn.Conv2d` does.

Why: torchvision's CPU backward is single-threaded and ~10x slower than this grid_sample + matmul
formulation at the mini model's shapes, ~3x at paper scale (results/bench/deform_conv.json); on
other devices torchvision's kernel is used.

On the CPU the samples come from one `grid_sample` (zero padding) per call, as columns
(B, C, kh·kw, H'·W') — torchvision's im2col columns — and one matmul per conv group makes the
output; autograd gives every gradient. The input is zero-padded at the bottom and right to
power-of-two sizes so that grid_sample's normalised coordinates, ((2x + 1) / W − 1), map back to
exactly x: integer sampling points (all of them while the offsets are zero) keep torchvision's
floor corner, and so its one-sided offset gradient. Peak memory of a forward + backward, in units
of torchvision's columns (measured at 256 -> 128 channels, 64x128): 2.3x without a mask (the saved
columns and their gradient), 4.2x with one (the unmasked samples are kept too); torchvision 1.3x."""

from __future__ import annotations

import torch
import torch.nn.functional as F
import torchvision
from torch import Tensor
from torch.nn.modules.utils import _pair


def _power_of_two(n: int) -> int:
    return 1 << max(n - 1, 0).bit_length()


def output_size(input: Tensor, weight: Tensor, stride: tuple[int, int], padding: tuple[int, int],
                dilation: tuple[int, int]) -> tuple[int, int]:
    (kh, kw), (h, w) = weight.shape[-2:], input.shape[-2:]
    return ((h + 2 * padding[0] - (dilation[0] * (kh - 1) + 1)) // stride[0] + 1,
            (w + 2 * padding[1] - (dilation[1] * (kw - 1) + 1)) // stride[1] + 1)


def _check(input: Tensor, offset: Tensor, weight: Tensor, mask: Tensor | None, stride, padding, dilation
           ) -> tuple[int, int]:
    """(groups, offset groups), with torchvision's shape checks (a RuntimeError naming the tensor)."""
    if any(t is not None and t.dim() != 4 for t in (input, offset, weight, mask)):
        raise RuntimeError("deform_conv2d: input, offset, weight and mask must be 4-D")
    if min(*stride, *dilation, *weight.shape[-2:]) <= 0 or min(padding) < 0:
        raise RuntimeError(f"deform_conv2d: invalid stride {stride}, padding {padding}, dilation {dilation} or "
                           f"kernel {tuple(weight.shape[-2:])}")
    b, c = input.shape[:2]
    o, cg, kh, kw = weight.shape
    if cg == 0 or c % cg or o % (c // cg):
        raise RuntimeError(f"deform_conv2d: weight {tuple(weight.shape)} does not split {c} input channels into groups")
    offset_groups = offset.shape[1] // (2 * kh * kw)
    if offset_groups == 0 or offset.shape[1] != 2 * offset_groups * kh * kw or c % offset_groups:
        raise RuntimeError(f"deform_conv2d: offset.shape[1] = {offset.shape[1]} is not 2 * offset_groups * {kh} * "
                           f"{kw} with offset_groups dividing the {c} input channels")
    out = output_size(input, weight, stride, padding, dilation)
    if min(out) <= 0:
        raise RuntimeError(f"deform_conv2d: output size {out[0]}x{out[1]} is too small")
    if tuple(offset.shape) != (b, offset.shape[1], *out):
        raise RuntimeError(f"deform_conv2d: offset {tuple(offset.shape)} does not match batch {b} and output {out}")
    if mask is not None and tuple(mask.shape) != (b, offset_groups * kh * kw, *out):
        raise RuntimeError(f"deform_conv2d: mask {tuple(mask.shape)} is not {(b, offset_groups * kh * kw, *out)}")
    return c // cg, offset_groups


def sampling_grid(offset: Tensor, kernel: tuple[int, int], stride: tuple[int, int], padding: tuple[int, int],
                  dilation: tuple[int, int], padded_size: tuple[int, int]) -> Tensor:
    """(B·G, kh·kw, H'·W', 2) grid_sample coordinates (x, y), align_corners=False, of every sampling
    point in an input zero-padded to `padded_size` (powers of two: the normalisation is exact)."""
    (kh, kw), (oh, ow) = kernel, offset.shape[-2:]
    opts = dict(device=offset.device, dtype=offset.dtype)
    base_y = ((torch.arange(kh, **opts) * dilation[0]).view(kh, 1, 1, 1)
              + (torch.arange(oh, **opts) * stride[0] - padding[0]).view(1, 1, oh, 1)).expand(kh, kw, oh, ow)
    base_x = ((torch.arange(kw, **opts) * dilation[1]).view(1, kw, 1, 1)
              + (torch.arange(ow, **opts) * stride[1] - padding[1]).view(1, 1, 1, ow)).expand(kh, kw, oh, ow)
    images = offset.shape[0] * offset.shape[1] // (2 * kh * kw)
    pairs = offset.reshape(images, kh * kw, 2, oh * ow)  # (B·G, K, (dy, dx), H'W')
    y = base_y.reshape(kh * kw, oh * ow) + pairs[:, :, 0]
    x = base_x.reshape(kh * kw, oh * ow) + pairs[:, :, 1]
    height, width = padded_size
    return torch.stack([(2 * x + 1) / width - 1, (2 * y + 1) / height - 1], dim=-1)


def deform_conv2d(input: Tensor, offset: Tensor, weight: Tensor, bias: Tensor | None = None,
                  stride: int | tuple[int, int] = 1, padding: int | tuple[int, int] = 0,
                  dilation: int | tuple[int, int] = 1, mask: Tensor | None = None) -> Tensor:
    """`torchvision.ops.deform_conv2d` (same arguments, result and gradients): grid_sample + matmul
    on the CPU, torchvision's kernel elsewhere."""
    stride, padding, dilation = _pair(stride), _pair(padding), _pair(dilation)
    if input.device.type != "cpu":
        return torchvision.ops.deform_conv2d(input, offset, weight, bias, stride=stride, padding=padding,
                                             dilation=dilation, mask=mask)
    groups, offset_groups = _check(input, offset, weight, mask, stride, padding, dilation)
    b, c, h, w = input.shape
    o, cg, kh, kw = weight.shape
    oh, ow = offset.shape[-2:]
    size = (_power_of_two(h), _power_of_two(w))
    padded = F.pad(input, (0, size[1] - w, 0, size[0] - h)).reshape(b * offset_groups, c // offset_groups, *size)
    grid = sampling_grid(offset, (kh, kw), stride, padding, dilation, size)
    samples = F.grid_sample(padded, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    columns = samples.view(b, offset_groups, c // offset_groups, kh * kw, oh * ow)  # (B, G, C/G, K, H'W')
    if mask is not None:
        columns = columns * mask.view(b, offset_groups, 1, kh * kw, oh * ow)
    out = torch.matmul(weight.reshape(groups, o // groups, cg * kh * kw),
                       columns.reshape(b, groups, cg * kh * kw, oh * ow))  # (B, groups, O/groups, H'W')
    out = out.view(b, o, oh, ow)
    return out if bias is None else out + bias.view(1, o, 1, 1)


class DeformConv2d(torchvision.ops.DeformConv2d):
    """torchvision's `DeformConv2d` (same parameters, state dict and CUDA kernel) running
    `deform_conv2d` above."""

    def forward(self, input: Tensor, offset: Tensor, mask: Tensor | None = None) -> Tensor:
        return deform_conv2d(input, offset, self.weight, self.bias, stride=self.stride, padding=self.padding,
                             dilation=self.dilation, mask=mask)
