"""DeepLab v2 (Chen et al., TPAMI 2018) on ResNet-101 with multi-scale inputs, the COCO-Stuff
evaluator of SPADE and of the synthesis paper (Sec. 4), built with the module names of
kazuto1011/deeplab-pytorch (`MSC(DeepLabV2(...))`) so its public
`deeplabv2_resnet101_msc-cocostuff164k-100000.pth` loads with `strict=True`:

    base.layer1         stem: `conv1` = _ConvBnReLU 7x7 stride 2, then max pool 3x3 stride 2 (ceil mode)
    base.layer2..5      residual stages of `blockN` bottlenecks (`reduce`, `conv3x3`, `increase`,
                        `shortcut` _ConvBnReLU modules, each `conv` + `bn`); strides 1, 2, 1, 1 and
                        dilations 1, 1, 2, 4: output stride 8
    base.aspp.c0..c3    3x3 classifiers at rates 6, 12, 18, 24, summed (ASPP-L)

Inference is MSC's, as deeplab-pytorch evaluates: logits of the image and of its 0.5x and 0.75x
bilinear rescalings, resized to the full image's logits, pixel-wise max; then bilinear to the input
size. It costs 1 + 0.25 + 0.56 = 1.8x a single-scale pass, which is small beside generating the
images, and it is the protocol behind the published numbers; `scales=()` gives single scale.
Training sums the cross-entropy of every MSC output with the labels resized by nearest to it.
Input: BGR in 0..255 minus deeplab-pytorch's COCO-Stuff mean, no std."""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from harness.models.evaluators.segmenter import Segmenter, cross_entropy, resize_logits

COCOSTUFF_MEAN_BGR = (104.008, 116.669, 122.675)
RESNET101_BLOCKS = (3, 4, 23, 3)
ASPP_RATES = (6, 12, 18, 24)
MSC_SCALES = (0.5, 0.75)


class ConvBnReLU(nn.Sequential):
    """deeplab-pytorch's `_ConvBnReLU`: `conv` (no bias), `bn` (eps 1e-5, momentum 0.001), `relu`."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int, padding: int,
                 dilation: int, relu: bool = True):
        super().__init__()
        self.add_module("conv", nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, dilation, bias=False))
        self.add_module("bn", nn.BatchNorm2d(out_channels, eps=1e-5, momentum=1 - 0.999))
        if relu:
            self.add_module("relu", nn.ReLU())


class Bottleneck(nn.Module):
    """MSRA bottleneck: the stride on the 1x1 `reduce` (not on the 3x3), projection `shortcut` only
    in a stage's first block."""

    def __init__(self, in_channels: int, out_channels: int, *, stride: int, dilation: int, project: bool,
                 expansion: int = 4):
        super().__init__()
        mid = out_channels // expansion
        self.reduce = ConvBnReLU(in_channels, mid, 1, stride, 0, 1)
        self.conv3x3 = ConvBnReLU(mid, mid, 3, 1, dilation, dilation)
        self.increase = ConvBnReLU(mid, out_channels, 1, 1, 0, 1, relu=False)
        self.shortcut = ConvBnReLU(in_channels, out_channels, 1, stride, 0, 1, relu=False) if project else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.increase(self.conv3x3(self.reduce(x))) + self.shortcut(x))


class ResLayer(nn.Sequential):
    def __init__(self, blocks: int, in_channels: int, out_channels: int, stride: int, dilation: int):
        super().__init__()
        for i in range(blocks):
            self.add_module(f"block{i + 1}", Bottleneck(in_channels if i == 0 else out_channels, out_channels,
                                                        stride=stride if i == 0 else 1, dilation=dilation,
                                                        project=i == 0))


class Stem(nn.Sequential):
    def __init__(self, out_channels: int):
        super().__init__()
        self.add_module("conv1", ConvBnReLU(3, out_channels, 7, 2, 3, 1))
        self.add_module("pool", nn.MaxPool2d(3, 2, 1, ceil_mode=True))


class ASPP(nn.Module):
    """Parallel dilated 3x3 classifiers `c0..`, summed."""

    def __init__(self, in_channels: int, num_classes: int, rates: Sequence[int]):
        super().__init__()
        for i, rate in enumerate(rates):
            conv = nn.Conv2d(in_channels, num_classes, 3, 1, padding=rate, dilation=rate, bias=True)
            nn.init.normal_(conv.weight, 0, 0.01)
            nn.init.zeros_(conv.bias)
            self.add_module(f"c{i}", conv)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return sum(stage(x) for stage in self.children())


class DeepLabV2Net(nn.Sequential):
    """Dilated ResNet (widths `stem`, then 4 stage widths) + ASPP, output stride 8."""

    def __init__(self, *, num_classes: int, blocks: Sequence[int], stem: int, widths: Sequence[int],
                 rates: Sequence[int]):
        super().__init__()
        self.add_module("layer1", Stem(stem))
        self.add_module("layer2", ResLayer(blocks[0], stem, widths[0], 1, 1))
        self.add_module("layer3", ResLayer(blocks[1], widths[0], widths[1], 2, 1))
        self.add_module("layer4", ResLayer(blocks[2], widths[1], widths[2], 1, 2))
        self.add_module("layer5", ResLayer(blocks[3], widths[2], widths[3], 1, 4))
        self.add_module("aspp", ASPP(widths[3], num_classes, rates))


class DeepLabV2Segmenter(Segmenter):
    """`base` = DeepLabV2Net; MSC over `scales` (see the module docstring)."""

    def __init__(self, *, num_classes: int, blocks: Sequence[int] = RESNET101_BLOCKS, stem: int = 64,
                 widths: Sequence[int] = (256, 512, 1024, 2048), rates: Sequence[int] = ASPP_RATES,
                 scales: Sequence[float] = MSC_SCALES, mean_bgr: Sequence[float] = COCOSTUFF_MEAN_BGR):
        super().__init__(mean=mean_bgr, std=(1.0, 1.0, 1.0), bgr=True, scale=255.0)
        self.base = DeepLabV2Net(num_classes=num_classes, blocks=blocks, stem=stem, widths=widths, rates=rates)
        self.scales = tuple(scales)

    def _pyramid(self, x: torch.Tensor) -> list[torch.Tensor]:
        """[logits of x, logits of each rescaled x, their pixel-wise max] (deeplab-pytorch's MSC)."""
        logits = self.base(x)
        outputs = [logits]
        for s in self.scales:
            outputs.append(self.base(F.interpolate(x, scale_factor=s, mode="bilinear", align_corners=False)))
        if self.scales:
            size = tuple(logits.shape[-2:])
            outputs.append(torch.stack([logits] + [resize_logits(o, size) for o in outputs[1:]]).max(dim=0).values)
        return outputs

    def loss(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return sum(cross_entropy(logits, labels) for logits in self._pyramid(x))

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        return resize_logits(self._pyramid(x)[-1], tuple(x.shape[-2:]))
