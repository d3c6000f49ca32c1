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
from harness.data.panoptic_format import mask_stats, segment_rows
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
    rows = segment_rows(ids, [int(seg["id"]) for seg in segments_info])  # pixel -> row of segments_info, -1 void
    undescribed = np.unique(ids[(rows < 0) & (ids != 0)]).tolist()
    if undescribed:
        raise DatasetError(source, f"segment ids {undescribed[:5]} are in the map but not in segments_info")
    present = np.bincount(rows[rows >= 0], minlength=len(segments_info)) > 0

    stuff_index = {t: s for s, t in enumerate(space.stuff_train_ids)}
    semantic_of, panoptic_of, instance_rows, labels = [], [], [], []
    for row, seg in enumerate(segments_info):  # one iteration per segment, never per pixel
        seg_id, category_id = int(seg["id"]), int(seg["category_id"])
        if category_id not in space.category_ids:
            raise DatasetError(source, f"segment {seg_id} has category {category_id}, which is not in categories")
        train_id = space.train_id_of(category_id)
        semantic_of.append(train_id)
        if not space.isthing[train_id]:
            panoptic_of.append(stuff_index[train_id])
        elif not seg.get("iscrowd", 0) and present[row]:  # absent (zero area): nothing to learn from
            panoptic_of.append(len(stuff_index) + len(instance_rows))
            instance_rows.append(row)
            labels.append(space.thing_label_of(category_id))
        else:
            panoptic_of.append(IGNORE_LABEL)

    masks = rows[None] == np.asarray(instance_rows, np.int64).reshape(-1, 1, 1)
    boxes = [mask_stats(mask)[1] for mask in masks]  # [x, y, w, h]
    return {
        "boxes": torch.tensor([[x, y, x + w, y + h] for x, y, w, h in boxes], dtype=torch.float32).reshape(-1, 4),
        "labels": torch.tensor(labels, dtype=torch.int64),
        "masks": torch.from_numpy(masks.astype(np.uint8)),
        "semantic": torch.from_numpy(np.append(np.asarray(semantic_of, np.int64), IGNORE_LABEL)[rows]),
        "panoptic_target": torch.from_numpy(np.append(np.asarray(panoptic_of, np.int64), IGNORE_LABEL)[rows]),
    }
