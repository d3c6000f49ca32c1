"""Panoptic-aware convolution and upsampling (Dundar et al., Panoptic-based Image Synthesis, §3.1-3.2).

Written by hand because no library has them: a partial convolution whose masks come from a
panoptic id map (Eq. 1-2), and the 2x upsampling that copies a feature only from a low-resolution
pixel of the same segment (Algorithm 1) and fills the rest from a shared encoder (Eq. 3).

Shapes: features (N, C, H, W); id maps (N, H, W) integer (any ids; only equality matters)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

# Algorithm 1's candidates as (dr, dc) offsets from the parent (r // 2, c // 2), in its order. The
# paper loops `for i in [0, 2W); j in [0, 2H)` and indexes P[i // 2 + 1, j // 2], so its first index
# i runs along the width: its second loop is the right-hand neighbour (0, 1), its third the one
# below (1, 0), its fourth the diagonal (1, 1). Fig. 4's statistics use the same tuple.
UPSAMPLE_CANDIDATES: tuple[tuple[int, int], ...] = ((0, 0), (0, 1), (1, 0), (1, 1))


def _check_ids(x: torch.Tensor, panoptic: torch.Tensor, what: str) -> None:
    if x.dim() != 4 or panoptic.shape != (x.shape[0], *x.shape[2:]):
        raise ValueError(f"{what}: the id map must be (N, H, W) = {(x.shape[0], *x.shape[2:])} to match "
                         f"features {tuple(x.shape)}, got {tuple(panoptic.shape)}")
    if panoptic.dtype.is_floating_point or panoptic.dtype == torch.bool:
        raise ValueError(f"{what}: the id map must hold integer ids, got {panoptic.dtype}")


def _output_size(size: int, kernel_size: int, stride: int, padding: int, dilation: int) -> int:
    return (size + 2 * padding - dilation * (kernel_size - 1) - 1) // stride + 1


def _window(t: torch.Tensor, i: int, j: int, out_hw: tuple[int, int], stride: int, dilation: int) -> torch.Tensor:
    """The view of padded `t` (…, Hp, Wp) seen by kernel offset (i, j) at every output position."""
    h, w = out_hw
    return t[..., i * dilation: i * dilation + stride * (h - 1) + 1: stride,
             j * dilation: j * dilation + stride * (w - 1) + 1: stride]


def _inside(height: int, width: int, kernel_size: int, stride: int, padding: int, dilation: int,
            device: torch.device) -> torch.Tensor:
    """(k*k, H', W') bool: the window position (row-major kernel offset) lies inside the image."""
    ones = torch.ones(1, height, width, dtype=torch.bool, device=device)
    padded = F.pad(ones, (padding,) * 4)
    out_hw = (_output_size(height, kernel_size, stride, padding, dilation),
              _output_size(width, kernel_size, stride, padding, dilation))
    return torch.stack([_window(padded, i, j, out_hw, stride, dilation)[0]
                        for i in range(kernel_size) for j in range(kernel_size)])


def window_masks(panoptic: torch.Tensor, kernel_size: int, stride: int = 1, padding: int = 0,
                 dilation: int = 1) -> torch.Tensor:
    """Eq. 1 for every window: (N, k*k, H', W') bool, True where the window position (row-major
    kernel offset) is inside the image and has the id of the window's centre. A centre outside the
    image (padding > dilation * (k // 2)) matches nothing."""
    if kernel_size % 2 != 1:
        raise ValueError(f"panoptic convolution needs an odd kernel (a window centre), got {kernel_size}")
    n, h, w = panoptic.shape
    out_hw = (_output_size(h, kernel_size, stride, padding, dilation),
              _output_size(w, kernel_size, stride, padding, dilation))
    ids = F.pad(panoptic, (padding,) * 4)
    inside = _inside(h, w, kernel_size, stride, padding, dilation, panoptic.device)
    c = kernel_size // 2
    centre_ids = _window(ids, c, c, out_hw, stride, dilation)
    same = torch.stack([_window(ids, i, j, out_hw, stride, dilation) == centre_ids
                        for i in range(kernel_size) for j in range(kernel_size)], dim=1)
    return same & inside & inside[c * kernel_size + c]


METHODS = ("auto", "sparse", "dense")


def panoptic_conv2d(x: torch.Tensor, panoptic: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
                    stride: int = 1, padding: int = 0, dilation: int = 1, method: str = "auto") -> torch.Tensor:
    """Eq. 2: x' = W^T (X ⊙ M) · k²/sum(M) + b where sum(M) > 0, else 0.

    Two exact evaluations with a convolution's FLOPs, neither unfolding the features:
    - "sparse": the plain convolution (zero padding = positions outside the image count 0), minus
      the contributions of the (window position, centre) pairs whose ids differ, gathered only at
      those pairs, then scaled: W^T(X ⊙ M) = W^T X - sum over mismatched o of W_o^T x(p + o).
      Segment boundaries are a small part of a label map, so this costs ~1.5 convolutions.
    - "dense": one 1x1 convolution per kernel offset o, masked after: m_o is a scalar per (output
      position, offset), so m_o(p) · W_o^T x(p + o) = m_o(p) · (W_o^T x)(p + o).
    "auto" takes "sparse" while the mismatched pairs are at most the output pixels (so its gathered
    features never exceed one more copy of the input), else "dense"."""
    _check_ids(x, panoptic, "panoptic_conv2d")
    if method not in METHODS:
        raise ValueError(f"panoptic_conv2d: method {method!r} is not one of {METHODS}")
    k = weight.shape[-1]
    if weight.shape[-2] != k or weight.shape[1] != x.shape[1]:
        raise ValueError(f"panoptic_conv2d: weight {tuple(weight.shape)} does not fit features {tuple(x.shape)} "
                         "(square kernel, in_channels first)")
    masks = window_masks(panoptic, k, stride, padding, dilation)
    count = masks.sum(dim=1, keepdim=True)
    valid = count > 0
    scale = (k * k) / count.clamp(min=1).to(x.dtype) * valid  # k²/sum(M); 0 in an empty window
    n, _, h, w = x.shape
    mismatched = None
    if method != "dense":  # (k*k, N, H', W'): inside the image, another id than a valid centre
        inside = _inside(h, w, k, stride, padding, dilation, x.device)
        mismatched = (inside.unsqueeze(0) & ~masks & valid).transpose(0, 1)
        if method == "auto" and int(mismatched.sum()) > masks[:, 0].numel():
            method = "dense"
    if method == "dense":
        out = _dense(x, masks.to(x.dtype) * scale, weight, stride, padding, dilation)
    else:
        out = (F.conv2d(x, weight, None, stride, padding, dilation)
               - _mismatched_contributions(x, mismatched, weight, stride, padding, dilation)) * scale
    if bias is not None:
        out = out + bias.view(1, -1, 1, 1) * valid.to(x.dtype)
    return out


def _dense(x: torch.Tensor, weights: torch.Tensor, weight: torch.Tensor, stride: int, padding: int,
           dilation: int) -> torch.Tensor:
    """sum_o weights_o ⊙ (W_o^T x)(p + o). Stride 1 convolves the padded features once per offset
    and shifts the product (a view); larger strides convolve the strided view of the features.
    Autograd keeps the padded features once and the small masks."""
    k = weight.shape[-1]
    out_hw = tuple(weights.shape[-2:])
    padded = F.pad(x, (padding,) * 4)
    per_offset = weight.permute(2, 3, 0, 1).contiguous()  # contiguous 1x1 kernels keep oneDNN's fast path
    out = None
    for o in range(k * k):
        i, j = divmod(o, k)
        w_o = per_offset[i, j, :, :, None, None]
        if stride == 1:
            y = _window(F.conv2d(padded, w_o), i, j, out_hw, 1, dilation)
        else:
            y = F.conv2d(_window(padded, i, j, out_hw, stride, dilation), w_o)
        m_o = weights[:, o:o + 1]
        out = y * m_o if out is None else out.addcmul_(y, m_o)
    return out


def _mismatched_contributions(x: torch.Tensor, mismatched: torch.Tensor, weight: torch.Tensor, stride: int,
                              padding: int, dilation: int) -> torch.Tensor:
    """(N, out, H', W'): sum over the mismatched (offset o, output p) pairs of W_o^T x(p + o), one
    GEMM per offset on the gathered feature rows."""
    n, c_in, h, w = x.shape
    c_out, _, k, _ = weight.shape
    _, _, ho, wo = mismatched.shape
    offset, batch, row, col = mismatched.nonzero(as_tuple=True)  # grouped by offset
    sizes = mismatched.flatten(1).sum(dim=1).tolist()
    src_r = row * stride - padding + torch.div(offset, k, rounding_mode="floor") * dilation
    src_c = col * stride - padding + offset % k * dilation
    rows = x.permute(0, 2, 3, 1).reshape(n * h * w, c_in).index_select(0, (batch * h + src_r) * w + src_c)
    per_offset = weight.permute(2, 3, 0, 1).reshape(k * k, c_out, c_in)
    parts = [r @ per_offset[o].t() for o, r in enumerate(rows.split(sizes)) if sizes[o]]
    total = torch.zeros(n * ho * wo, c_out, dtype=x.dtype, device=x.device)
    if parts:
        total = total.index_put(((batch * ho + row) * wo + col,), torch.cat(parts), accumulate=True)
    return total.view(n, ho, wo, c_out).permute(0, 3, 1, 2)


class PanopticConv2d(nn.Module):
    """Panoptic-aware partial convolution (§3.1, Eq. 1-2): in each window only the pixels of the
    centre's segment contribute, re-weighted by k²/sum(M). `weight` (out, in, k, k) and `bias` (out,)
    are laid out and initialised as nn.Conv2d's, so `torch.nn.utils.spectral_norm(layer)` applies."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, padding: int = 0,
                 bias: bool = True, dilation: int = 1):
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"PanopticConv2d needs an odd kernel_size (a window centre), got {kernel_size}")
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel_size
        self.stride, self.padding, self.dilation = stride, padding, dilation
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """nn.Conv2d's initialisation (Kaiming-uniform weights, fan-in-bounded bias)."""
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_channels * self.kernel_size ** 2)
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor, panoptic: torch.Tensor) -> torch.Tensor:
        """x (N, in, H, W), panoptic (N, H, W) -> (N, out, H', W')."""
        return panoptic_conv2d(x, panoptic, self.weight, self.bias, self.stride, self.padding, self.dilation)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, dilation={self.dilation}, bias={self.bias is not None}")


