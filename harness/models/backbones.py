"""ResNet-FPN feature extractors: torchvision's ResNet-50/101 (the papers' backbones) and a narrow
`mini` ResNet for CPU runs. Both return torchvision's `BackboneWithFPN` (P2..P5 + a max-pooled P6),
the body torchvision's Mask R-CNN expects."""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import nn
from torchvision.models import resnet
from torchvision.models.detection.backbone_utils import BackboneWithFPN
from torchvision.ops import FrozenBatchNorm2d
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

from harness.errors import ConfigError
from harness.weight_files import RESNET50_FILE, RESNET101_FILE, resolve_weight_file
from harness.weights import COUNTER_SUFFIX, load_strict, read_state_dict

RESNET_STAGES = {"layer1": "0", "layer2": "1", "layer3": "2", "layer4": "3"}
CLASSIFIER_PREFIX = "fc."
BACKBONE_WEIGHTS_KEY = "model.options.backbone_weights"
IMAGENET_FILES = {50: RESNET50_FILE, 101: RESNET101_FILE}  # torchvision's own file names


def group_norm(channels: int) -> nn.GroupNorm:
    """GroupNorm with up to 32 groups: batch-size independent, so 2-image CPU batches train and
    evaluate with the same statistics (Wu & He, Group Normalization)."""
    return nn.GroupNorm(math.gcd(32, channels), channels)


def resnet_fpn(depth: int, *, fpn_channels: int = 256, weights_path: str | Path | None = None,
               trainable_layers: int = 3) -> BackboneWithFPN:
    """ResNet-`depth` (50 or 101) + FPN. With ImageNet weights (`weights_path`: a torchvision state
    dict on local disk, a path or a bare file name in `PANBENCH_WEIGHTS`, see harness.weight_files)
    BatchNorm is frozen and only the last `trainable_layers` stages train, as in torchvision's Mask
    R-CNN and UPSNet; without (None or `none`), everything trains with live BatchNorm. Nothing is
    ever downloaded."""
    builders = {50: resnet.resnet50, 101: resnet.resnet101}
    if depth not in builders:
        raise ConfigError(f"backbone depth {depth} is not supported; choose one of {sorted(builders)}")
    path = resolve_weight_file(weights_path, f"ImageNet ResNet-{depth} weights", BACKBONE_WEIGHTS_KEY)
    body = builders[depth](weights=None, norm_layer=FrozenBatchNorm2d if path is not None else nn.BatchNorm2d)
    if path is not None:
        load_imagenet_resnet(body, path, depth)
        frozen = ["conv1", "layer1", "layer2", "layer3", "layer4"][: 5 - trainable_layers]
        for name, param in body.named_parameters():
            param.requires_grad_(not any(name.startswith(f) for f in frozen))
    in_channels = [body.inplanes // 8, body.inplanes // 4, body.inplanes // 2, body.inplanes]
    return BackboneWithFPN(body, RESNET_STAGES, in_channels, fpn_channels, extra_blocks=LastLevelMaxPool())


def load_imagenet_resnet(body: resnet.ResNet, path: str | Path, depth: int) -> None:
    """Load a torchvision ResNet state dict (read with weights_only=True) into `body` strictly:
    every tensor of the convolutional trunk present with its shape, nothing else but the ImageNet
    classifier `fc.*` (unused: FPN taps layer1..layer4) and BatchNorm step counters (frozen
    BatchNorm has none). A file of another depth or layout is one WeightsError naming it."""
    state = {k: v for k, v in read_state_dict(path, f"ImageNet ResNet-{depth} weights").items()
             if not k.startswith(CLASSIFIER_PREFIX) and not k.endswith(COUNTER_SUFFIX)}
    body.fc = nn.Identity()
    load_strict(body, state, path, f"ImageNet ResNet-{depth} weights")


class BasicBlock(nn.Module):
    """Two 3x3 convs with a residual (ResNet-18's block) and GroupNorm; stride on the first conv."""

    def __init__(self, in_channels: int, out_channels: int, *, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.norm1 = group_norm(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.norm2 = group_norm(out_channels)
        self.shortcut = nn.Identity() if stride == 1 and in_channels == out_channels else nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 1, stride, bias=False), group_norm(out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.norm1(self.conv1(x)))
        return torch.relu(self.norm2(self.conv2(y)) + self.shortcut(x))


class MiniResNet(nn.Module):
    """A narrow ResNet for CPU runs: a stride-4 stem, then one BasicBlock per stage at strides
    4, 8, 16, 32, named like torchvision's so `BackboneWithFPN` (whose IntermediateLayerGetter runs
    the children in order) taps layer1..layer4 the same way for every backbone."""

    def __init__(self, *, widths: tuple[int, int, int, int] = (16, 24, 32, 48), stem_channels: int = 16):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, stem_channels, 3, 2, 1, bias=False), group_norm(stem_channels), nn.ReLU(inplace=True),
            nn.Conv2d(stem_channels, stem_channels, 3, 2, 1, bias=False), group_norm(stem_channels), nn.ReLU(inplace=True))
        strides = (1, 2, 2, 2)
        channels = (stem_channels,) + tuple(widths)
        for i in range(4):
            setattr(self, f"layer{i + 1}", BasicBlock(channels[i], channels[i + 1], stride=strides[i]))


def mini_resnet_fpn(*, widths: tuple[int, int, int, int] = (16, 24, 32, 48), fpn_channels: int = 32) -> BackboneWithFPN:
    body = MiniResNet(widths=tuple(widths))
    return BackboneWithFPN(body, RESNET_STAGES, list(widths), fpn_channels, extra_blocks=LastLevelMaxPool())
