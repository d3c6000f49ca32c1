"""The weight files a model configuration needs, checked before a run starts (`panbench train`,
`panbench sweep`, and through them `make ... SCALE=full`), so a missing file is one line before any
data is prepared, not an error hours later, and no paper-scale ResNet trains from scratch unasked.

UPSNet and seamseg initialise their ResNet-50 / -101 from ImageNet: a paper-scale model (backbone
`r50` / `r101`) must name the weights (`model.options.backbone_weights=resnet50-0676ba61.pth`,
looked up in `PANBENCH_WEIGHTS`) or say `none` to train from scratch on purpose. A synthesis
model's VGG-19 file (`model.options.vgg_weights`) is optional (without it SPADE's perceptual loss
is off), but when named it must be there."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from harness.errors import ConfigError
from harness.models.backbones import BACKBONE_WEIGHTS_KEY, IMAGENET_FILES
from harness.models.registry import model_arguments
from harness.seeding import RUN_ID
from harness.weight_files import NO_WEIGHTS, VGG19_FILE, candidate_path, resolve_weight_file

VGG_WEIGHTS_KEY = "model.options.vgg_weights"
PAPER_BACKBONES = {"r50": 50, "r101": 101}


def required_weight_files(model_name: str, options: Mapping[str, Any]) -> dict[str, Path | None]:
    """{recipe key: the file it names (None: `none`, trained without on purpose)} for model
    `model_name` built with `options`; a ConfigError (one line, naming the file looked for) when a
    named file is missing or a paper-scale backbone names no weights at all."""
    arguments = model_arguments(model_name, **dict(options))
    files: dict[str, Path | None] = {}
    depth = PAPER_BACKBONES.get(str(arguments.get("backbone")))
    if depth is not None:
        value = arguments.get("backbone_weights")
        if value is None:
            expected = IMAGENET_FILES[depth]
            raise ConfigError(
                f"{BACKBONE_WEIGHTS_KEY} is not set: {model_name} trains a ResNet-{depth}, which UPSNet and "
                f"seamseg start from ImageNet; set {BACKBONE_WEIGHTS_KEY}={expected} (looked for at "
                f"{candidate_path(expected)}) or {BACKBONE_WEIGHTS_KEY}={NO_WEIGHTS} to train from scratch")
        files[BACKBONE_WEIGHTS_KEY] = resolve_weight_file(value, f"ImageNet ResNet-{depth} weights",
                                                          BACKBONE_WEIGHTS_KEY)
    if "vgg_weights" in arguments and arguments["vgg_weights"] is not None:
        files[VGG_WEIGHTS_KEY] = resolve_weight_file(arguments["vgg_weights"], f"VGG-19 weights ({VGG19_FILE})",
                                                     VGG_WEIGHTS_KEY)
    for option in ("init_generator", "init_discriminator"):  # a run id is the synthesis task's to find
        value = arguments.get(option)
        if value is not None and not RUN_ID.match(str(value)):
            key = f"model.options.{option}"
            files[key] = resolve_weight_file(value, f"{option.split('_')[1]} weights to start from", key)
    return files
