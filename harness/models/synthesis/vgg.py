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

from harness.errors import ConfigError

SLICE_ENDS = (2, 7, 12, 21, 30)  # torchvision vgg19.features indices after relu1_1 ... relu5_1
LAYER_WEIGHTS = (1.0 / 32, 1.0 / 16, 1.0 / 8, 1.0 / 4, 1.0)


def load_vgg19_features(path: str | Path) -> nn.Sequential:
    """vgg19().features[:30] with the weights of `path`, read with weights_only=True (no code runs).
    The file must hold every `features.*` tensor of torchvision's layout with its shape; it may hold
    the classifier too (unused); any other key is an error."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: VGG-19 weights file is missing")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # a refused pickle, a truncated or foreign file: all mean "not weights"
        raise ConfigError(f"{path}: not a weights-only torch state dict ({str(error).splitlines()[0]})") from None
    if not isinstance(state, dict) or not all(isinstance(k, str) and torch.is_tensor(v) for k, v in state.items()):
        raise ConfigError(f"{path}: expected a dict of tensors in torchvision's vgg19 layout")
    with torch.device("meta"):  # the layout without allocating (or initialising) 143M parameters
        model = vgg19(weights=None)
    expected = model.state_dict()
    unknown = sorted(set(state) - set(expected))
    missing = sorted(k for k in expected if k.startswith("features.") and k not in state)
    if unknown or missing:
        raise ConfigError(f"{path}: not torchvision's vgg19 layout (unknown keys {unknown[:3]}, missing {missing[:3]})")
    layers = model.features.to_empty(device="cpu")
    try:
        layers.load_state_dict({k.removeprefix("features."): v for k, v in state.items() if k.startswith("features.")},
                               strict=True)
    except RuntimeError as error:
        raise ConfigError(f"{path}: {str(error).splitlines()[-1].strip()}") from None
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
