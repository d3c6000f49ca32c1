"""The detAP evaluator (synthesis paper Sec. 4: "Faster-RCNN with ResNet-50 backbone"):
torchvision's Faster R-CNN, so train mode is `forward(images, targets) -> dict of losses` and eval
mode `forward(images) -> [{"boxes", "labels", "scores"}]` (torchvision's detection convention;
images are (3, H, W) floats in [0, 1], targets need `boxes` xyxy and `labels` 1..K).

- paper scale: `fasterrcnn_resnet50_fpn(weights=None, weights_backbone=None)`, its state-dict
  names as torchvision's COCO checkpoints; weights only ever come from a local file;
- mini: the same Faster R-CNN on the mini panoptic models' narrow ResNet-FPN (`mini_resnet_fpn`),
  input size pinned to the 64x128 synthetic scenes and anchors, samples and head scaled to them."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from torchvision.models import resnet50
from torchvision.models.detection import FasterRCNN, FasterRCNN_ResNet50_FPN_Weights, fasterrcnn_resnet50_fpn
from torchvision.models.detection._utils import overwrite_eps
from torchvision.models.detection.backbone_utils import _resnet_fpn_extractor
from torchvision.ops.misc import FrozenBatchNorm2d
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead

from harness.models.backbones import mini_resnet_fpn
from harness.models.roi_align import fpn_poolers


def fasterrcnn_r50_fpn(*, num_classes: int) -> FasterRCNN:
    """torchvision's Faster R-CNN ResNet-50 FPN (v1), random init: nothing downloads."""
    return fasterrcnn_resnet50_fpn(weights=None, weights_backbone=None, num_classes=num_classes)


# torchvision's COCO_V1 file predates the FrozenBatchNorm2d eps fix (pytorch/vision#2933): its builder
# loads it into a FrozenBatchNorm2d backbone, then sets every frozen BatchNorm's eps to 0.0
COCO_V1_FILE = Path(FasterRCNN_ResNet50_FPN_Weights.COCO_V1.url).name
PUBLISHED_EPS = {COCO_V1_FILE: 0.0}


def published_eps(weights: str | Path) -> float | None:
    """The frozen-BatchNorm eps torchvision's builder gives the file `weights`, None for other files."""
    return PUBLISHED_EPS.get(Path(weights).name)


def fasterrcnn_r50_fpn_published(*, num_classes: int, eps: float) -> FasterRCNN:
    """torchvision's `fasterrcnn_resnet50_fpn` as it builds for published weights: FrozenBatchNorm2d
    (3 trainable layers), then `overwrite_eps(model, eps)` once loaded; load the file, then call
    `overwrite_eps` (frozen BatchNorm keeps eps in no state-dict entry, so loading resets nothing)."""
    backbone = _resnet_fpn_extractor(resnet50(weights=None, norm_layer=FrozenBatchNorm2d), 3)
    model = FasterRCNN(backbone, num_classes=num_classes)
    overwrite_eps(model, eps)
    return model


def fasterrcnn_mini(*, num_classes: int, widths: Sequence[int] = (16, 24, 32, 48), fpn_channels: int = 32,
                    min_size: int = 64, max_size: int = 128, anchor_sizes: Sequence[int] = (4, 8, 16, 32, 64),
                    representation_size: int = 128, rpn_batch_size_per_image: int = 64,
                    box_batch_size_per_image: int = 64, detections_per_img: int = 50) -> FasterRCNN:
    """A CPU Faster R-CNN: anchors 4..64 px on P2..P6 (the mini panoptic models' 8..128 at half
    their 128x256 input), few proposals and sampled regions, a 128-wide box head."""
    body = mini_resnet_fpn(widths=tuple(widths), fpn_channels=fpn_channels)
    anchors = AnchorGenerator(tuple((s,) for s in anchor_sizes), ((0.5, 1.0, 2.0),) * len(anchor_sizes))
    return FasterRCNN(
        body, num_classes=None, min_size=min_size, max_size=max_size, rpn_anchor_generator=anchors,
        rpn_pre_nms_top_n_train=300, rpn_post_nms_top_n_train=150, rpn_pre_nms_top_n_test=150,
        rpn_post_nms_top_n_test=75, rpn_batch_size_per_image=rpn_batch_size_per_image,
        box_head=TwoMLPHead(fpn_channels * 7 * 7, representation_size),
        box_predictor=FastRCNNPredictor(representation_size, num_classes),
        box_batch_size_per_image=box_batch_size_per_image, box_detections_per_img=detections_per_img,
        box_roi_pool=fpn_poolers()["box_roi_pool"])
