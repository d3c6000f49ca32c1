"""Instance metrics through COCOeval: mask AP and box AP @[.5:.95] (PanDA Tables 1-2 "AP" and
"APbox"), AP50, AP75 and per class; detAP of the synthesis paper (Sec. 4, "Performance Metrics") is
the box AP of a detector run on synthesised images against the ground-truth boxes.

Panoptic ground-truth things become COCO instances (RLE masks, mask area, mask bbox, `iscrowd`
kept, so crowd regions are COCO ignore regions); stuff is not part of instance evaluation. Image
ids, which may be strings (Cityscapes names), are mapped to integers for COCOeval.

Two engines (`engine=`, `panbench evaluate instances --engine`; harness.metrics.engines.coco_eval):
`hotcoco` (the default), with the ground truth's instances from the per-dataset cache
(harness.metrics.engines.gt_cache), and `pycocotools`, the reference, which converts the ground
truth afresh on every call. Both give identical numbers and errors (tests/test_metrics_engine_coco.py)."""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from harness.data.coco_instances import encode_mask, thing_annotations, thing_instances
from harness.data.images import read_ids
from harness.data.paths import confined
from harness.data.schema import read_panoptic_json
from harness.errors import DatasetError
from harness.metrics.engines import COCO_ENGINES
from harness.metrics.engines.coco_eval import check_engine, coco_stats, engine_parts, runnable
from harness.metrics.engines.gt_cache import PngRecords, digest
from harness.progress import track
from harness.threads import rayon_threads, usable_cpus

DEFAULT_ENGINE = COCO_ENGINES[0]
NO_MASKS = {"ap": None, "ap50": None, "ap75": None, "per_class": {}}


def image_instances(label: Path, segments_info: list[dict], thing_ids: set[int], reference: bool = False) -> dict:
    """One ground-truth image's size and thing instances (no image id: the caller numbers them), from
    its runs (`thing_instances`) or, for the `reference` path, mask by mask through pycocotools."""
    ids = read_ids(label)
    instances = ([{k: v for k, v in a.items() if k != "image_id"}
                  for a in thing_annotations(ids, segments_info, thing_ids, None)] if reference
                 else thing_instances(ids, segments_info, thing_ids))
    return {"height": int(ids.shape[0]), "width": int(ids.shape[1]), "instances": instances}


def valid_image_record(record: Any) -> bool:
    """The shape `image_instances` gives (a cached record is data: checked before it is used)."""
    return (isinstance(record, dict) and type(record.get("height")) is int and type(record.get("width")) is int
            and isinstance(record.get("instances"), list)
            and all(isinstance(i, dict) and {"category_id", "segmentation", "area", "bbox", "iscrowd"} <= i.keys()
                    for i in record["instances"]))


def coco_ground_truth(gt_json: str | Path, gt_dir: str | Path, progress: bool = False,
                      allow_outside_links: bool = False, *, cached: bool = False,
                      cache_dir: str | Path | None = None) -> tuple[dict, dict]:
    """(COCO instance dataset dict, {panoptic image_id: integer COCO image id}) of the things. With
    `cached`, each image's instances come from the ground-truth cache while its PNG and its things'
    `segments_info` are unchanged; every PNG's confinement to its folder is checked either way."""
    gt = read_panoptic_json(gt_json, ground_truth=True)
    things = [c for c in gt["categories"] if int(c.get("isthing", 0)) == 1]
    thing_ids = {int(c["id"]) for c in things}
    images, annotations, id_map, items = [], [], {}, []
    for k, ann in enumerate(gt["annotations"], start=1):
        id_map[ann["image_id"]] = k
        label = confined(gt_dir, ann["file_name"], source=gt_json, entry=f"annotation of image {ann['image_id']!r}",
                         allow_outside_links=allow_outside_links)
        key = digest([[s.get("id"), s.get("category_id"), s.get("iscrowd", 0)] for s in ann["segments_info"]
                      if s.get("category_id") in thing_ids])
        items.append((ann["file_name"], key, partial(image_instances, label, ann["segments_info"], thing_ids,
                                                     not cached)))
    with PngRecords("coco-instances", gt_dir, cache_dir, enabled=cached) as records:
        built = records.values(items, valid=valid_image_record, threads=rayon_threads(usable_cpus(), dict(os.environ)))
        for k, image in enumerate(track(built, "instances", total=len(items), disable=not progress), start=1):
            images.append({"id": k, "height": image["height"], "width": image["width"]})
            for instance in image["instances"]:
                annotations.append({"id": len(annotations) + 1, "image_id": k, **instance})
    return {"images": images, "annotations": annotations, "categories": things}, id_map


