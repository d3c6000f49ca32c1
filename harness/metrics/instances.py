"""Instance metrics through pycocotools' COCOeval: mask AP and box AP @[.5:.95] (PanDA Tables 1-2
"AP" and "APbox"), AP50, AP75 and per class; detAP of the synthesis paper (Sec. 4, "Performance
Metrics") is the box AP of a detector run on synthesised images against the ground-truth boxes.

Panoptic ground-truth things become COCO instances (RLE masks, mask area, mask bbox, `iscrowd`
kept, so crowd regions are COCO ignore regions); stuff is not part of instance evaluation. Image
ids, which may be strings (Cityscapes names), are mapped to integers for pycocotools."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Any

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from harness.data.coco_instances import encode_mask, thing_annotations
from harness.data.images import read_ids
from harness.data.paths import confined
from harness.data.schema import read_panoptic_json
from harness.errors import DatasetError
from harness.progress import track


def coco_ground_truth(gt_json: str | Path, gt_dir: str | Path, progress: bool = False,
                      allow_outside_links: bool = False) -> tuple[dict, dict]:
    """(COCO instance dataset dict, {panoptic image_id: integer COCO image id}) of the things."""
    gt = read_panoptic_json(gt_json, ground_truth=True)
    things = [c for c in gt["categories"] if int(c.get("isthing", 0)) == 1]
    thing_ids = {int(c["id"]) for c in things}
    images, annotations, id_map = [], [], {}
    for k, ann in enumerate(track(gt["annotations"], "instances", disable=not progress), start=1):
        id_map[ann["image_id"]] = k
        label = confined(gt_dir, ann["file_name"], source=gt_json, entry=f"annotation of image {ann['image_id']!r}",
                         allow_outside_links=allow_outside_links)
        ids = read_ids(label)
        images.append({"id": k, "height": int(ids.shape[0]), "width": int(ids.shape[1])})
        for instance in thing_annotations(ids, ann["segments_info"], thing_ids, k):
            annotations.append({"id": len(annotations) + 1, **instance})
    return {"images": images, "annotations": annotations, "categories": things}, id_map


def _coco(dataset: dict) -> COCO:
    coco = COCO()
    coco.dataset = dataset
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def _results(predictions: list[dict], coco_gt: COCO, id_map: dict, kind: str, source: str) -> list[dict]:
    thing_ids = set(coco_gt.getCatIds())
    out = []
    for p in predictions:
        if p["image_id"] not in id_map:
            raise DatasetError(source, f"prediction for image {p['image_id']!r}, which is not in the ground truth")
        if int(p["category_id"]) not in thing_ids:  # COCOeval would silently drop it
            raise DatasetError(source, f"prediction for image {p['image_id']!r} has category_id {p['category_id']}, "
                                       f"not a thing category of the ground truth {sorted(thing_ids)}")
        entry = {"image_id": id_map[p["image_id"]], "category_id": int(p["category_id"]), "score": float(p["score"])}
        if kind == "segm":
            entry["segmentation"] = p["segmentation"]
        else:
            entry["bbox"] = [float(v) for v in p["bbox"]]
        out.append(entry)
    return out


def coco_ap(coco_gt: COCO, results: list[dict], kind: str) -> dict[str, Any]:
    """COCOeval (`segm` or `bbox`): AP, AP50, AP75 and per-class AP in percent. Classes without
    ground truth are None; with no prediction at all every class with ground truth scores 0."""
    cat_ids = sorted(coco_gt.getCatIds())
    if not results:
        has_gt = {c: any(not a["iscrowd"] for a in coco_gt.loadAnns(coco_gt.getAnnIds(catIds=[c]))) for c in cat_ids}
        per_class = {c: (0.0 if has_gt[c] else None) for c in cat_ids}
        return {"ap": 0.0, "ap50": 0.0, "ap75": 0.0, "per_class": per_class} if any(has_gt.values()) else \
            {"ap": None, "ap50": None, "ap75": None, "per_class": per_class}
    with contextlib.redirect_stdout(io.StringIO()):
        evaluator = COCOeval(coco_gt, coco_gt.loadRes(results), kind)
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    precision = evaluator.eval["precision"]  # [iou thr, recall, class, area range, max dets]
    per_class = {}
    for k, cat in enumerate(evaluator.params.catIds):
        p = precision[:, :, k, 0, -1]
        per_class[int(cat)] = 100.0 * float(p[p > -1].mean()) if (p > -1).any() else None

    def pct(v: float) -> float | None:
        return None if v < 0 else 100.0 * float(v)

    return {"ap": pct(evaluator.stats[0]), "ap50": pct(evaluator.stats[1]), "ap75": pct(evaluator.stats[2]),
            "per_class": per_class}


def evaluate_instances(gt_json: str | Path, gt_dir: str | Path, predictions: list[dict],
                       source: str = "predictions", progress: bool = False,
                       allow_outside_links: bool = False) -> dict[str, Any]:
    """Mask and box AP of scored instances `{"image_id", "category_id", "score", "bbox": [x, y, w, h],
    "segmentation": RLE}`: keys `ap ap50 ap75` (masks; None if no prediction has a mask),
    `ap_box ap_box50 ap_box75`, and `per_class {category_id: {ap, ap_box}}`, in percent.

    Box AP uses the predicted boxes, not boxes derived from the masks (COCO's `loadRes` would
    replace them), as detectron2 reports it."""
    dataset, id_map = coco_ground_truth(gt_json, gt_dir, progress, allow_outside_links)
    coco_gt = _coco(dataset)
    box = coco_ap(coco_gt, _results(predictions, coco_gt, id_map, "bbox", source), "bbox")
    with_masks = [p for p in predictions if "segmentation" in p]
    if len(with_masks) != len(predictions) and with_masks:
        raise DatasetError(source, "some predictions have a segmentation and some do not")
    segm = (coco_ap(coco_gt, _results(with_masks, coco_gt, id_map, "segm", source), "segm")
            if with_masks or not predictions else {"ap": None, "ap50": None, "ap75": None, "per_class": {}})
    return {"ap": segm["ap"], "ap50": segm["ap50"], "ap75": segm["ap75"],
            "ap_box": box["ap"], "ap_box50": box["ap50"], "ap_box75": box["ap75"],
            "per_class": {c: {"ap": segm["per_class"].get(c), "ap_box": box["per_class"][c]} for c in box["per_class"]}}


def det_ap(gt_json: str | Path, gt_dir: str | Path, detections: list[dict], source: str = "detections") -> float | None:
    """detAP (synthesis paper, Table 1): box AP @[.5:.95] in percent of `{"image_id", "category_id",
    "score", "bbox": [x, y, w, h]}` detections against the ground-truth thing boxes."""
    dataset, id_map = coco_ground_truth(gt_json, gt_dir)
    coco_gt = _coco(dataset)
    return coco_ap(coco_gt, _results(detections, coco_gt, id_map, "bbox", source), "bbox")["ap"]


def instances_to_predictions(image_id: Any, boxes_xyxy: np.ndarray, scores: np.ndarray, category_ids: np.ndarray,
                             masks: np.ndarray | None = None) -> list[dict]:
    """A model's instance output for one image (numpy arrays; masks bool N x H x W) -> COCO results:
    bbox [x, y, w, h] to 0.01 px, masks as RLE with str counts."""
    boxes = np.asarray(boxes_xyxy, np.float64).reshape(-1, 4)
    xywh = np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1)
    preds = [{"image_id": image_id, "category_id": int(c), "score": float(s), "bbox": [round(v, 2) for v in box]}
             for c, s, box in zip(np.asarray(category_ids).tolist(), np.asarray(scores).tolist(), xywh.tolist())]
    if masks is not None:
        for p, mask in zip(preds, masks):
            p["segmentation"] = encode_mask(np.asarray(mask, bool))
    return preds
