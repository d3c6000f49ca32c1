"""panbench's own PQ evaluator (the reference the engines are tested against; see
harness.metrics.panoptic for the API), equal to panopticapi's `pq_compute`.

Images are streamed through threads (`prefetch.py`), not processes: the work, Pillow's PNG decoding
and numpy's counting, releases the GIL, so threads run in parallel with nothing to start, pickle
or fork (PQ also runs inside training, next to torch's thread pools). With `workers` > 1 each of
`workers` threads decodes and counts whole images; with one, the next images' PNGs are decoded
ahead on `decode_threads` threads while this one counts. The per-image rules live in
`pq_image.py`, the averaging here (panopticapi's `pq_average`: categories without any TP, FP or FN
are left out of the means). Both JSON files are schema-checked and every PNG they name is confined
to its folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from harness.data.paths import confined
from harness.data.schema import read_panoptic_json
from harness.errors import DatasetError
from harness.metrics.pq_image import PQCounts, SegmentTable, pq_counts
from harness.metrics.prefetch import prefetched
from harness.progress import track
from harness.threads import usable_cpus

GROUPS = (("", None), ("_th", True), ("_st", False))


def match_images(gt: dict, pred: dict, pred_json: str) -> list[tuple[dict, dict]]:
    """(gt annotation, pred annotation) for every ground-truth image; predictions of images that are
    not in the ground truth are ignored, as panopticapi does."""
    by_id = {a["image_id"]: a for a in pred["annotations"]}
    pairs = []
    for ann in gt["annotations"]:
        if ann["image_id"] not in by_id:
            raise DatasetError(pred_json, f"no prediction for image {ann['image_id']!r}")
        pairs.append((ann, by_id[ann["image_id"]]))
    return pairs


def png_pairs(gt: dict, pred: dict, gt_json: str | Path, gt_dir: str | Path, pred_json: str | Path,
              pred_dir: str | Path, allow_outside_links: bool = False) -> list[tuple[dict, dict, Path, Path]]:
    """(gt annotation, pred annotation, gt PNG, pred PNG) of every ground-truth image, each PNG
    confined to its folder."""
    for folder in (gt_dir, pred_dir):
        if not Path(folder).is_dir():
            raise DatasetError(folder, "folder of panoptic PNGs is missing")
    pairs = []
    for g, p in match_images(gt, pred, str(pred_json)):
        entry = f"annotation of image {g['image_id']!r}"
        pairs.append((g, p, confined(gt_dir, g["file_name"], source=gt_json, entry=entry,
                                     allow_outside_links=allow_outside_links),
                      confined(pred_dir, p["file_name"], source=pred_json, entry=entry,
                               allow_outside_links=allow_outside_links)))
    return pairs


def _image_job(job: tuple) -> PQCounts:
    return _count(_decode(job))


def _decode(job: tuple) -> tuple[tuple, np.ndarray, np.ndarray]:
    """The job with its two decoded PNGs (ground truth, prediction) as RGBX words."""
    from harness.data.images import read_id_words  # Pillow: imported by the engines that decode (not hotcoco's)

    gt_png, pred_png = job[2:4]
    return job, read_id_words(gt_png), read_id_words(pred_png)


def _count(decoded: tuple[tuple, np.ndarray, np.ndarray]) -> PQCounts:
    (gt_ann, pred_ann, gt_png, pred_png, gt_json, pred_json, category_index), gt_words, pred_words = decoded
    image_id = gt_ann["image_id"]
    return pq_counts(
        gt_words, SegmentTable.from_json(gt_ann["segments_info"], category_index, gt_json, image_id),
        pred_words, SegmentTable.from_json(pred_ann["segments_info"], category_index, pred_json, image_id),
        len(category_index), image_id=image_id, gt_png=str(gt_png), pred_png=str(pred_png), gt_json=gt_json,
        pred_json=pred_json)


def _image_counts(jobs: list[tuple], workers: int, decode_threads: int, progress: bool) -> Iterator[PQCounts]:
    """The jobs' counts, in order, at most a few images ahead in memory: on `workers` threads that
    decode and count, or (one worker) counted here with the PNGs decoded ahead on `decode_threads`
    threads. Threads are shut down on exit, error or not."""
    if workers <= 1 or len(jobs) <= 1:
        decoded = prefetched(_decode, jobs, decode_threads)
        counted: Iterator[PQCounts] = map(_count, decoded)
    else:
        decoded = counted = prefetched(_image_job, jobs, workers)
    try:
        yield from track(counted, "PQ", disable=not progress, total=len(jobs))
    finally:
        decoded.close()


def average_pq(counts: PQCounts, categories: list[dict]) -> dict[str, Any]:
    """panopticapi's `pq_average` for all / things / stuff, in percent, plus per-category numbers.

    A group with no counted category has undefined averages: reported as None (panopticapi divides
    by zero there)."""
    denom = counts.tp + 0.5 * counts.fp + 0.5 * counts.fn
    counted = denom > 0
    safe = np.where(counted, denom, 1.0)
    pq = np.where(counted, counts.iou / safe, 0.0)
    sq = np.where(counts.tp > 0, counts.iou / np.maximum(counts.tp, 1), 0.0)
    rq = np.where(counted, counts.tp / safe, 0.0)
    isthing = np.array([int(c.get("isthing", 0)) == 1 for c in categories], bool)
    result: dict[str, Any] = {}
    for suffix, thing in GROUPS:
        member = counted & (isthing == thing if thing is not None else True)
        n = int(member.sum())
        for name, values in (("pq", pq), ("sq", sq), ("rq", rq)):
            result[f"{name}{suffix}"] = 100.0 * float(values[member].sum()) / n if n else None
        result[f"n{suffix}"] = n
    result["per_class"] = {
        int(c["id"]): {"pq": 100.0 * float(pq[k]), "sq": 100.0 * float(sq[k]), "rq": 100.0 * float(rq[k]),
                       "tp": int(counts.tp[k]), "fp": int(counts.fp[k]), "fn": int(counts.fn[k])}
        for k, c in enumerate(categories)
    }
    return result


def pq_compute_reference(gt_json: str | Path, gt_dir: str | Path, pred_json: str | Path, pred_dir: str | Path,
                         workers: int | None = None, progress: bool = False, decode_threads: int = 2,
                         allow_outside_links: bool = False) -> dict[str, Any]:
    """`harness.metrics.panoptic.pq_compute` by panbench's own evaluator:
    `workers` threads (default: the CPUs this process may use); with one, `decode_threads` threads
    decode the next images' PNGs meanwhile (0: none)."""
    gt = read_panoptic_json(gt_json, ground_truth=True)
    pred = read_panoptic_json(pred_json, ground_truth=False)
    categories = gt["categories"]
    category_index = {int(c["id"]): k for k, c in enumerate(categories)}
    jobs = [(*pair, str(gt_json), str(pred_json), category_index)
            for pair in png_pairs(gt, pred, gt_json, gt_dir, pred_json, pred_dir, allow_outside_links)]
    workers = usable_cpus() if workers is None else workers
    total = PQCounts.zeros(len(categories))
    for counts in _image_counts(jobs, min(workers, len(jobs)), decode_threads, progress):
        total += counts
    return average_pq(total, categories)
