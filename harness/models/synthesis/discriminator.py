"""SPADE's discriminator (NVlabs/SPADE `discriminator.py`, norm_D 'spectralinstance'): PatchGANs
at `num_d` scales, each `n_layers` strided 4x4 convolutions plus a 1-channel 4x4 output, the input
average-pooled between scales. The input is the label channels concatenated with the image; every
layer's output is returned for the feature-matching loss."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import spectral_norm

KERNEL = 4
PAD = math.ceil((KERNEL - 1) / 2)  # SPADE's padw = 2
MAX_WIDTH = 512


class NLayerDiscriminator(nn.Module):
    """model0: conv (stride 2) + leaky ReLU; model1..n-1: spectral-norm conv without bias +
    InstanceNorm + leaky ReLU, width doubling to 512, stride 2 except the last (stride 1);
    model_n: 1-channel conv (stride 1). Submodules are nested as SPADE's `get_nonspade_norm_layer`
    nests them (model{k} = [[conv, norm], leaky ReLU]), so the state-dict keys are SPADE's
    (`model1.0.0.weight_orig`, ...) and its `latest_net_D.pth` loads strictly."""

    def __init__(self, in_channels: int, *, ndf: int = 64, n_layers: int = 4):
        super().__init__()
        nf = ndf
        layers = [nn.Sequential(nn.Conv2d(in_channels, nf, KERNEL, stride=2, padding=PAD), nn.LeakyReLU(0.2))]
        for n in range(1, n_layers):
            nf_prev, nf = nf, min(nf * 2, MAX_WIDTH)
            stride = 1 if n == n_layers - 1 else 2
            conv = spectral_norm(nn.Conv2d(nf_prev, nf, KERNEL, stride, PAD, bias=False))
            layers.append(nn.Sequential(nn.Sequential(conv, nn.InstanceNorm2d(nf, affine=False)), nn.LeakyReLU(0.2)))
        layers.append(nn.Sequential(nn.Conv2d(nf, 1, KERNEL, stride=1, padding=PAD)))
        for i, layer in enumerate(layers):
            self.add_module(f"model{i}", layer)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """-> every layer's output; the last is the (N, 1, h, w) patch score map."""
        features = []
        for layer in self.children():
            x = layer(x)
            features.append(x)
        return features


class MultiscaleDiscriminator(nn.Module):
    """`num_d` NLayerDiscriminators (discriminator_0 at full resolution, each next one on the input
    average-pooled 3x3 / stride 2, padding excluded from the mean)."""

    def __init__(self, in_channels: int, *, ndf: int = 64, n_layers: int = 4, num_d: int = 2):
        super().__init__()
        for i in range(num_d):
            self.add_module(f"discriminator_{i}", NLayerDiscriminator(in_channels, ndf=ndf, n_layers=n_layers))

    def forward(self, x: torch.Tensor) -> list[list[torch.Tensor]]:
        """(N, label + 3, H, W) -> one list of layer outputs per scale."""
        results = []
        for i, d in enumerate(self.children()):
            if i:
                x = F.avg_pool2d(x, kernel_size=3, stride=2, padding=1, count_include_pad=False)
            results.append(d(x))
        return results