def coco_results(predictions: list[dict], coco_gt: Any, id_map: dict, kind: str, source: str) -> list[dict]:
    """COCOeval's results (`segm` or `bbox`) of panbench's predictions, image ids numbered as
    `coco_ground_truth` numbers them; a prediction COCOeval would silently drop is an error."""
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


def coco_ap(coco_gt: Any, dataset: dict, results: list[dict], kind: str, engine: str = DEFAULT_ENGINE) -> dict[str, Any]:
    """COCOeval (`segm` or `bbox`) by `engine` (`coco_gt` its index of `dataset`): AP, AP50, AP75 and
    per-class AP in percent. Classes without ground truth are None; with no prediction at all every
    class with ground truth scores 0."""
    if not results:
        with_gt = {int(a["category_id"]) for a in dataset["annotations"] if not a["iscrowd"]}
        per_class = {int(c["id"]): (0.0 if int(c["id"]) in with_gt else None) for c in dataset["categories"]}
        score = 0.0 if with_gt else None
        return {"ap": score, "ap50": score, "ap75": score, "per_class": dict(sorted(per_class.items()))}
    stats, precision, cat_ids = coco_stats(coco_gt, results, kind, engine)
    per_class = {}
    for k, cat in enumerate(cat_ids):
        p = precision[:, :, k, 0, -1]  # [iou thr, recall, class, area range, max dets]
        per_class[cat] = 100.0 * float(p[p > -1].mean()) if (p > -1).any() else None
    ap, ap50, ap75 = (None if v < 0 else 100.0 * float(v) for v in stats[:3])
    return {"ap": ap, "ap50": ap50, "ap75": ap75, "per_class": per_class}


def _ground_truth(gt_json: str | Path, gt_dir: str | Path, engine: str, progress: bool, allow_outside_links: bool,
                  cache_dir: str | Path | None) -> tuple[str, dict, dict, Any]:
    """(engine that runs, COCO dataset, id map, that engine's index of it)."""
    check_engine(engine)
    dataset, id_map = coco_ground_truth(gt_json, gt_dir, progress, allow_outside_links,
                                        cached=engine != "pycocotools", cache_dir=cache_dir)
    engine = runnable(engine)
    return engine, dataset, id_map, engine_parts(engine)[0](dataset)


def evaluate_instances(gt_json: str | Path, gt_dir: str | Path, predictions: list[dict],
                       source: str = "predictions", progress: bool = False,
                       allow_outside_links: bool = False, *, engine: str = DEFAULT_ENGINE,
                       cache_dir: str | Path | None = None) -> dict[str, Any]:
    """Mask and box AP of scored instances `{"image_id", "category_id", "score", "bbox": [x, y, w, h],
    "segmentation": RLE}`: keys `ap ap50 ap75` (masks; None if no prediction has a mask),
    `ap_box ap_box50 ap_box75`, and `per_class {category_id: {ap, ap_box}}`, in percent, by `engine`
    (`cache_dir`: the ground-truth cache's folder, default gt_cache's).

    Box AP uses the predicted boxes, not boxes derived from the masks (COCO's `loadRes` would
    replace them), as detectron2 reports it."""
    engine, dataset, id_map, coco_gt = _ground_truth(gt_json, gt_dir, engine, progress, allow_outside_links, cache_dir)
    box = coco_ap(coco_gt, dataset, coco_results(predictions, coco_gt, id_map, "bbox", source), "bbox", engine)
    with_masks = [p for p in predictions if "segmentation" in p]
    if with_masks and len(with_masks) != len(predictions):
        raise DatasetError(source, "some predictions have a segmentation and some do not")
    segm = (coco_ap(coco_gt, dataset, coco_results(with_masks, coco_gt, id_map, "segm", source), "segm", engine)
            if with_masks or not predictions else NO_MASKS)
    return {"ap": segm["ap"], "ap50": segm["ap50"], "ap75": segm["ap75"],
            "ap_box": box["ap"], "ap_box50": box["ap50"], "ap_box75": box["ap75"],
            "per_class": {c: {"ap": segm["per_class"].get(c), "ap_box": ap_box} for c, ap_box in box["per_class"].items()}}


def det_ap(gt_json: str | Path, gt_dir: str | Path, detections: list[dict], source: str = "detections", *,
           engine: str = DEFAULT_ENGINE, cache_dir: str | Path | None = None) -> float | None:
    """detAP (synthesis paper, Table 1): box AP @[.5:.95] in percent of `{"image_id", "category_id",
    "score", "bbox": [x, y, w, h]}` detections against the ground-truth thing boxes, by `engine`."""
    engine, dataset, id_map, coco_gt = _ground_truth(gt_json, gt_dir, engine, False, False, cache_dir)
    return coco_ap(coco_gt, dataset, coco_results(detections, coco_gt, id_map, "bbox", source), "bbox", engine)["ap"]


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
