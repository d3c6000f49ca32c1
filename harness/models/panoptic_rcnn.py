"""A panoptic network on torchvision's Mask R-CNN: the shared ResNet-FPN, RPN and RoI heads of
`torchvision.models.detection.MaskRCNN`, a semantic head on P2..P5, and a fusion rule (UPSNet's
panoptic head, or Seamless Scene Segmentation's heuristic). One class serves both papers' models;
`harness.models.builders` assembles it from plain arguments.

train: `model(images, targets)` -> weighted losses (Mask R-CNN's five, `loss_semantic`, and for
UPSNet `loss_panoptic`); eval: `model(images)` -> one prediction dict per image at input size."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.detection import MaskRCNN
from torchvision.models.detection.transform import resize_boxes

from harness.data.categories import IGNORE_LABEL
from harness.models.compose import compose_panoptic
from harness.models.heuristic_fusion import HeuristicFusion
from harness.models.label_space import LabelSpace
from harness.models.paste import paste_logits
from harness.models.upsample import resize_bilinear
from harness.models.upsnet_panoptic_head import UPSNetFusion, panoptic_logits, panoptic_training_target

SEMANTIC_LEVELS = ("0", "1", "2", "3")  # P2..P5 in torchvision's FPN naming


def masked_cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over non-ignored pixels; 0 (with a graph) when every pixel is ignored,
    where `F.cross_entropy` would return NaN."""
    total = F.cross_entropy(logits, target, ignore_index=IGNORE_LABEL, reduction="sum")
    return total / (target != IGNORE_LABEL).sum().clamp(min=1)


def ohem_cross_entropy(logits: torch.Tensor, target: torch.Tensor, fraction: float) -> torch.Tensor:
    """Seamless Scene Segmentation's semantic loss (seamseg `ohem = .25`): per image, the mean
    cross-entropy of the hardest `fraction` of its non-ignored pixels, averaged over images."""
    per_pixel = F.cross_entropy(logits, target, ignore_index=IGNORE_LABEL, reduction="none").flatten(1)
    valid = (target != IGNORE_LABEL).flatten(1).sum(dim=1)
    total = logits.new_zeros(())
    for losses, n in zip(per_pixel, valid.tolist()):  # ignored pixels have loss 0, so sort below the rest
        k = max(int(fraction * n + 0.999999), 1) if n else 0
        total = total + (losses.topk(k).values.mean() if k else losses.sum() * 0)
    return total / len(per_pixel)


