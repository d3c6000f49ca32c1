"""The detAP evaluator (synthesis paper Sec. 4: "Faster-RCNN with ResNet-50 backbone"):
torchvision's Faster R-CNN, so train mode is `forward(images, targets) -> dict of losses` and eval
mode `forward(images) -> [{"boxes", "labels", "scores"}]` (torchvision's detection convention;
images are (3, H, W) floats in [0, 1], targets need `boxes` xyxy and `labels` 1..K).

- paper scale: `fasterrcnn_resnet50_fpn(weights=None, weights_backbone=None)`, its state-dict
  names as torchvision's COCO checkpoints; weights only ever come from a local file;
- mini: the same Faster R-CNN on the mini panoptic models' narrow ResNet-FPN (`mini_resnet_fpn`),
  input size pinned to the 64x128 synthetic scenes and anchors, samples and head scaled to them."""

from __future__ import annotations

from typing import Sequence

from torchvision.models.detection import FasterRCNN, fasterrcnn_resnet50_fpn
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead

from harness.models.backbones import mini_resnet_fpn


def fasterrcnn_r50_fpn(*, num_classes: int) -> FasterRCNN:
    """torchvision's Faster R-CNN ResNet-50 FPN (v1), random init: nothing downloads."""
    return fasterrcnn_resnet50_fpn(weights=None, weights_backbone=None, num_classes=num_classes)


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
        box_batch_size_per_image=box_batch_size_per_image, box_detections_per_img=detections_per_img)
