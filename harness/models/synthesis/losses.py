"""SPADE's GAN objectives (NVlabs/SPADE `loss.py` GANLoss with gan_mode 'hinge', and the
discriminator feature-matching term of `pix2pix_model.compute_generator_loss`), on the
multi-scale discriminator's outputs: one list of layer outputs per scale, the last the score map."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def hinge_discriminator_loss(scores: list[list[torch.Tensor]], real: bool) -> torch.Tensor:
    """mean over scales of mean(relu(1 - D)) for real inputs, mean(relu(1 + D)) for fakes."""
    sign = -1.0 if real else 1.0
    return torch.stack([F.relu(1 + sign * s[-1]).mean() for s in scores]).mean()


def hinge_generator_loss(scores: list[list[torch.Tensor]]) -> torch.Tensor:
    """mean over scales of -mean(D(fake))."""
    return torch.stack([-s[-1].mean() for s in scores]).mean()


def feature_matching_loss(fake: list[list[torch.Tensor]], real: list[list[torch.Tensor]]) -> torch.Tensor:
    """pix2pixHD's discriminator feature matching as SPADE weighs it: the L1 distance of every
    intermediate layer (the score map excluded) to the real image's (detached), summed over layers
    and averaged over scales. Multiply by lambda_feat (10)."""
    per_scale = [sum(F.l1_loss(f, r.detach()) for f, r in zip(fs[:-1], rs[:-1])) for fs, rs in zip(fake, real)]
    return torch.stack(per_scale).mean()
