"""PQ through hotcoco (Rust, panopticapi's algorithm; ~2.4x faster than panbench's `pq_compute`
on one thread, ~3.4x with their default threads, results/bench/engines.json) behind panbench's
API: the same inputs, the same result dict, the same errors.

hotcoco refuses string image ids, so the images are numbered 1..n in memory (its `PanopticEval`
takes dicts; nothing is written). The checks panbench makes and hotcoco does not stay in front:
`SegmentTable`'s JSON checks (void id, duplicate ids, unknown category), a prediction for every
image, and every id of a ground-truth PNG listed in its `segments_info` (read from the
ground-truth cache, so the PNGs are decoded once per dataset); the JSON schemas and the confinement
of every PNG to its folder are panbench's own (`read_panoptic_json`, `png_pairs`). Input rejected by those checks or by
hotcoco goes to panbench's own `pq_compute`, so the error raised is panbench's, word for word.
The averages are panbench's `average_pq` over hotcoco's counts (TP, FP, FN, IoU sums). hotcoco
runs on its own thread pool: `RAYON_NUM_THREADS` (read once per process) sets its size, default
every CPU."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from hotcoco.panoptic import PanopticEval

from harness.data.images import read_ids
from harness.data.schema import read_panoptic_json
from harness.metrics import panoptic as reference
from harness.metrics.engines.gt_cache import cached_ground_truth
from harness.metrics.pq_image import VOID, PQCounts, SegmentTable, overlap_pairs


class Rejected(Exception):
    """The input fails a check of panbench's: its own evaluator must say how."""


def png_segment_ids(pngs: list[Path]) -> list[list[int]]:
    """The distinct segment ids (void included) of each ground-truth PNG."""
    out = []
    for png in pngs:
        ids = read_ids(png)
        out.append(overlap_pairs(ids, ids)[0].tolist())
    return out


def hotcoco_inputs(gt: dict, pairs: list[tuple[dict, dict, Path, Path]], gt_json: str, gt_dir: str | Path,
                   pred_json: str, cache_dir: str | Path | None) -> tuple[dict, dict]:
    """hotcoco's ground-truth and prediction dicts for `reference.png_pairs`' pairs, images numbered
    1..n in ground-truth order, after panbench's checks that hotcoco does not make (raising
    panbench's DatasetError or Rejected)."""
    category_index = {int(c["id"]): k for k, c in enumerate(gt["categories"])}
    pngs = [gt_png for _, _, gt_png, _ in pairs]
    in_png = cached_ground_truth("png-segment-ids", gt_json, gt_dir, [g["file_name"] for g, *_ in pairs],
                                 lambda: png_segment_ids(pngs), cache_dir)
    images, gt_annotations, pred_annotations = [], [], []
    for k, ((g, p, _, _), png_ids) in enumerate(zip(pairs, in_png), start=1):
        listed = SegmentTable.from_json(g["segments_info"], category_index, gt_json, g["image_id"]).ids
        SegmentTable.from_json(p["segments_info"], category_index, pred_json, p["image_id"])
        if np.setdiff1d(np.asarray(png_ids, np.int64), np.append(listed, VOID)).size:
            raise Rejected
        images.append({"id": k, "file_name": g["file_name"]})
        gt_annotations.append({"image_id": k, "file_name": g["file_name"], "segments_info": g["segments_info"]})
        pred_annotations.append({"image_id": k, "file_name": p["file_name"], "segments_info": p["segments_info"]})
    return ({"images": images, "annotations": gt_annotations, "categories": gt["categories"]},
            {"images": images, "annotations": pred_annotations})


def pq_counts_of(per_class: dict, categories: list[dict]) -> PQCounts:
    """hotcoco's per-class TP / FP / FN / IoU sums in the order of `categories`."""
    counts = PQCounts.zeros(len(categories))
    rows = {int(k): v for k, v in per_class.items()}
    for k, c in enumerate(categories):
        row = rows.get(int(c["id"]))
        if row is not None:
            counts.iou[k], counts.tp[k], counts.fp[k], counts.fn[k] = row["iou"], row["tp"], row["fp"], row["fn"]
    return counts


def pq_compute(gt_json: str | Path, gt_dir: str | Path, pred_json: str | Path, pred_dir: str | Path,
               allow_outside_links: bool = False, cache_dir: str | Path | None = None) -> dict[str, Any]:
    """`harness.metrics.panoptic.pq_compute`'s result (PQ / SQ / RQ for all, `_th`, `_st`; `n*`;
    `per_class` {category_id: {pq, sq, rq, tp, fp, fn}}) computed by hotcoco; invalid input raises
    panbench's DatasetError. `cache_dir`: the ground-truth cache (default: gt_cache's)."""
    try:
        gt = read_panoptic_json(gt_json, ground_truth=True)
        pred = read_panoptic_json(pred_json, ground_truth=False)
        pairs = reference.png_pairs(gt, pred, gt_json, gt_dir, pred_json, pred_dir, allow_outside_links)
        gt_eval, pred_eval = hotcoco_inputs(gt, pairs, str(gt_json), gt_dir, str(pred_json), cache_dir)
        evaluator = PanopticEval(gt_eval, pred_eval, gt_folder=str(gt_dir), pred_folder=str(pred_dir))
        evaluator.evaluate()
        per_class = evaluator.results()["per_class"]
    except (Rejected, ValueError, OSError, KeyError, TypeError):  # hotcoco raises ValueError / OSError
        # panbench's evaluator, one worker: its first error, in its order
        return reference.pq_compute(gt_json, gt_dir, pred_json, pred_dir, workers=1,
                                    allow_outside_links=allow_outside_links)
    return reference.average_pq(pq_counts_of(per_class, gt["categories"]), gt["categories"])
