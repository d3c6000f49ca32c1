"""COCO AP (mask and box) through a choice of COCOeval engines behind the API of
`harness.metrics.instances`: pycocotools (the reference) or hotcoco (Rust; the 12 COCOeval stats
and the precision table identical to pycocotools', COCOeval ~8-10x faster for masks and ~11-25x
for boxes, results/bench/engines.json).

The ground truth's COCO instances (the things' RLE masks, areas, boxes), which take longer to
build than the evaluation itself, come from the per-dataset ground-truth cache (gt_cache.py).
Predictions are checked and converted by panbench's own `instances._results`, so bad input raises
the same errors; image ids, which may be strings, are numbered as `coco_ground_truth` numbers them."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Any, Callable

import hotcoco
import numpy as np
from pycocotools.cocoeval import COCOeval

from harness.data.paths import confined
from harness.data.schema import read_panoptic_json
from harness.errors import DatasetError
from harness.metrics.engines.gt_cache import cached_ground_truth
from harness.metrics.instances import _coco, _results, coco_ground_truth

NO_MASKS = {"ap": None, "ap50": None, "ap75": None, "per_class": {}}


ENGINES: dict[str, tuple[Callable[[dict], Any], type]] = {  # name: (COCO from a dataset dict, COCOeval)
    "pycocotools": (_coco, COCOeval),
    "hotcoco": (hotcoco.COCO, hotcoco.COCOeval),
}


def engine_parts(engine: str) -> tuple[Callable[[dict], Any], type]:
    if engine not in ENGINES:
        raise ValueError(f"unknown COCOeval engine {engine!r}; choose one of {sorted(ENGINES)}")
    return ENGINES[engine]


def cached_coco_ground_truth(gt_json: str | Path, gt_dir: str | Path, progress: bool = False,
                             allow_outside_links: bool = False, cache_dir: str | Path | None = None
                             ) -> tuple[dict, dict]:
    """`instances.coco_ground_truth`'s (COCO instance dataset, {image_id: integer id}), built once per
    ground truth (the id map is stored as pairs: JSON keeps string and integer ids apart that way).
    Every PNG's confinement to its folder is checked on every call, cached or not."""
    annotations = read_panoptic_json(gt_json, ground_truth=True)["annotations"]
    try:
        for a in annotations:
            confined(gt_dir, a["file_name"], source=gt_json, entry=f"annotation of image {a['image_id']!r}",
                     allow_outside_links=allow_outside_links)
    except DatasetError:
        coco_ground_truth(gt_json, gt_dir, progress, allow_outside_links)  # raises panbench's first error
        raise

    def build() -> dict:
        dataset, id_map = coco_ground_truth(gt_json, gt_dir, progress, allow_outside_links)
        return {"dataset": dataset, "id_map": list(id_map.items())}

    file_names = [a["file_name"] for a in annotations]

    value = cached_ground_truth("coco-instances", gt_json, gt_dir, file_names, build, cache_dir)
    return value["dataset"], {image_id: k for image_id, k in value["id_map"]}


def coco_stats(coco_gt: Any, results: list[dict], kind: str, engine: str) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """COCOeval's 12 summary stats, its precision table [iou, recall, class, area, max dets] and the
    class ids along its third axis, for non-empty `results` (integer image ids)."""
    _, evaluator_class = engine_parts(engine)
    with contextlib.redirect_stdout(io.StringIO()):
        evaluator = evaluator_class(coco_gt, coco_gt.loadRes(results), kind)
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return (np.asarray(evaluator.stats, np.float64), np.asarray(evaluator.eval["precision"]),
            [int(c) for c in evaluator.params.catIds])


def coco_ap(coco_gt: Any, dataset: dict, results: list[dict], kind: str, engine: str) -> dict[str, Any]:
    """`instances.coco_ap`'s AP, AP50, AP75 and per-class AP (percent; None for classes without
    ground truth; every class with ground truth 0 when nothing is predicted) from `engine`."""
    if not results:
        with_gt = {int(a["category_id"]) for a in dataset["annotations"] if not a["iscrowd"]}
        per_class = {int(c["id"]): (0.0 if int(c["id"]) in with_gt else None) for c in dataset["categories"]}
        score = 0.0 if with_gt else None
        return {"ap": score, "ap50": score, "ap75": score, "per_class": dict(sorted(per_class.items()))}
    stats, precision, cat_ids = coco_stats(coco_gt, results, kind, engine)
    per_class = {}
    for k, cat in enumerate(cat_ids):
        p = precision[:, :, k, 0, -1]
        per_class[cat] = 100.0 * float(p[p > -1].mean()) if (p > -1).any() else None
    ap, ap50, ap75 = (None if v < 0 else 100.0 * float(v) for v in stats[:3])
    return {"ap": ap, "ap50": ap50, "ap75": ap75, "per_class": per_class}


def evaluate_instances(gt_json: str | Path, gt_dir: str | Path, predictions: list[dict], source: str = "predictions",
                       progress: bool = False, allow_outside_links: bool = False, *, engine: str = "hotcoco",
                       cache_dir: str | Path | None = None) -> dict[str, Any]:
    """`instances.evaluate_instances` (mask AP `ap ap50 ap75`, box AP `ap_box ap_box50 ap_box75`,
    `per_class {category_id: {ap, ap_box}}`, percent) by `engine`, the ground truth from the cache."""
    dataset, id_map = cached_coco_ground_truth(gt_json, gt_dir, progress, allow_outside_links, cache_dir)
    coco_gt = engine_parts(engine)[0](dataset)
    box = coco_ap(coco_gt, dataset, _results(predictions, coco_gt, id_map, "bbox", source), "bbox", engine)
    with_masks = [p for p in predictions if "segmentation" in p]
    if with_masks and len(with_masks) != len(predictions):
        raise DatasetError(source, "some predictions have a segmentation and some do not")
    segm = (coco_ap(coco_gt, dataset, _results(with_masks, coco_gt, id_map, "segm", source), "segm", engine)
            if with_masks or not predictions else NO_MASKS)
    masks = {f"ap{suffix}": segm[f"ap{suffix}"] for suffix in ("", "50", "75")}
    boxes = {f"ap_box{suffix}": box[f"ap{suffix}"] for suffix in ("", "50", "75")}
    per_class = {c: {"ap": segm["per_class"].get(c), "ap_box": ap_box} for c, ap_box in box["per_class"].items()}
    return {**masks, **boxes, "per_class": per_class}


def det_ap(gt_json: str | Path, gt_dir: str | Path, detections: list[dict], source: str = "detections", *,
           engine: str = "hotcoco", cache_dir: str | Path | None = None) -> float | None:
    """`instances.det_ap`: box AP @[.5:.95] in percent of the detections, by `engine`."""
    dataset, id_map = cached_coco_ground_truth(gt_json, gt_dir, cache_dir=cache_dir)
    coco_gt = engine_parts(engine)[0](dataset)
    return coco_ap(coco_gt, dataset, _results(detections, coco_gt, id_map, "bbox", source), "bbox", engine)["ap"]
