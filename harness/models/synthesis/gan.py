"""The conditional GAN around a (panoptic) SPADE generator, in NVlabs/SPADE's `pix2pix_model`
pattern: one module whose `forward(batch, mode)` dispatches to the generator losses, the
discriminator losses or inference, because DDP only hooks `forward`.

A batch is a dict: `image` (N, 3, H, W) float in [-1, 1], `semantic` (N, H, W) class indices
(0..num_classes-1, and the ignore label when `dontcare_label`), `panoptic` (N, H, W) segment ids, and
optionally `instances` (N, H, W): SPADE's instance map (Cityscapes' instanceIds), the source of the
boundary channel when given, else the panoptic ids are.
The label input, boundary map and per-scale maps are derived here (label_maps.py).

The optimiser loop is the trainer's: per SPADE's trainer, zero G's gradients, backward the sum of
`generator_losses`, step G; then zero D's gradients (the G step leaves gradients on D), backward
the sum of `discriminator_losses`, step D. `default_optim` holds the paper's Adam settings."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from harness.models.synthesis.discriminator import MultiscaleDiscriminator
from harness.models.synthesis.generator import SPADEGenerator
from harness.models.synthesis.label_maps import label_input
from harness.models.synthesis.losses import feature_matching_loss, hinge_discriminator_loss, hinge_generator_loss
from harness.models.synthesis.vgg import VGGLoss

MODES = ("generator", "discriminator", "inference")


@dataclass(frozen=True)
class AdamSettings:
    """Adam with TTUR (Heusel et al.), as both papers train: β1 = 0, lr 1e-4 for G and 4e-4 for D.
    β2 = 0.999 is the synthesis paper's (§4) and SPADE paper's statement; SPADE's code uses 0.9 and
    its authors said the paper is wrong (NVlabs/SPADE issue #50), hence `beta2_spade_code`."""

    lr_generator: float = 1e-4
    lr_discriminator: float = 4e-4
    beta1: float = 0.0
    beta2: float = 0.999
    beta2_spade_code: float = 0.9


class SynthesisGAN(nn.Module):
    """`generator` and `discriminator` submodules; hinge GAN loss, feature matching (`lambda_feat`)
    and, when `vgg` is given, the VGG-19 perceptual loss (`lambda_vgg`). The frozen VGG is kept out
    of the module tree (no checkpoint entry, no DDP state) and follows the images' device."""

    default_optim = AdamSettings()

    def __init__(self, *, generator: SPADEGenerator, discriminator: MultiscaleDiscriminator, num_classes: int,
                 dontcare_label: bool = True, instance_edges: bool = True, lambda_feat: float = 10.0,
                 lambda_vgg: float = 10.0, vgg: VGGLoss | None = None):
        super().__init__()
        self.generator, self.discriminator = generator, discriminator
        self.num_classes, self.dontcare_label, self.instance_edges = num_classes, dontcare_label, instance_edges
        self.lambda_feat, self.lambda_vgg = lambda_feat, lambda_vgg
        self._frozen = {"vgg": vgg} if vgg is not None else {}  # a dict: not registered as a submodule

    @property
    def vgg_loss_enabled(self) -> bool:
        return "vgg" in self._frozen

    @property
    def image_size(self) -> tuple[int, int]:
        return self.generator.image_size

    def labels(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """(label input (N, C, H, W), panoptic ids (N, H, W) int64) of a batch."""
        panoptic = batch["panoptic"].long()
        instances = batch.get("instances", panoptic)
        return label_input(batch["semantic"], instances, self.num_classes, dontcare_label=self.dontcare_label,
                           edges=self.instance_edges).to(batch["image"].dtype), panoptic

    def generate(self, batch: dict) -> torch.Tensor:
        """(N, 3, H, W) images in [-1, 1]."""
        return self.generator(*self.labels(batch))

    def _discriminate(self, label: torch.Tensor, fake: torch.Tensor, real: torch.Tensor):
        """Fake and real in one discriminator batch, as SPADE does (one forward through its
        spectral norms; instance norm keeps the halves independent)."""
        both = torch.cat([torch.cat([label, fake], 1), torch.cat([label, real], 1)], 0)
        n = fake.shape[0]
        outputs = self.discriminator(both)
        return [[t[:n] for t in scale] for scale in outputs], [[t[n:] for t in scale] for scale in outputs]

    def generator_losses(self, batch: dict) -> dict[str, torch.Tensor]:
        """{"gan", "feature_matching" (λ-weighted)[, "vgg" (λ-weighted)]}; their sum is G's loss."""
        label, panoptic = self.labels(batch)
        real = batch["image"]
        fake = self.generator(label, panoptic)
        pred_fake, pred_real = self._discriminate(label, fake, real)
        losses = {"gan": hinge_generator_loss(pred_fake)}
        if self.lambda_feat:
            losses["feature_matching"] = self.lambda_feat * feature_matching_loss(pred_fake, pred_real)
        if self.vgg_loss_enabled:
            vgg = self._frozen["vgg"].to(fake.device)
            losses["vgg"] = self.lambda_vgg * vgg(fake, real)
        return losses

    def discriminator_losses(self, batch: dict) -> dict[str, torch.Tensor]:
        """{"d_fake", "d_real"} hinge losses; the generator runs without gradient."""
        label, panoptic = self.labels(batch)
        with torch.no_grad():
            fake = self.generator(label, panoptic)
        pred_fake, pred_real = self._discriminate(label, fake, batch["image"])
        return {"d_fake": hinge_discriminator_loss(pred_fake, real=False),
                "d_real": hinge_discriminator_loss(pred_real, real=True)}

    def forward(self, batch: dict, mode: str):
        if mode == "generator":
            return self.generator_losses(batch)
        if mode == "discriminator":
            return self.discriminator_losses(batch)
        if mode == "inference":
            with torch.no_grad():
                return self.generate(batch)
        raise ValueError(f"mode {mode!r} is not one of {MODES}")