def _first_matches(panoptic_low: torch.Tensor, panoptic_high: torch.Tensor, values: list[torch.Tensor],
                   default: int) -> torch.Tensor:
    """Algorithm 1's choice in 2x2-block layout: for every high-resolution pixel, `values[k]` of the
    first candidate k inside the low map with the pixel's id, else `default`. `values[k]` broadcasts
    against (N, h, 2, w, 2) (low row, row in block, low column, column in block)."""
    n, h, w = panoptic_low.shape
    if panoptic_high.shape != (n, 2 * h, 2 * w):
        raise ValueError(f"panoptic upsampling is 2x: a low-resolution map {tuple(panoptic_low.shape)} needs a "
                         f"high-resolution map {(n, 2 * h, 2 * w)}, got {tuple(panoptic_high.shape)}")
    blocks = panoptic_high.reshape(n, h, 2, w, 2)
    padded = F.pad(panoptic_low, (0, 1, 0, 1))  # the padding is masked out by `inside`
    inside = F.pad(torch.ones(h, w, dtype=torch.bool, device=panoptic_low.device), (0, 1, 0, 1))
    out = torch.full(blocks.shape, default, dtype=values[0].dtype, device=panoptic_low.device)
    for k in reversed(range(len(UPSAMPLE_CANDIDATES))):  # earlier candidates overwrite later ones
        dr, dc = UPSAMPLE_CANDIDATES[k]
        candidate = padded[:, dr:dr + h, dc:dc + w]
        match = (blocks == candidate[:, :, None, :, None]) & inside[dr:dr + h, None, dc:dc + w, None]
        out = torch.where(match, values[k], out)
    return out.view(n, 2 * h, 2 * w)


