"""Spatially-adaptive denormalisation (Park et al., SPADE, Eq. 1; NVlabs/SPADE `normalization.py`,
norm_G 'spectralspadesyncbatch3x3'): parameter-free BatchNorm, then a per-pixel scale and shift
predicted from the label map. The norm is `nn.BatchNorm2d(affine=False)`, so
`nn.SyncBatchNorm.convert_sync_batchnorm` turns it into SPADE's synchronised BatchNorm under DDP."""

from __future__ import annotations

import torch
from torch import nn


class SPADE(nn.Module):
    """out = BN(x) · (1 + γ(S)) + β(S); γ, β from a shared `hidden`-channel 3x3 conv + ReLU of the
    label map S (SPADE hardcodes 128), then one 3x3 conv each. S must already be at x's size."""

    def __init__(self, norm_channels: int, label_channels: int, *, hidden: int = 128, kernel_size: int = 3):
        super().__init__()
        self.param_free_norm = nn.BatchNorm2d(norm_channels, affine=False)
        pad = kernel_size // 2
        self.mlp_shared = nn.Sequential(nn.Conv2d(label_channels, hidden, kernel_size, padding=pad), nn.ReLU())
        self.mlp_gamma = nn.Conv2d(hidden, norm_channels, kernel_size, padding=pad)
        self.mlp_beta = nn.Conv2d(hidden, norm_channels, kernel_size, padding=pad)

    def forward(self, x: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        """x (N, C, H, W), label (N, label_channels, H, W) -> (N, C, H, W)."""
        actv = self.mlp_shared(label)
        return self.param_free_norm(x) * (1 + self.mlp_gamma(actv)) + self.mlp_beta(actv)
