"""Panoptic things as COCO instance annotations (RLE mask, mask area, mask bbox, `iscrowd` kept).

One converter shared by instance evaluation (harness.metrics.instances: COCOeval, where
crowd regions are ignore regions) and the dataset export for detectron2 / mmdetection (their
instance branches read a COCO *instances* JSON next to the panoptic one)."""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np
from pycocotools import mask as mask_utils


def encode_mask(mask: np.ndarray) -> dict:
    """COCO RLE of a boolean (H, W) mask, `counts` as str so it serialises to JSON."""
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(s) for s in rle["size"]], "counts": rle["counts"].decode("ascii")}


def thing_annotations(ids: np.ndarray, segments_info: Iterable[dict], thing_ids: set[int],
                      image_id: Any) -> list[dict]:
    """COCO instance annotations (no `id`: the caller numbers them across images) of the thing
    segments of one panoptic id map. A segment listed in the JSON but with no pixel is skipped: it
    has no mask to learn or evaluate."""
    annotations = []
    for seg in segments_info:
        if int(seg["category_id"]) not in thing_ids:
            continue
        mask = ids == int(seg["id"])
        if not mask.any():
            continue
        rle = encode_mask(mask)
        annotations.append({"image_id": image_id, "category_id": int(seg["category_id"]), "segmentation": rle,
                            "area": float(mask.sum()), "bbox": [float(v) for v in mask_utils.toBbox(rle)],
                            "iscrowd": int(seg.get("iscrowd", 0))})
    return annotations
