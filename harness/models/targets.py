"""COCO-panoptic ground truth -> the training targets of a panoptic Mask R-CNN.

Crowd regions (`iscrowd=1`, e.g. Cityscapes' `cargroup`) follow Cityscapes and UPSNet:
- they keep their class in `semantic` (Cityscapes' labelTrainIds give group regions their class),
- they are not instances (no box, no mask: Mask R-CNN learns from individual objects only),
- they are ignored (255) in `panoptic_target`: no single instance channel owns their pixels.
Void (id 0) is 255 everywhere."""

from __future__ import annotations

import numpy as np
import torch

from harness.data.categories import IGNORE_LABEL
from harness.errors import DatasetError
from harness.models.label_space import LabelSpace


def panoptic_to_targets(ids: np.ndarray, segments_info: list[dict], categories: list[dict], *,
                        source: str = "panoptic map") -> dict[str, torch.Tensor]:
    """Targets of one image (H, W segment ids, COCO `segments_info`, dataset `categories`):

    - `boxes` (N, 4) float xyxy in pixel-edge coordinates (COCO's x, y, x + w, y + h),
    - `labels` (N,) long thing labels 1..K (thing categories in category order),
    - `masks` (N, H, W) uint8,
    - `semantic` (H, W) long train ids (position in `categories`), 255 = void,
    - `panoptic_target` (H, W) long UPSNet panoptic classes: 0..S-1 stuff (stuff categories in
      order), S + i for instance i of `boxes`, 255 = void or crowd.
    Instances are the non-crowd thing segments present in `ids`, in `segments_info` order.
    `source` names the file in error messages."""
    ids = np.asarray(ids)
    if ids.ndim != 2:
        raise DatasetError(source, f"expected an (H, W) id map, got shape {ids.shape}")
    space = LabelSpace.from_categories(categories)
    height, width = ids.shape
    present, inverse = np.unique(ids.astype(np.int64), return_inverse=True)
    inverse = inverse.reshape(height, width)

    semantic_of = np.full(len(present), IGNORE_LABEL, np.int64)
    panoptic_of = np.full(len(present), IGNORE_LABEL, np.int64)
    described = set()
    instance_slots, labels = [], []
    stuff_index = {t: s for s, t in enumerate(space.stuff_train_ids)}
    for seg in segments_info:  # one iteration per segment, never per pixel
        seg_id, category_id = int(seg["id"]), int(seg["category_id"])
        if category_id not in space.category_ids:
            raise DatasetError(source, f"segment {seg_id} has category {category_id}, which is not in categories")
        described.add(seg_id)
        slot = int(np.searchsorted(present, seg_id))
        if slot == len(present) or present[slot] != seg_id:
            continue  # described but absent from the map (zero area): nothing to learn from
        train_id = space.train_id_of(category_id)
        semantic_of[slot] = train_id
        if not space.isthing[train_id]:
            panoptic_of[slot] = stuff_index[train_id]
        elif not seg.get("iscrowd", 0):
            panoptic_of[slot] = len(stuff_index) + len(instance_slots)
            instance_slots.append(slot)
            labels.append(space.thing_label_of(category_id))
    undescribed = sorted(set(present.tolist()) - described - {0})
    if undescribed:
        raise DatasetError(source, f"segment ids {undescribed[:5]} are in the map but not in segments_info")

    masks = inverse[None] == np.asarray(instance_slots, np.int64).reshape(-1, 1, 1)
    return {
        "boxes": _mask_boxes(masks),
        "labels": torch.tensor(labels, dtype=torch.int64),
        "masks": torch.from_numpy(masks.astype(np.uint8)),
        "semantic": torch.from_numpy(semantic_of[inverse]),
        "panoptic_target": torch.from_numpy(panoptic_of[inverse]),
    }


def _mask_boxes(masks: np.ndarray) -> torch.Tensor:
    """(N, H, W) bool -> (N, 4) xyxy pixel-edge boxes (x1, y1 exclusive), vectorised over masks."""
    if len(masks) == 0:
        return torch.zeros((0, 4), dtype=torch.float32)
    rows, cols = masks.any(axis=2), masks.any(axis=1)
    y0, x0 = rows.argmax(axis=1), cols.argmax(axis=1)
    y1 = masks.shape[1] - rows[:, ::-1].argmax(axis=1)
    x1 = masks.shape[2] - cols[:, ::-1].argmax(axis=1)
    return torch.from_numpy(np.stack([x0, y0, x1, y1], axis=1).astype(np.float32))
