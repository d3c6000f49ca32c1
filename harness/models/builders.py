"""Assemble a `PanopticRCNN` from plain keyword arguments (detectron2's habit: every block is
usable without a config system; `registry.py` maps model names onto these arguments)."""

from __future__ import annotations

from pathlib import Path

from torchvision.models.detection import MaskRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor

from harness.errors import ConfigError
from harness.models.backbones import mini_resnet_fpn, resnet_fpn
from harness.models.heuristic_fusion import HeuristicFusion
from harness.models.label_space import LabelSpace
from harness.models.panoptic_rcnn import PanopticRCNN
from harness.models.rcnn_transform import RCNNTransform
from harness.models.roi_align import fpn_poolers
from harness.models.semantic_heads import DeformableSemanticHead, MiniDeepLabSemanticHead
from harness.models.upsnet_panoptic_head import UPSNetFusion

STYLES = ("upsnet", "sss")


def build_panoptic_model(
    *, categories: list[dict], style: str, backbone: str,
    backbone_weights: str | Path | None = None, mini_widths: tuple[int, ...] = (16, 24, 32, 48), fpn_channels: int = 256,
    min_size: int | tuple[int, ...] = 1024, max_size: int = 2048,
    anchor_sizes: tuple[int, ...] = (32, 64, 128, 256, 512), anchor_ratios: tuple[float, ...] = (0.5, 1.0, 2.0),
    rpn_pre_nms_top_n_train: int = 2000, rpn_post_nms_top_n_train: int = 2000,
    rpn_pre_nms_top_n_test: int = 1000, rpn_post_nms_top_n_test: int = 1000, rpn_batch_size_per_image: int = 256,
    box_batch_size_per_image: int = 512, box_representation_size: int = 1024, box_detections_per_img: int = 100,
    box_score_thresh: float = 0.05, box_nms_thresh: float = 0.5, mask_head_layers: tuple[int, ...] = (256, 256, 256, 256),
    semantic_channels: int = 128, semantic_layers: int = 2, deeplab_dilation: int = 6,
    deeplab_pooling_size: tuple[int, int] = (64, 64), semantic_loss_weight: float = 1.0, semantic_ohem: float | None = None,
    panoptic_loss_weight: float = 0.5, panoptic_box_keep_fraction: float = 0.7, panoptic_score_thresh: float = 0.5,
    fusion_overlap_thresh: float = 0.5, stuff_area_limit: int = 2048,
) -> PanopticRCNN:
    """`style`: "upsnet" (deformable semantic head + UPSNet panoptic head) or "sss" (mini-DeepLab
    semantic head + heuristic fusion); `backbone`: "r50", "r101" or "mini"."""
    if style not in STYLES:
        raise ConfigError(f"model style {style!r} is unknown; choose one of {STYLES}")
    space = LabelSpace.from_categories(categories)
    if backbone == "mini":
        body = mini_resnet_fpn(widths=tuple(mini_widths), fpn_channels=fpn_channels)
    elif backbone in ("r50", "r101"):
        body = resnet_fpn(int(backbone[1:]), fpn_channels=fpn_channels, weights_path=backbone_weights)
    else:
        raise ConfigError(f"backbone {backbone!r} is unknown; choose one of ('mini', 'r50', 'r101')")

    num_classes = space.num_things + 1
    mask_dim = mask_head_layers[-1]
    detector = MaskRCNN(
        body, num_classes=None, min_size=min_size, max_size=max_size,
        rpn_anchor_generator=AnchorGenerator(tuple((s,) for s in anchor_sizes), (tuple(anchor_ratios),) * len(anchor_sizes)),
        rpn_pre_nms_top_n_train=rpn_pre_nms_top_n_train, rpn_post_nms_top_n_train=rpn_post_nms_top_n_train,
        rpn_pre_nms_top_n_test=rpn_pre_nms_top_n_test, rpn_post_nms_top_n_test=rpn_post_nms_top_n_test,
        rpn_batch_size_per_image=rpn_batch_size_per_image,
        box_head=TwoMLPHead(fpn_channels * 7 * 7, box_representation_size),
        box_predictor=FastRCNNPredictor(box_representation_size, num_classes),
        box_batch_size_per_image=box_batch_size_per_image, box_detections_per_img=box_detections_per_img,
        box_score_thresh=box_score_thresh, box_nms_thresh=box_nms_thresh,
        mask_head=MaskRCNNHeads(fpn_channels, tuple(mask_head_layers), 1),
        mask_predictor=MaskRCNNPredictor(mask_dim, mask_dim, num_classes), **fpn_poolers(),
    )
    detector.transform = RCNNTransform(min_size, max_size, detector.transform.image_mean, detector.transform.image_std)
    if style == "upsnet":
        semantic = DeformableSemanticHead(in_channels=fpn_channels, num_classes=space.num_classes,
                                          hidden_channels=semantic_channels, num_layers=semantic_layers)
        fusion = UPSNetFusion(score_thresh=panoptic_score_thresh, box_keep_fraction=panoptic_box_keep_fraction,
                              loss_weight=panoptic_loss_weight,
                              with_unknown=panoptic_box_keep_fraction < 1)  # as UPSNet's `enable_void`
    else:
        semantic = MiniDeepLabSemanticHead(in_channels=fpn_channels, num_classes=space.num_classes,
                                           hidden_channels=semantic_channels, dilation=deeplab_dilation,
                                           pooling_size=tuple(deeplab_pooling_size))
        fusion = HeuristicFusion(score_thresh=panoptic_score_thresh, overlap_thresh=fusion_overlap_thresh)
    return PanopticRCNN(detector=detector, semantic_head=semantic, label_space=space, fusion=fusion,
                        semantic_loss_weight=semantic_loss_weight, semantic_ohem=semantic_ohem,
                        stuff_area_limit=stuff_area_limit)

