"""Where pretrained weight files are found: one convention for every file panbench reads.

A value naming weights is one of:

- a path to an existing file (absolute, or relative to the working directory): used as given;
- a bare file name, e.g. torchvision's `resnet50-0676ba61.pth`: looked up in the folder named by
  `PANBENCH_WEIGHTS`, by default torch hub's checkpoint folder (`$TORCH_HOME/hub/checkpoints`,
  where torchvision and torch-fidelity put the files they download, so a machine that ever
  fetched them has them already);
- `none`: no file, on purpose (train from scratch, perceptual loss off).

Nothing is ever downloaded; a missing file is one line naming the path looked for and where to get
the file. `KNOWN_FILES` lists the files panbench's recipes and evaluators use, under their
publishers' own names. Reading a found file is `harness.weights`' (weights_only=True)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path, PurePath

import torch

from harness.errors import ConfigError

WEIGHTS_ENV = "PANBENCH_WEIGHTS"
NO_WEIGHTS = "none"


@dataclass(frozen=True)
class WeightFile:
    name: str  # the publisher's file name (what `PANBENCH_WEIGHTS/<name>` holds)
    what: str
    used_by: str  # the recipe key or command option that names it
    source: str  # where to download it once, on a machine with internet
    sha256_prefix: str | None = None  # what the publisher states of its bytes (torch hub: in the name)


RESNET50_FILE = "resnet50-0676ba61.pth"  # torchvision ResNet50_Weights.IMAGENET1K_V1
RESNET101_FILE = "resnet101-63fe2227.pth"  # torchvision ResNet101_Weights.IMAGENET1K_V1
VGG19_FILE = "vgg19-dcbb9e9d.pth"  # torchvision VGG19_Weights.IMAGENET1K_V1
INCEPTION_FILE = "weights-inception-2015-12-05-6726825d.pth"  # torch-fidelity's FID Inception
INCEPTION_URL = "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/" + INCEPTION_FILE
TORCHVISION = "https://download.pytorch.org/models/"

KNOWN_FILES: dict[str, WeightFile] = {f.name: f for f in (
    WeightFile(RESNET50_FILE, "ResNet-50, ImageNet (torchvision IMAGENET1K_V1)",
               "model.options.backbone_weights of upsnet-r50 / sss-r50 (PanDA Tables 1, 2, 4)",
               TORCHVISION + RESNET50_FILE, "0676ba61"),
    WeightFile(RESNET101_FILE, "ResNet-101, ImageNet (torchvision IMAGENET1K_V1)",
               "model.options.backbone_weights of upsnet-r101 / sss-r101 (PanDA Table 1)",
               TORCHVISION + RESNET101_FILE, "63fe2227"),
    WeightFile(VGG19_FILE, "VGG-19, ImageNet (torchvision IMAGENET1K_V1)",
               "model.options.vgg_weights of the synthesis models (SPADE's perceptual loss)",
               TORCHVISION + VGG19_FILE, "dcbb9e9d"),
    WeightFile(INCEPTION_FILE, "Inception-v3 of TF-FID (torch-fidelity)",
               "FID / KID: `evaluate fid --weights`, `evaluate synthesis --fid-weights`",
               INCEPTION_URL, "6726825d"),
    WeightFile("drn-d-105_ms_cityscapes.pth", "DRN-D-105 Cityscapes segmenter (fyu/drn)",
               "Cityscapes mIoU / accuracy: `evaluate synthesis --segmenter` (synthesis Table 1)",
               "fyu/drn README, pretrained models"),
    WeightFile("deeplabv2_resnet101_msc-cocostuff164k-100000.pth", "DeepLab-v2 COCO-Stuff segmenter",
               "COCO-Stuff mIoU / accuracy: `evaluate synthesis --segmenter` (synthesis Table 2)",
               "kazuto1011/deeplab-pytorch releases"),
    WeightFile("fasterrcnn_resnet50_fpn_coco-258fb6c6.pth", "Faster R-CNN R50-FPN, COCO (torchvision)",
               "detAP: `evaluate synthesis --detector`",
               TORCHVISION + "fasterrcnn_resnet50_fpn_coco-258fb6c6.pth", "258fb6c6"),
)}


def weights_folder() -> Path:
    """`$PANBENCH_WEIGHTS`, else torch hub's checkpoint folder."""
    value = os.environ.get(WEIGHTS_ENV, "").strip()
    return Path(value).expanduser() if value else Path(torch.hub.get_dir()) / "checkpoints"


def is_none(value: object) -> bool:
    """True for an unset value (None) and for the explicit `none`."""
    return value is None or (isinstance(value, str) and value.strip().lower() == NO_WEIGHTS)


def is_bare_name(value: str | os.PathLike) -> bool:
    """A file name without a folder part: looked up in the weights folder."""
    return len(PurePath(value).parts) == 1 and not PurePath(value).is_absolute()


def candidate_path(value: str | os.PathLike) -> Path:
    """The file `value` names: itself when it exists or has a folder part, else the weights folder's."""
    path = Path(value).expanduser()
    if path.is_file() or not is_bare_name(value):
        return path
    return weights_folder() / str(value)


def missing_message(value: str | os.PathLike, what: str, key: str | None = None) -> str:
    """One line: the file looked for, how to provide it, and how to go without it."""
    path = candidate_path(value)
    known = KNOWN_FILES.get(path.name)
    get = f"; download it once from {known.source}" if known else ""
    where = (f" ({WEIGHTS_ENV}={weights_folder()})" if is_bare_name(value) and not Path(value).is_file() else "")
    without = f", or set {key}={NO_WEIGHTS} to go without" if key else ""
    return f"{path}: {what} file is missing{where}{get}{without}"


def resolve_weight_file(value: str | os.PathLike | None, what: str, key: str | None = None) -> Path | None:
    """The weights file `value` names (see the module docstring), None for None / `none`; a
    missing file is a ConfigError naming the path looked for (`key`: the setting to mention)."""
    if is_none(value):
        return None
    path = candidate_path(value)
    if not path.is_file():
        raise ConfigError(missing_message(value, what, key))
    return path
