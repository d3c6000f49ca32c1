"""A model prediction -> the files evaluators read: a COCO-panoptic PNG id map with its annotation
(panopticapi / `harness.metrics.panoptic`), and COCO instance results with RLE masks
(pycocotools' `loadRes`, `harness.metrics.instances`)."""

from __future__ import annotations

from pathlib import PurePath
from typing import Any

import numpy as np

from harness.data.panoptic_format import segment_stats
from harness.metrics.instances import instances_to_predictions


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
    instances = {k: v.detach().cpu().numpy() for k, v in pred["instances"].items()}
    return ids, annotation, instances_to_predictions(image_id, instances["boxes"], instances["scores"],
                                                     instances["category_ids"], instances["masks"])
