"""Decoded images as the tensors models take: (3, H, W) float32 in 0..1, as torchvision's
detection models expect (they normalise with their own mean and std). In its own module so that
reading datasets does not import torch."""

from __future__ import annotations

import numpy as np
import torch


def image_tensor(rgb: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 -> (3, H, W) float32 in 0..1 (a copy: the decoded array may be read-only)."""
    return torch.from_numpy(np.require(rgb, requirements=("C", "W"))).permute(2, 0, 1).float().div_(255.0)
