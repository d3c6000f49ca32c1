"""DRN-D segmenter (Yu, Koltun & Funkhouser, Dilated Residual Networks, 2017), the Cityscapes
evaluator of pix2pixHD / SPADE and of the synthesis paper (Sec. 4), built with the module names of
fyu/drn's `DRNSeg` so its public `drn-d-105_ms_cityscapes.pth` loads with `strict=True`:

    base.0            7x7 stem conv, BN, ReLU                      (DRN-D `layer0`)
    base.1, base.2    3x3 conv, BN, ReLU; stride 1, 2              (`layer1`, `layer2`)
    base.3, base.4    residual stages, stride 2 each               (`layer3`, `layer4`; output stride 8)
    base.5, base.6    residual stages, dilation 2 and 4, stride 1  (`layer5`, `layer6`)
    base.7, base.8    3x3 conv, BN, ReLU; dilation 2, then 1       (`layer7`, `layer8`: DRN-D's degridding)
    seg               1x1 classifier (with bias)
    up                per-class ConvTranspose2d 16x16, stride 8, fixed bilinear weights (not trained)

Residual blocks are torchvision-style Bottleneck / BasicBlock modules with DRN's names (`conv1`,
`bn1`, ..., `downsample.0/1`); written here because torchvision's take no per-block dilation pair.
Input normalisation: fyu/drn's Cityscapes `info.json` mean / std on RGB in [0, 1]."""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from harness.models.evaluators.segmenter import Segmenter, cross_entropy

CITYSCAPES_MEAN = (0.29010095242892997, 0.32808144844279574, 0.28696394422942517)
CITYSCAPES_STD = (0.1829540508368939, 0.18656561047509476, 0.18447508988480435)
DRN_D_105 = dict(block="bottleneck", depths=(1, 1, 3, 4, 23, 3, 1, 1), channels=(16, 32, 64, 128, 256, 512, 512, 512))


def conv_bn_relu(in_channels: int, out_channels: int, *, stride: int = 1, dilation: int = 1,
                 kernel_size: int = 3) -> list[nn.Module]:
    pad = dilation * (kernel_size // 2)
    return [nn.Conv2d(in_channels, out_channels, kernel_size, stride, pad, dilation=dilation, bias=False),
            nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True)]


class BasicBlock(nn.Module):
    """Two 3x3 convs (dilations `dilation[0]`, `dilation[1]`) + identity or projected shortcut."""

    expansion = 1

    def __init__(self, in_channels: int, planes: int, *, stride: int = 1, dilation: tuple[int, int] = (1, 1),
                 downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, planes, 3, stride, dilation[0], dilation=dilation[0], bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, dilation[1], dilation=dilation[1], bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return self.relu(y + (x if self.downsample is None else self.downsample(x)))


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (stride, dilation `dilation[1]`), 1x1 expand x4, + shortcut (ResNet v1 with
    the stride on the 3x3, as fyu/drn)."""

    expansion = 4

    def __init__(self, in_channels: int, planes: int, *, stride: int = 1, dilation: tuple[int, int] = (1, 1),
                 downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, dilation[1], dilation=dilation[1], bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return self.relu(y + (x if self.downsample is None else self.downsample(x)))


BLOCKS = {"basic": BasicBlock, "bottleneck": Bottleneck}


def residual_stage(block: type, in_channels: int, planes: int, blocks: int, *, stride: int = 1,
                   dilation: int = 1) -> tuple[nn.Sequential, int]:
    """A stage of `blocks` blocks at one dilation; the first carries the stride and the projection
    (DRN-D's dilated stages start at their full dilation: fyu/drn's `new_level=False`)."""
    out_channels = planes * block.expansion
    downsample = None
    if stride != 1 or in_channels != out_channels:
        downsample = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                                   nn.BatchNorm2d(out_channels))
    layers = [block(in_channels, planes, stride=stride, dilation=(dilation, dilation), downsample=downsample)]
    layers += [block(out_channels, planes, dilation=(dilation, dilation)) for _ in range(1, blocks)]
    return nn.Sequential(*layers), out_channels


def bilinear_kernel(up: nn.ConvTranspose2d) -> None:
    """Fill a per-channel transposed conv with the separable bilinear kernel (fyu/drn's
    `fill_up_weights`, the FCN upsampling init) and freeze it."""
    size = up.weight.shape[-1]
    factor = math.ceil(size / 2)
    center = (2 * factor - 1 - factor % 2) / (2.0 * factor)
    ramp = 1 - (torch.arange(size, dtype=torch.float64) / factor - center).abs()
    with torch.no_grad():
        up.weight.copy_((ramp[:, None] * ramp[None, :]).to(up.weight.dtype).expand_as(up.weight))
    up.weight.requires_grad_(False)


class DRNSegmenter(Segmenter):
    """DRN-D `depths` x `channels` (8 levels, as fyu/drn's `DRN(arch='D')`) + `seg` + `up`."""

    def __init__(self, *, num_classes: int, block: str = "bottleneck", depths: Sequence[int] = DRN_D_105["depths"],
                 channels: Sequence[int] = DRN_D_105["channels"], mean: Sequence[float] = CITYSCAPES_MEAN,
                 std: Sequence[float] = CITYSCAPES_STD):
        super().__init__(mean=mean, std=std)
        if len(depths) != 8 or len(channels) != 8:
            raise ValueError("DRN-D has 8 levels: give 8 depths and 8 channel widths")
        unit = BLOCKS[block]

        def conv_level(in_channels: int, out_channels: int, convs: int, stride: int = 1, dilation: int = 1):
            layers = []
            for k in range(convs):
                layers += conv_bn_relu(in_channels if k == 0 else out_channels, out_channels,
                                       stride=stride if k == 0 else 1, dilation=dilation)
            return nn.Sequential(*layers)

        c = channels
        levels = [nn.Sequential(*conv_bn_relu(3, c[0], kernel_size=7)),
                  conv_level(c[0], c[0], depths[0]), conv_level(c[0], c[1], depths[1], stride=2)]
        width = c[1]
        for planes, blocks, stride, dilation in ((c[2], depths[2], 2, 1), (c[3], depths[3], 2, 1),
                                                 (c[4], depths[4], 1, 2), (c[5], depths[5], 1, 4)):
            stage, width = residual_stage(unit, width, planes, blocks, stride=stride, dilation=dilation)
            levels.append(stage)
        levels += [conv_level(width, c[6], depths[6], dilation=2), conv_level(c[6], c[7], depths[7])]
        self.base = nn.Sequential(*levels)
        self.seg = nn.Conv2d(c[7], num_classes, 1, bias=True)
        nn.init.normal_(self.seg.weight, 0, math.sqrt(2.0 / num_classes))
        nn.init.zeros_(self.seg.bias)
        self.up = nn.ConvTranspose2d(num_classes, num_classes, 16, stride=8, padding=4, groups=num_classes, bias=False)
        bilinear_kernel(self.up)
        for m in self.base.modules():  # fyu/drn's init
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, 0, math.sqrt(2.0 / (m.kernel_size[0] * m.kernel_size[1] * m.out_channels)))

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Full-resolution logits: `up` gives 8x the stride-8 map, cropped to the input when H or W
        is not a multiple of 8."""
        y = self.up(self.seg(self.base(x)))
        return y[..., : x.shape[-2], : x.shape[-1]]

    def loss(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return cross_entropy(self.predict(x), labels)  # fyu/drn: NLL of log-softmax at full resolution
