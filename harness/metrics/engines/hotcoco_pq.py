"""PQ through hotcoco (Rust, panopticapi's algorithm; ~4x faster than panbench's reference on one
thread and ~5x with their default threads at 1024x2048, ground-truth cache warm; ~1.2x cold:
results/bench/engines.json, contended) behind panbench's API: the same inputs, the same result
dict, the same errors.

hotcoco refuses string image ids, so the images are numbered 1..n in memory (its `PanopticEval`
takes dicts; nothing is written). The checks panbench makes and hotcoco does not stay in front:
`SegmentTable`'s JSON checks (void id, duplicate ids, unknown category), a prediction for every
image, and every id of a ground-truth PNG listed in its `segments_info` (read from the
ground-truth cache, so the PNGs are decoded once per dataset); the JSON schemas and the confinement
of every PNG to its folder are panbench's own (`read_panoptic_json`, `png_pairs`). Input rejected
by those checks or by hotcoco goes to panbench's reference, so the error raised is panbench's,
word for word. Images go to hotcoco in chunks (a few per thread), so the progress bar moves and
only a chunk's PNGs are in memory at once; TP / FP / FN / IoU sums add up over chunks and the
averages are panbench's `average_pq`. Threads: hotcoco's pool (harness.metrics.engines.rayon_pool)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hotcoco.panoptic import PanopticEval

from harness.data.schema import read_panoptic_json
from harness.metrics import panoptic_reference as reference
from harness.metrics.engines.gt_cache import PngRecords
from harness.metrics.engines.rayon_pool import mark_pool_started, pool_usable
from harness.metrics.pq_image import VOID, PQCounts, SegmentTable, overlap_pairs
from harness.progress import progress_bar
from harness.threads import usable_cpus

IMAGES_PER_THREAD = 4  # per chunk: enough to keep every thread busy, few enough to show progress


class Rejected(Exception):
    """The input fails a check of panbench's: its own evaluator must say how."""


def png_segment_ids(png: Path) -> list[int]:
    """The distinct segment ids (void included) of a ground-truth PNG."""
    from harness.data.images import read_ids  # Pillow: needed on a cache miss only

    ids = read_ids(png)
    return overlap_pairs(ids, ids)[0].tolist()


def hotcoco_inputs(gt: dict, pairs: list[tuple[dict, dict, Path, Path]], first_id: int, gt_json: str,
                   pred_json: str, records: PngRecords) -> tuple[dict, dict]:
    """hotcoco's ground-truth and prediction dicts for some of `reference.png_pairs`' pairs, images
    numbered from `first_id` in ground-truth order, after panbench's checks that hotcoco does not
    make (raising panbench's DatasetError or Rejected)."""
    category_index = {int(c["id"]): k for k, c in enumerate(gt["categories"])}
    images, gt_annotations, pred_annotations = [], [], []
    for k, (g, p, gt_png, _) in enumerate(pairs, start=first_id):
        listed = SegmentTable.from_json(g["segments_info"], category_index, gt_json, g["image_id"]).ids
        SegmentTable.from_json(p["segments_info"], category_index, pred_json, p["image_id"])
        png_ids = records.value(g["file_name"], "", lambda png=gt_png: png_segment_ids(png),
                                valid=lambda ids: isinstance(ids, list) and all(type(i) is int for i in ids))
        if not set(png_ids) <= set(listed.tolist()) | {VOID}:  # (np.setdiff1d imports numpy.ma: 7 ms)
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


def _hotcoco_counts(gt: dict, pred: dict, gt_json: str | Path, gt_dir: str | Path, pred_json: str | Path,
                    pred_dir: str | Path, allow_outside_links: bool, cache_dir: str | Path | None,
                    progress: bool) -> PQCounts:
    """The summed counts of every image, chunk by chunk (raising Rejected, DatasetError or hotcoco's
    ValueError / OSError)."""
    pairs = reference.png_pairs(gt, pred, gt_json, gt_dir, pred_json, pred_dir, allow_outside_links)
    chunk = IMAGES_PER_THREAD * usable_cpus()
    total = PQCounts.zeros(len(gt["categories"]))
    with PngRecords("png-segment-ids", gt_dir, cache_dir) as records, \
            progress_bar(disable=not progress, transient=True) as bar:
        task = bar.add_task("PQ", total=len(pairs))
        for start in range(0, len(pairs), chunk):
            part = pairs[start:start + chunk]
            gt_eval, pred_eval = hotcoco_inputs(gt, part, start + 1, str(gt_json), str(pred_json), records)
            mark_pool_started()
            evaluator = PanopticEval(gt_eval, pred_eval, gt_folder=str(gt_dir), pred_folder=str(pred_dir))
            evaluator.evaluate()
            total += pq_counts_of(evaluator.results()["per_class"], gt["categories"])
            bar.advance(task, len(part))
    return total


def pq_compute(gt_json: str | Path, gt_dir: str | Path, pred_json: str | Path, pred_dir: str | Path,
               allow_outside_links: bool = False, cache_dir: str | Path | None = None,
               progress: bool = False) -> dict[str, Any]:
    """`harness.metrics.panoptic.pq_compute`'s result (PQ / SQ / RQ for all, `_th`, `_st`; `n*`;
    `per_class` {category_id: {pq, sq, rq, tp, fp, fn}}) computed by hotcoco; invalid input raises
    panbench's DatasetError. `cache_dir`: the ground-truth cache (default: gt_cache's)."""
    def by_reference() -> dict[str, Any]:  # one worker: its first error, in its order
        return reference.pq_compute_reference(gt_json, gt_dir, pred_json, pred_dir, workers=1, progress=progress,
                                              allow_outside_links=allow_outside_links)

    if not pool_usable():
        return by_reference()
    try:
        gt = read_panoptic_json(gt_json, ground_truth=True)
        pred = read_panoptic_json(pred_json, ground_truth=False)
        counts = _hotcoco_counts(gt, pred, gt_json, gt_dir, pred_json, pred_dir, allow_outside_links, cache_dir,
                                 progress)
    except (Rejected, ValueError, OSError, KeyError, TypeError):  # hotcoco raises ValueError / OSError
        return by_reference()
    return reference.average_pq(counts, gt["categories"])