def first_matching_candidate(panoptic_low: torch.Tensor, panoptic_high: torch.Tensor) -> torch.Tensor:
    """Algorithm 1's choice for every high-resolution pixel: (N, 2h, 2w) long, the index into
    `UPSAMPLE_CANDIDATES` of the first candidate inside the low-resolution map whose id equals the
    pixel's own, or -1 where none does (a hole)."""
    index = [torch.tensor(k, device=panoptic_low.device) for k in range(len(UPSAMPLE_CANDIDATES))]
    return _first_matches(panoptic_low, panoptic_high, index, -1)


def panoptic_upsample(features: torch.Tensor, panoptic_low: torch.Tensor,
                      panoptic_high: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Upsampling alignment correction (Algorithm 1): (N, C, h, w) -> (upsampled (N, C, 2h, 2w),
    aligned (N, 1, 2h, 2w) in features' dtype, the correction mask M). Each pixel copies the
    feature of its first matching candidate; unmatched pixels are 0. One gather, no pixel loop."""
    _check_ids(features, panoptic_low, "panoptic_upsample")
    n, c, h, w = features.shape
    rows = torch.arange(h, device=features.device).view(h, 1, 1, 1)
    cols = torch.arange(w, device=features.device).view(1, 1, w, 1)
    sources = [(rows + dr) * w + cols + dc for dr, dc in UPSAMPLE_CANDIDATES]  # flat low-resolution index
    source = _first_matches(panoptic_low, panoptic_high, sources, h * w)  # h*w: an appended zero column
    flat = F.pad(features.flatten(2), (0, 1))
    upsampled = flat.gather(2, source.view(n, 1, -1).expand(n, c, -1)).view(n, c, 2 * h, 2 * w)
    return upsampled, (source != h * w).unsqueeze(1).to(features.dtype)


class PanopticUpsample(nn.Module):
    """Panoptic-aware upsampling (§3.2): alignment correction, then hole filling
    F = upsampled + (1 - M) · proj(f(S)), f the generator's shared panoptic-aware encoder of the
    label map at the high resolution (Eq. 3, §3.3) and proj this stage's 1x1 convolution to
    `out_channels` (none where the encoder's width already matches).

    The encoder is passed to `forward`, not owned: one encoder serves every stage. proj(f(S)) is
    computed as one panoptic convolution with the composed weights proj·W_o and bias proj·b (plus
    proj's bias), which is the same linear map (both are per-pixel linear in S with the same masks)
    at (label channels x out_channels) instead of (label channels x 16·ngf) + (16·ngf x out_channels)
    per window position, and never materialises the 16·ngf-channel map at full resolution."""

    def __init__(self, encoder_channels: int, out_channels: int):
        super().__init__()
        self.proj = None if encoder_channels == out_channels else nn.Conv2d(encoder_channels, out_channels, 1)

    def hole_features(self, label: torch.Tensor, panoptic: torch.Tensor, encoder: PanopticConv2d) -> torch.Tensor:
        """proj(f(S)) at the label map's resolution (N, out_channels, H, W)."""
        if self.proj is None:
            return encoder(label, panoptic)
        p = self.proj.weight[:, :, 0, 0]
        weight = torch.einsum("oc,cikl->oikl", p, encoder.weight)
        bias = p @ encoder.bias if encoder.bias is not None else None
        out = panoptic_conv2d(label, panoptic, weight, bias, encoder.stride, encoder.padding, encoder.dilation)
        return out + self.proj.bias.view(1, -1, 1, 1)

    def forward(self, features: torch.Tensor, panoptic_low: torch.Tensor, panoptic_high: torch.Tensor,
                label_high: torch.Tensor, encoder: PanopticConv2d) -> torch.Tensor:
        upsampled, aligned = panoptic_upsample(features, panoptic_low, panoptic_high)
        return upsampled + (1 - aligned) * self.hole_features(label_high, panoptic_high, encoder)
