"""The table of synthesis models behind `create_model` and their one builder. Paper-scale entries
are SPADE's Cityscapes configuration (256x512, 'more' upsampling so the start is 4x8, ngf 64,
ndf 64, 2 scales x 4 layers, 35 label ids without a dontcare channel); COCO-Stuff is
`image_size=(256, 256), num_upsampling_layers=normal, dontcare_label=true`. `*-mini` entries are
the same builders narrowed for the CPU: 64x128 images, ngf 16, a 32-channel SPADE MLP and ndf 16."""

from __future__ import annotations

from pathlib import Path

from torch import nn
from torch.nn import init

from harness.errors import ConfigError
from harness.models.synthesis.discriminator import MultiscaleDiscriminator
from harness.models.synthesis.gan import SynthesisGAN
from harness.models.synthesis.generator import SPADEGenerator
from harness.models.synthesis.label_maps import label_channels
from harness.models.synthesis.spade_weights import load_file
from harness.models.synthesis.vgg import VGGLoss, load_vgg19_features
from harness.weight_files import candidate_path, is_none

PAPER = dict(image_size=(256, 512), num_upsampling_layers="more", ngf=64, spade_hidden=128, ndf=64,
             dontcare_label=False)
MINI = dict(image_size=(64, 128), num_upsampling_layers="normal", ngf=16, spade_hidden=32, ndf=16,
            dontcare_label=True)  # synthetic scenes label void with the ignore label
SPADE = dict(panoptic_conv=False, panoptic_upsample=False)
PANOPTIC = dict(panoptic_conv=True, panoptic_upsample=True)  # Table 4's last row; switch either off

SYNTHESIS_MODELS: dict[str, dict] = {
    "spade": dict(PAPER, **SPADE),
    "panoptic-spade": dict(PAPER, **PANOPTIC),
    "spade-mini": dict(MINI, **SPADE),
    "panoptic-spade-mini": dict(MINI, **PANOPTIC),
}


def init_spade_weights(module: nn.Module, gain: float = 0.02) -> None:
    """SPADE's `init_weights('xavier', 0.02)`: Xavier-normal weights with gain 0.02 and zero biases
    for every convolution (spectral-normed ones through their `weight_orig`)."""
    for m in module.modules():
        if "Conv" not in type(m).__name__:
            continue
        weight = getattr(m, "weight_orig", None)
        if weight is None:
            weight = m.weight
        init.xavier_normal_(weight.data, gain=gain)
        if getattr(m, "bias", None) is not None:
            init.zeros_(m.bias.data)


def build_synthesis_model(
    *, categories: list[dict] | None = None, num_classes: int | None = None, image_size: tuple[int, int] = (256, 512),
    num_upsampling_layers: str = "more", ngf: int = 64, spade_hidden: int = 128, panoptic_conv: bool = False,
    panoptic_upsample: bool = False, dontcare_label: bool = True, instance_edges: bool = True, ndf: int = 64,
    num_discriminators: int = 2, discriminator_layers: int = 4, lambda_feat: float = 10.0, lambda_vgg: float = 10.0,
    vgg_weights: str | Path | None = None, init_generator: str | Path | None = None,
    init_discriminator: str | Path | None = None,
) -> SynthesisGAN:
    """A SynthesisGAN whose label input has one channel per class (len(categories), or `num_classes`),
    a dontcare channel with `dontcare_label`, and SPADE's boundary channel with `instance_edges`.
    `vgg_weights=PATH` (torchvision's vgg19 layout, local; a bare name such as vgg19-dcbb9e9d.pth is
    looked up in PANBENCH_WEIGHTS, `none` = off) turns the perceptual loss on. `init_generator` /
    `init_discriminator` = a weights file (NVlabs/SPADE's latest_net_G.pth / latest_net_D.pth) starts
    G / D from it, loaded strictly (spade_weights.py; a run id is the synthesis task's)."""
    if (categories is None) == (num_classes is None):
        raise ConfigError("synthesis models need exactly one of `categories` and `num_classes`")
    classes = len(categories) if categories is not None else int(num_classes)
    if classes < 1:
        raise ConfigError(f"num_classes must be positive, got {classes}")
    channels = label_channels(classes, dontcare_label=dontcare_label, edges=instance_edges)
    try:
        generator = SPADEGenerator(channels, image_size=tuple(image_size), ngf=ngf,
                                   num_upsampling_layers=num_upsampling_layers, spade_hidden=spade_hidden,
                                   panoptic_conv=panoptic_conv, panoptic_upsample=panoptic_upsample)
    except ValueError as error:
        raise ConfigError(str(error)) from None
    discriminator = MultiscaleDiscriminator(channels + 3, ndf=ndf, n_layers=discriminator_layers,
                                            num_d=num_discriminators)
    init_spade_weights(generator)
    init_spade_weights(discriminator)
    for module, value, part in ((generator, init_generator, "generator"),
                                (discriminator, init_discriminator, "discriminator")):
        if not is_none(value):
            load_file(module, value, part)
    vgg = None if is_none(vgg_weights) else VGGLoss(load_vgg19_features(candidate_path(vgg_weights)))
    return SynthesisGAN(generator=generator, discriminator=discriminator, num_classes=classes,
                        dontcare_label=dontcare_label, instance_edges=instance_edges, lambda_feat=lambda_feat,
                        lambda_vgg=lambda_vgg, vgg=vgg)
