"""The two semantic heads on FPN levels P2..P5, both returning (B, C, H/4, W/4) class logits:

- `DeformableSemanticHead`, UPSNet's (Xiong et al., CVPR 2019, semantic head): a subnet of
  deformable 3x3 convolutions shared across levels, each level upsampled to P2 and concatenated,
  a 1x1 classifier.
- `MiniDeepLabSemanticHead`, Seamless Scene Segmentation's (Porzi et al., CVPR 2019): one
  "mini-DeepLab" per level (3x3 conv, 3x3 atrous conv, and a windowed average-pooling branch, like
  ASPP), upsampled to P2, concatenated, a 1x1 classifier."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from harness.models.backbones import group_norm
from harness.models.deform_conv import DeformConv2d
from harness.models.upsample import resize_bilinear


class DeformableConvBlock(nn.Module):
    """3x3 deformable conv whose 2*3*3 offsets come from a plain 3x3 conv initialised to zero (so it
    starts as a regular conv, as UPSNet's DeformConvWithOffset), then GroupNorm and ReLU. The conv is
    torchvision's on CUDA and panbench's sparse-sampling formulation on the CPU (deform_conv.py)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.offset = nn.Conv2d(in_channels, 2 * 3 * 3, 3, padding=1)
        nn.init.zeros_(self.offset.weight)
        nn.init.zeros_(self.offset.bias)
        self.conv = DeformConv2d(in_channels, out_channels, 3, padding=1, bias=False)
        self.norm = group_norm(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.norm(self.conv(x, self.offset(x))))


class DeformableSemanticHead(nn.Module):
    def __init__(self, *, in_channels: int, num_classes: int, hidden_channels: int = 128, num_layers: int = 2,
                 levels: int = 4):
        super().__init__()
        self.levels = levels
        inputs = [in_channels] + [hidden_channels] * (num_layers - 1)
        self.subnet = nn.Sequential(*[DeformableConvBlock(c, hidden_channels) for c in inputs])
        self.classifier = nn.Conv2d(hidden_channels * levels, num_classes, 1)
        nn.init.normal_(self.classifier.weight, std=0.01)
        nn.init.zeros_(self.classifier.bias)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        """features: P2..P5, each (B, C, H/s, W/s) -> (B, num_classes, H/4, W/4)."""
        size = features[0].shape[-2:]
        maps = [resize_bilinear(self.subnet(f), size) if i else self.subnet(f)
                for i, f in enumerate(features[: self.levels])]
        return self.classifier(torch.cat(maps, dim=1))


def box_mean(x: torch.Tensor, kh: int, kw: int) -> torch.Tensor:
    """`F.avg_pool2d(x, (kh, kw), stride=1)` from running sums along each axis: two subtractions per
    output instead of kh·kw additions, forward and backward (sss-mini's 16x16 window: ~10x less
    time per step on 1 thread); equal to avg_pool2d to float rounding (tests/test_models_heads.py)."""
    rows = F.pad(x, (0, 0, 1, 0)).cumsum(-2)
    rows = rows[..., kh:, :] - rows[..., :-kh, :]  # (B, C, H - kh + 1, W): sums over kh rows
    cols = F.pad(rows, (1, 0)).cumsum(-1)
    return (cols[..., kw:] - cols[..., :-kw]) / (kh * kw)


class MiniDeepLab(nn.Module):
    """Seamless Scene Segmentation's MiniDL on one level: [3x3 | 3x3 dilated | 1x1 on a
    `pooling_size` moving average] -> norm -> 1x1 to `out_channels` -> norm, ReLU."""

    def __init__(self, in_channels: int, out_channels: int, *, dilation: int, pooling_size: tuple[int, int]):
        super().__init__()
        self.pooling_size = tuple(pooling_size)
        self.conv_3x3 = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)
        self.conv_dilated = nn.Conv2d(in_channels, out_channels, 3, padding=dilation, dilation=dilation, bias=False)
        self.conv_global = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        self.norm1 = group_norm(3 * out_channels)
        self.project = nn.Conv2d(3 * out_channels, out_channels, 1, bias=False)
        self.norm2 = group_norm(out_channels)

    def moving_average(self, x: torch.Tensor) -> torch.Tensor:
        """Average over a window clipped to the map, replicate-padded back to the input size: a
        local 'global pooling' that behaves the same on crops and full images."""
        kh, kw = min(self.pooling_size[0], x.shape[-2]), min(self.pooling_size[1], x.shape[-1])
        pooled = box_mean(x, kh, kw)
        pad = ((kw - 1) // 2, kw // 2, (kh - 1) // 2, kh // 2)
        return F.pad(pooled, pad, mode="replicate")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.cat([self.conv_3x3(x), self.conv_dilated(x), self.conv_global(self.moving_average(x))], dim=1)
        y = torch.relu(self.norm1(y))
        return torch.relu(self.norm2(self.project(y)))


class MiniDeepLabSemanticHead(nn.Module):
    def __init__(self, *, in_channels: int, num_classes: int, hidden_channels: int = 128, dilation: int = 6,
                 pooling_size: tuple[int, int] = (64, 64), levels: int = 4):
        super().__init__()
        self.branches = nn.ModuleList(
            MiniDeepLab(in_channels, hidden_channels, dilation=dilation, pooling_size=pooling_size) for _ in range(levels))
        self.classifier = nn.Conv2d(hidden_channels * levels, num_classes, 1)
        nn.init.normal_(self.classifier.weight, std=0.01)
        nn.init.zeros_(self.classifier.bias)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        """features: P2..P5, each (B, C, H/s, W/s) -> (B, num_classes, H/4, W/4)."""
        size = features[0].shape[-2:]
        maps = [resize_bilinear(branch(f), size) if i else branch(f)
                for i, (branch, f) in enumerate(zip(self.branches, features))]
        return self.classifier(torch.cat(maps, dim=1))
