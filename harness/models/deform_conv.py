"""Deformable convolution (Dai et al., ICCV 2017) with DCNv2's optional modulation mask (Zhu et
al., CVPR 2019), the operation of UPSNet's semantic head, with `torchvision.ops.deform_conv2d`'s
semantics: offsets (B, 2·G·kh·kw, H', W') hold a (dy, dx) pair per offset group G and kernel
position i·kw + j, in that order; kernel tap (i, j) of output (oy, ox) samples the input at
(oy·sh − ph + i·dh + dy, ox·sw − pw + j·dw + dx), bilinearly from the floor corner, a corner
outside the image reading zero; the mask (B, G·kh·kw, H', W') scales each sample; conv `groups`
split the input channels as `nn.Conv2d` does.

Why: torchvision's CPU backward is single-threaded and ~8-11x slower than this sparse sampling + matmul
formulation at the mini model's shapes, ~12x at paper scale on one thread
(results/bench/deform_conv.json); on other devices torchvision's kernel is used.

On the CPU every sampling point (output position major, kernel tap minor) is one row of a sparse
bilinear matrix applied to the input's channels-last rows (harness.models.sparse_sampling), so the
samples come out as torchvision's im2col matrix transposed, (B, G, H'·W', kh·kw·C/G), and one matmul
per offset group against the weight makes the output (a copy into torchvision's column layout only
for conv `groups` > 1). Points are in pixels, so integer points (all of them while the offsets are
zero) keep torchvision's floor corner, and so its one-sided offset gradient. Against the
grid_sample formulation it replaced (same machine, one thread, forward + backward): the mini
semantic head's four levels 32.6 -> 24.8 ms, the paper-scale P4 layer 699 -> 342 ms. Peak memory
of a forward + backward, in units of torchvision's columns (256 -> 128 channels, 64x128): 2.4x
without a mask (the saved samples and their gradient); torchvision 1.3x."""

from __future__ import annotations

import torch
import torchvision
from torch import Tensor
from torch.nn.modules.utils import _pair

from harness.models.sparse_sampling import sample_rows


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


def sampling_points(offset: Tensor, kernel: tuple[int, int], stride: tuple[int, int], padding: tuple[int, int],
                    dilation: tuple[int, int]) -> tuple[Tensor, Tensor]:
    """(y, x), each (B·G, H'·W'·kh·kw) in pixels, of every sampling point: output position major,
    kernel tap minor, so that each output position's samples are one row of the im2col matrix."""
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
    points = oh * ow * kh * kw
    return y.transpose(1, 2).reshape(images, points), x.transpose(1, 2).reshape(images, points)


def deform_conv2d(input: Tensor, offset: Tensor, weight: Tensor, bias: Tensor | None = None,
                  stride: int | tuple[int, int] = 1, padding: int | tuple[int, int] = 0,
                  dilation: int | tuple[int, int] = 1, mask: Tensor | None = None) -> Tensor:
    """`torchvision.ops.deform_conv2d` (same arguments, result and gradients): sparse bilinear
    sampling + matmul on the CPU, torchvision's kernel elsewhere."""
    stride, padding, dilation = _pair(stride), _pair(padding), _pair(dilation)
    if input.device.type != "cpu":
        return torchvision.ops.deform_conv2d(input, offset, weight, bias, stride=stride, padding=padding,
                                             dilation=dilation, mask=mask)
    groups, offset_groups = _check(input, offset, weight, mask, stride, padding, dilation)
    b, c, h, w = input.shape
    o, cg, kh, kw = weight.shape
    oh, ow = offset.shape[-2:]
    g, k, p = offset_groups, kh * kw, oh * ow
    features = input.reshape(b, g, c // g, h * w).transpose(2, 3).reshape(b * g * h * w, c // g)
    y, x = sampling_points(offset, (kh, kw), stride, padding, dilation)
    samples = sample_rows(features, y, x, h, w).view(b, g, p, k, c // g)  # the im2col rows, channels last
    if mask is not None:
        samples = samples * mask.view(b, g, k, p).transpose(2, 3)[..., None]
    if groups == 1:  # each offset group's channels against its slice of the weight: (B, H'W', O), so that
        # the samples' gradient comes out in their own layout (the sampling's backward reads it as is)
        taps = weight.view(o, g, c // g, k).permute(1, 3, 2, 0).reshape(g, k * (c // g), o)
        out = torch.matmul(samples.view(b, g, p, k * (c // g)), taps).sum(1).transpose(1, 2)
    else:  # conv groups across offset groups: torchvision's im2col columns (B, C·K, H'W'), one matmul per group
        columns = samples.permute(0, 1, 4, 3, 2).reshape(b, groups, cg * k, p)
        out = torch.matmul(weight.reshape(groups, o // groups, cg * k), columns)
    out = out.reshape(b, o, oh, ow)
    return out if bias is None else out + bias.view(1, o, 1, 1)


class DeformConv2d(torchvision.ops.DeformConv2d):
    """torchvision's `DeformConv2d` (same parameters, state dict and CUDA kernel) running
    `deform_conv2d` above."""

    def forward(self, input: Tensor, offset: Tensor, mask: Tensor | None = None) -> Tensor:
        return deform_conv2d(input, offset, self.weight, self.bias, stride=self.stride, padding=self.padding,
                             dilation=self.dilation, mask=mask)