class PanopticRCNN(nn.Module):
    def __init__(self, *, detector: MaskRCNN, semantic_head: nn.Module, label_space: LabelSpace,
                 fusion: UPSNetFusion | HeuristicFusion, semantic_loss_weight: float = 1.0,
                 semantic_ohem: float | None = None, stuff_area_limit: int = 2048):
        super().__init__()
        self.detector = detector
        self.semantic_head = semantic_head
        self.label_space = label_space
        self.fusion = fusion
        self.semantic_loss_weight = semantic_loss_weight
        self.semantic_ohem = semantic_ohem
        self.stuff_area_limit = stuff_area_limit
        self.register_buffer("label_to_train_id", label_space.label_to_train_id(), persistent=False)
        self.register_buffer("label_to_category_id", label_space.label_to_category_id(), persistent=False)
        for name in ("stuff_train_ids", "thing_train_ids"):
            self.register_buffer(name, torch.tensor(getattr(label_space, name), dtype=torch.long), persistent=False)

    def forward(self, images: list[torch.Tensor], targets: list[dict] | None = None):
        """images: list of (3, H, W) floats in 0..1; targets: `harness.models.targets` dicts."""
        if self.training:
            if targets is None:
                raise ValueError("training mode needs targets (see harness.models.targets.panoptic_to_targets)")
            return self.losses(images, targets)
        return self.predict(images)

    # --- shared pieces ------------------------------------------------------------------------
    def mask_logits(self, features: dict, boxes: list[torch.Tensor], labels: list[torch.Tensor],
                    image_sizes: list[tuple[int, int]]) -> list[torch.Tensor]:
        """Mask-head logits (N_i, M, M) of each image's boxes, for the given thing labels."""
        heads = self.detector.roi_heads
        if sum(len(b) for b in boxes) == 0:
            size = heads.mask_roi_pool.output_size[0] * 2
            return [b.new_zeros((0, size, size)) for b in boxes]
        x = heads.mask_predictor(heads.mask_head(heads.mask_roi_pool(features, boxes, image_sizes)))
        label = torch.cat(labels)
        x = x[torch.arange(len(label), device=x.device), label]
        return list(x.split([len(b) for b in boxes]))

    def semantic_logits(self, features: dict) -> torch.Tensor:
        return self.semantic_head([features[k] for k in SEMANTIC_LEVELS])

    # --- training -----------------------------------------------------------------------------
    def losses(self, images: list[torch.Tensor], targets: list[dict]) -> dict[str, torch.Tensor]:
        det_targets = [{k: t[k] for k in ("boxes", "labels", "masks")} for t in targets]
        image_list, det_targets = self.detector.transform(images, det_targets)
        padded = image_list.tensors.shape[-2:]
        features = self.detector.backbone(image_list.tensors)
        proposals, rpn_losses = self.detector.rpn(image_list, features, det_targets)
        _, roi_losses = self.detector.roi_heads(features, proposals, image_list.image_sizes, det_targets)
        losses = {**rpn_losses, **roi_losses}

        semantic = self.semantic_logits(features)
        semantic_target = dense_targets([t["semantic"] for t in targets], image_list.image_sizes, padded)
        full = resize_bilinear(semantic, padded)
        semantic_loss = ohem_cross_entropy(full, semantic_target, self.semantic_ohem) if self.semantic_ohem \
            else masked_cross_entropy(full, semantic_target)
        losses["loss_semantic"] = self.semantic_loss_weight * semantic_loss
        if self.fusion.trains_panoptic:
            panoptic_target = dense_targets([t["panoptic_target"] for t in targets], image_list.image_sizes, padded)
            losses["loss_panoptic"] = self.fusion.loss_weight * self.panoptic_loss(
                features, semantic, det_targets, panoptic_target, image_list.image_sizes)
        return losses

    def panoptic_loss(self, features: dict, semantic: torch.Tensor, det_targets: list[dict],
                      panoptic_target: torch.Tensor, image_sizes: list[tuple[int, int]]) -> torch.Tensor:
        """UPSNet's panoptic cross-entropy at the semantic head's stride (its `seg_gt_4x`): during
        training the instance channels come from the *ground-truth* boxes and classes, a random
        `box_keep_fraction` of them kept and the rest taught as "unknown"."""
        height, width = semantic.shape[-2:]
        stride = panoptic_target.shape[-1] // width
        target = F.interpolate(panoptic_target[:, None].float(), size=(height, width), mode="nearest-exact")[:, 0].long()
        keeps = [keep_subset(len(t["boxes"]), self.fusion.box_keep_fraction, t["boxes"].device) for t in det_targets]
        boxes = [t["boxes"][k] for t, k in zip(det_targets, keeps)]
        labels = [t["labels"][k] for t, k in zip(det_targets, keeps)]
        mask_logits = self.mask_logits(features, boxes, labels, image_sizes)
        total = semantic.new_zeros(())
        for i in range(len(det_targets)):
            pasted = paste_logits(mask_logits[i], boxes[i], height, width, stride)
            logits = panoptic_logits(semantic[i], pasted, boxes[i], self.label_to_train_id[labels[i]],
                                     self.stuff_train_ids, self.thing_train_ids,
                                     with_unknown=self.fusion.with_unknown, stride=stride)
            image_target = panoptic_training_target(target[i], keeps[i], num_stuff=len(self.stuff_train_ids),
                                                    num_instances=len(det_targets[i]["boxes"]))
            total = total + masked_cross_entropy(logits[None], image_target[None])
        return total / len(det_targets)

    # --- inference ----------------------------------------------------------------------------
    @torch.no_grad()
    def predict(self, images: list[torch.Tensor]) -> list[dict]:
        original_sizes = [tuple(img.shape[-2:]) for img in images]
        image_list, _ = self.detector.transform(images)
        sizes = image_list.image_sizes
        features = self.detector.backbone(image_list.tensors)
        proposals, _ = self.detector.rpn(image_list, features)
        heads = self.detector.roi_heads
        class_logits, box_regression = heads.box_predictor(heads.box_head(heads.box_roi_pool(features, proposals, sizes)))
        boxes, scores, labels = heads.postprocess_detections(class_logits, box_regression, proposals, sizes)
        mask_logits = self.mask_logits(features, boxes, labels, sizes)
        semantic = resize_bilinear(self.semantic_logits(features), image_list.tensors.shape[-2:])
        return [self.predict_one(semantic[i, :, :h, :w], boxes[i], scores[i], labels[i], mask_logits[i], (h, w),
                                 original_sizes[i]) for i, (h, w) in enumerate(sizes)]

    def predict_one(self, semantic: torch.Tensor, boxes: torch.Tensor, scores: torch.Tensor, labels: torch.Tensor,
                    mask_logits: torch.Tensor, size: tuple[int, int], original_size: tuple[int, int]) -> dict:
        height, width = original_size
        if tuple(size) != tuple(original_size):
            semantic = F.interpolate(semantic[None], size=original_size, mode="bilinear", align_corners=False)[0]
            boxes = resize_boxes(boxes, size, original_size)
        pasted = paste_logits(mask_logits, boxes, height, width)
        instance_map, stuff_map = self.fusion.assign(
            semantic, boxes, scores, labels, pasted, label_to_train_id=self.label_to_train_id,
            stuff_train_ids=self.stuff_train_ids, thing_train_ids=self.thing_train_ids)
        probabilities = semantic.softmax(dim=0)
        stuff_scores = probabilities.gather(0, stuff_map.clamp(min=0)[None])[0]
        category_ids = self.label_to_category_id[labels]
        panoptic, segments = compose_panoptic(
            instance_map, stuff_map, stuff_scores, instance_category_ids=category_ids, instance_scores=scores,
            category_ids=self.label_space.category_ids, stuff_area_limit=self.stuff_area_limit)
        return {"panoptic": panoptic, "segments_info": segments, "semantic": probabilities.argmax(dim=0),
                "instances": {"boxes": boxes, "scores": scores, "category_ids": category_ids, "masks": pasted > 0}}


def keep_subset(n: int, fraction: float, device: torch.device) -> torch.Tensor:
    """Sorted random subset of max(1, floor(n * fraction)) of n indices (all when fraction >= 1),
    drawn from torch's RNG so a resumed run draws the same subsets."""
    if n == 0 or fraction >= 1:
        return torch.arange(n, device=device)
    return torch.randperm(n)[: max(int(n * fraction), 1)].sort().values.to(device)


def dense_targets(maps: list[torch.Tensor], sizes: list[tuple[int, int]], padded: torch.Size) -> torch.Tensor:
    """Per-pixel targets resized (nearest) to the transformed image sizes and padded with 255 into
    one (B, H, W) batch, matching `GeneralizedRCNNTransform`'s padded image tensor."""
    batch = maps[0].new_full((len(maps), *padded), IGNORE_LABEL, dtype=torch.long)
    for i, (target, (h, w)) in enumerate(zip(maps, sizes)):
        if tuple(target.shape) != (h, w):
            target = F.interpolate(target[None, None].float(), size=(h, w), mode="nearest")[0, 0]
        batch[i, :h, :w] = target.long()
    return batch
