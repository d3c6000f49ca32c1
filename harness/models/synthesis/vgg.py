"""SPADE's VGG-19 perceptual loss (NVlabs/SPADE `loss.py` VGGLoss, `architecture.py` VGG19):
L1 distances of relu1_1, relu2_1, relu3_1, relu4_1 and relu5_1 features, weighted 1/32, 1/16,
1/8, 1/4, 1. The ImageNet weights come from a local file in torchvision's vgg19 state-dict layout
(e.g. torchvision's vgg19-dcbb9e9d.pth); nothing downloads. As in SPADE, images enter in [-1, 1]
without ImageNet normalisation."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torchvision.models import vgg19

from harness.weights import WeightsError, describe_mismatch, load_strict, read_state_dict

SLICE_ENDS = (2, 7, 12, 21, 30)  # torchvision vgg19.features indices after relu1_1 ... relu5_1
LAYER_WEIGHTS = (1.0 / 32, 1.0 / 16, 1.0 / 8, 1.0 / 4, 1.0)
WHAT = "VGG-19 weights"


def load_vgg19_features(path: str | Path) -> nn.Sequential:
    """vgg19().features[:30] with the weights of `path`, read as data (harness.weights: weights_only,
    so a crafted pickle is refused before anything in it runs). The file must hold every
    `features.*` tensor of torchvision's layout with its shape; it may hold the classifier too
    (unused); any other key is a WeightsError naming the file."""
    state = read_state_dict(path, WHAT)
    with torch.device("meta"):  # the layout without allocating (or initialising) 143M parameters
        model = vgg19(weights=None)
    foreign = [k for k in state if k not in model.state_dict()]
    if foreign:
        raise WeightsError(path, f"{WHAT} are not torchvision's vgg19 layout: " + describe_mismatch([], foreign, []))
    layers = model.features.to_empty(device="cpu")
    load_strict(layers, {k.removeprefix("features."): v for k, v in state.items() if k.startswith("features.")},
                path, WHAT)
    return layers[:SLICE_ENDS[-1]]


class VGGLoss(nn.Module):
    """sum_i w_i · L1(VGG_i(fake), VGG_i(real)), the real image's features without gradient.
    Multiply by lambda_vgg (10). The network is frozen."""

    def __init__(self, features: nn.Sequential):
        super().__init__()
        starts = (0,) + SLICE_ENDS[:-1]
        self.slices = nn.ModuleList(features[a:b] for a, b in zip(starts, SLICE_ENDS))
        self.requires_grad_(False)
        self.eval()

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        out = []
        for block in self.slices:
            x = block(x)
            out.append(x)
        return out

    def forward(self, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            targets = self.features(real)
        return sum(w * nn.functional.l1_loss(f, t) for w, f, t in zip(LAYER_WEIGHTS, self.features(fake), targets))
