"""The one table of panoptic models (timm's habit: a name -> constructor-arguments table and one
door, `create_model`). Paper-scale entries follow UPSNet's and seamseg's Cityscapes configs;
`*-mini` entries are the CPU configuration: a narrow ResNet, FPN width 32, 128x256 inputs
(`min_size`/`max_size` pinned so torchvision does not rescale to 800 px), anchors scaled to the
small images, few sampled regions, a two-layer 32-channel mask head and a one-layer deformable
semantic subnet (torchvision's CPU `deform_conv2d` backward dominates a mini step; see
results/bench/train_step.json; `semantic_layers=2` restores UPSNet's depth). The synthesis models
(SPADE, panoptic SPADE) have their own table in `synthesis/entries.py`, and the evaluators of
synthesised images (segmenters, detectors) theirs in `evaluators/registry.py`, behind the same door."""

from __future__ import annotations

import inspect

from torch import nn

from harness.errors import ConfigError, nearest
from harness.models.builders import build_panoptic_model
from harness.models.evaluators.registry import EVALUATORS, create_evaluator
from harness.models.synthesis.entries import SYNTHESIS_MODELS, build_synthesis_model

PAPER_SCALE = dict(
    fpn_channels=256, min_size=(800, 832, 864, 896, 928, 960, 992, 1024), max_size=2048,  # UPSNet's train scales
)
MINI = dict(
    backbone="mini", mini_widths=(16, 24, 32, 48), fpn_channels=32, min_size=128, max_size=256,
    anchor_sizes=(8, 16, 32, 64, 128), rpn_pre_nms_top_n_train=300, rpn_post_nms_top_n_train=150,
    rpn_pre_nms_top_n_test=150, rpn_post_nms_top_n_test=75, rpn_batch_size_per_image=64,
    box_batch_size_per_image=64, box_representation_size=128, box_detections_per_img=30,
    mask_head_layers=(32, 32), semantic_channels=32, deeplab_pooling_size=(16, 16),
    semantic_layers=2,  # UPSNet's two: with panbench's CPU deform conv the second adds ~5-25 % to a 1-thread step
    stuff_area_limit=32,  # UPSNet's 2048 px at 1024x2048, scaled to 128x256
)

UPSNET = dict(  # UPSNet's config.py and upsnet_resnet50_cityscapes.yaml (the rest are torchvision's defaults)
    style="upsnet", semantic_loss_weight=1.0, panoptic_loss_weight=0.5, panoptic_box_keep_fraction=0.7,
    panoptic_score_thresh=0.6,
)
SEAMSEG = dict(  # seamseg's config/defaults/panoptic.ini: RPN, RoI sampling and NMS, OHEM, min stuff area
    style="sss", rpn_pre_nms_top_n_train=12000, rpn_post_nms_top_n_train=2000, rpn_pre_nms_top_n_test=6000,
    rpn_post_nms_top_n_test=300, box_batch_size_per_image=128, box_nms_thresh=0.3, semantic_ohem=0.25,
    stuff_area_limit=4096,
)

MODELS: dict[str, dict] = {
    "upsnet-mini": dict(MINI, **UPSNET),
    "upsnet-r50": dict(PAPER_SCALE, **UPSNET, backbone="r50", stuff_area_limit=2048),
    "upsnet-r101": dict(PAPER_SCALE, **UPSNET, backbone="r101", stuff_area_limit=2048),
    "sss-mini": dict(MINI, style="sss", box_nms_thresh=0.3, semantic_ohem=0.25, stuff_area_limit=64),  # 4096 px scaled
    "sss-r50": dict(PAPER_SCALE, **SEAMSEG, backbone="r50"),
    "sss-r101": dict(PAPER_SCALE, **SEAMSEG, backbone="r101"),
}


def list_models() -> list[str]:
    return sorted({**MODELS, **SYNTHESIS_MODELS, **EVALUATORS})


def model_family(name: str) -> str:
    """`panoptic`, `synthesis`, `segmenter` or `detector`: which task trains model `name`
    (harness/train/tasks/registry.py)."""
    if name in SYNTHESIS_MODELS:
        return "synthesis"
    if name in EVALUATORS:
        return EVALUATORS[name].kind
    if name in MODELS:
        return "panoptic"
    raise ConfigError(f"model {name!r} is unknown; choose one of {list_models()}" + _nearest(name, list_models()))


def _table(name: str) -> tuple[dict, object]:
    if name in EVALUATORS:
        return {name: EVALUATORS[name].arguments}, EVALUATORS[name].build
    return (SYNTHESIS_MODELS, build_synthesis_model) if name in SYNTHESIS_MODELS else (MODELS, build_panoptic_model)


def model_arguments(name: str, **overrides) -> dict:
    """The constructor arguments of model `name` with `overrides` applied (checked by name)."""
    table, builder = _table(name)
    if name not in table:
        raise ConfigError(f"model {name!r} is unknown; choose one of {list_models()}"
                          + _nearest(name, list_models()))
    given = {"categories", "num_classes"} if name in EVALUATORS else {"categories"}  # evaluators: from categories
    valid = set(inspect.signature(builder).parameters) - given
    for key in overrides:
        if key not in valid:
            raise ConfigError(f"model {name!r} has no argument {key!r}" + _nearest(key, valid))
    return {**table[name], **overrides}


def create_model(name: str, *, categories: list[dict] | None = None, **overrides) -> nn.Module:
    """Build model `name` for `categories` (COCO-panoptic category dicts, in train-id order; a
    synthesis model may take `num_classes=K` instead). `backbone_weights=FILE` / `vgg_weights=FILE`
    load ImageNet weights from local disk (a path, or torchvision's file name looked up in
    PANBENCH_WEIGHTS: harness.weight_files; `none` = without); nothing downloads."""
    arguments = model_arguments(name, **overrides)
    if categories is None and name not in SYNTHESIS_MODELS:
        raise ConfigError(f"model {name!r} needs `categories`")
    if name in EVALUATORS:
        return create_evaluator(name, categories=categories, **overrides)
    return _table(name)[1](categories=categories, **arguments)


def _nearest(word: str, choices) -> str:
    close = nearest(word, choices, n=3)
    return f" (did you mean {', '.join(close)}?)" if close else ""
