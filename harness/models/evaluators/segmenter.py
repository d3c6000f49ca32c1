"""What every evaluation segmenter shares (synthesis paper Sec. 4, "Performance Metrics"): its own
input normalisation, the training loss and the inference output, so one training task and one
evaluation protocol drive DRN and DeepLab alike.

Images are (B, 3, H, W) float RGB in [0, 1], as torchvision's detection models take them; targets
are the dicts of `harness.models.targets.panoptic_to_targets` (`semantic`: (H, W) train ids,
255 = void). Train mode: `forward(images, targets) -> {"loss_seg": ...}`; eval mode:
`forward(images) -> {"out": (B, C, H, W) logits}` at the input's resolution (torchvision's
segmentation models' key)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from harness.data.categories import IGNORE_LABEL


class Segmenter(nn.Module, ABC):
    """Subclasses define `loss(x, labels)` and `predict(x)` on normalised inputs."""

    def __init__(self, *, mean: Sequence[float], std: Sequence[float], bgr: bool = False, scale: float = 1.0):
        super().__init__()
        # not persistent: the public weight files hold no normalisation tensors, and strict loading must fit them
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.bgr = bgr
        self.scale = scale

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        x = images.float() * self.scale
        if self.bgr:
            x = x.flip(1)
        return (x - self.mean) / self.std

    @abstractmethod
    def loss(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Training loss of normalised images `x` against (B, H, W) train ids."""

    @abstractmethod
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) logits of normalised images `x`, at their resolution."""

    def forward(self, images: torch.Tensor | Sequence[torch.Tensor], targets: Sequence[dict] | None = None):
        if not torch.is_tensor(images):
            images = torch.stack(list(images))
        x = self.normalize(images)
        if self.training:
            if targets is None:
                raise ValueError("a segmenter in train mode needs targets with 'semantic'")
            labels = torch.stack([t["semantic"] for t in targets]).long().to(x.device)
            return {"loss_seg": self.loss(x, labels)}
        return {"out": self.predict(x)}


def nearest_labels(labels: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(B, H, W) labels at `size` by nearest sampling: labels are never interpolated otherwise."""
    if tuple(labels.shape[-2:]) == tuple(size):
        return labels
    return F.interpolate(labels[:, None].float(), size=size, mode="nearest")[:, 0].long()


def cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits, nearest_labels(labels, tuple(logits.shape[-2:])), ignore_index=IGNORE_LABEL)


def resize_logits(logits: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Logits at `size`, bilinear (align_corners=False, as deeplab-pytorch's inference)."""
    if tuple(logits.shape[-2:]) == tuple(size):
        return logits
    return F.interpolate(logits, size=size, mode="bilinear", align_corners=False)
