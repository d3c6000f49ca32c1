"""A model prediction -> the files evaluators read: a COCO-panoptic PNG id map with its annotation
(panopticapi / `harness.metrics.panoptic`), and COCO instance results with RLE masks
(pycocotools' `loadRes`, `harness.metrics.instances`)."""

from __future__ import annotations

from pathlib import PurePath
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

from harness.data.panoptic_format import segment_stats


def prediction_to_coco(pred: dict, image_id: Any, file_name: str) -> tuple[np.ndarray, dict, list[dict]]:
    """One eval-mode prediction -> (ids (H, W) uint32 for `id2rgb`, the panoptic annotation
    {image_id, file_name (.png), segments_info with area / bbox recomputed from the map, iscrowd 0
    and the model's score}, instance results [{image_id, category_id, score, bbox xywh,
    segmentation RLE with str counts}])."""
    ids = pred["panoptic"].detach().cpu().numpy().astype(np.uint32)
    stats = segment_stats(ids)
    segments = [{"id": int(s["id"]), "category_id": int(s["category_id"]), "area": stats[s["id"]][0],
                 "bbox": stats[s["id"]][1], "iscrowd": 0, "score": float(s["score"])}
                for s in pred["segments_info"] if s["id"] in stats]
    annotation = {"image_id": image_id, "file_name": str(PurePath(file_name).with_suffix(".png")),
                  "segments_info": segments}
    return ids, annotation, instance_results(pred["instances"], image_id)


def instance_results(instances: dict, image_id: Any) -> list[dict]:
    """COCO detection results with RLE-encoded masks (pycocotools' own encoder)."""
    masks = instances["masks"].detach().cpu().numpy().astype(np.uint8)
    if len(masks) == 0:
        return []
    rles = mask_utils.encode(np.asfortranarray(masks.transpose(1, 2, 0)))
    boxes = instances["boxes"].detach().cpu().numpy().astype(float)
    xywh = np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1)
    return [{"image_id": image_id, "category_id": int(c), "score": float(s), "bbox": [round(v, 2) for v in box.tolist()],
             "segmentation": {"size": [int(x) for x in rle["size"]], "counts": rle["counts"].decode("ascii")}}
            for c, s, box, rle in zip(instances["category_ids"].tolist(), instances["scores"].tolist(), xywh, rles)]
