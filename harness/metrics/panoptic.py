"""Panoptic quality (PQ, SQ, RQ for all / things / stuff and per category) of a COCO-panoptic
prediction against a COCO-panoptic ground truth, equal to panopticapi's `pq_compute`.

Images are streamed through a process pool (`imap`, so at most a few decoded images are in memory at
once), or in one process with the next images' PNGs decoded ahead on threads (`prefetch.py`); the
per-image rules live in `pq_image.py`, the averaging here (panopticapi's `pq_average`: categories
without any TP, FP or FN are left out of the means)."""

from __future__ import annotations

import multiprocessing
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np
from PIL import Image, UnidentifiedImageError
from rich.progress import Progress

from harness.data.dataset import read_json
from harness.data.parallel import usable_cpus
from harness.errors import DatasetError
from harness.metrics.pq_image import PQCounts, SegmentTable, pq_counts
from harness.metrics.prefetch import prefetched

GROUPS = (("", None), ("_th", True), ("_st", False))


def read_rgbx_words(path: str | Path) -> np.ndarray:
    """(H, W) uint32 words R + 256·G + 256²·B + 256³·X of a 24-bit RGB panoptic PNG, X = Pillow's
    padding byte: the segment id is the low 24 bits, available without touching every pixel again."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(path, "panoptic PNG is missing")
    try:
        with Image.open(path) as im:
            if im.mode not in ("RGB", "RGBA"):
                raise DatasetError(path, f"image mode {im.mode}; a panoptic PNG stores 24-bit ids as RGB")
            width, height = im.size
            raw = im.tobytes("raw", "RGBX") if im.mode == "RGB" else im.convert("RGB").tobytes("raw", "RGBX")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise DatasetError(path, f"unreadable or corrupt PNG ({exc})") from None
    return np.frombuffer(raw, "<u4").reshape(height, width)


def read_id_png(path: str | Path) -> np.ndarray:
    """(H, W) uint32 segment ids of a panoptic PNG (one masking pass instead of three casts, two
    shifts and two adds)."""
    return read_rgbx_words(path) & 0xFFFFFF


def load_json(path: str | Path) -> dict:
    data = read_json(path)
    if not isinstance(data, dict) or "annotations" not in data:
        raise DatasetError(path, "missing top-level key 'annotations'")
    return data


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


def _image_job(job: tuple) -> PQCounts | tuple[str, str]:
    """Counts of one image; a DatasetError comes back as (path, problem) because its pickled form
    cannot be rebuilt by a pool (its constructor takes two arguments)."""
    try:
        return _count(_decode(job))
    except DatasetError as exc:
        return exc.path, exc.problem


def _decode(job: tuple) -> tuple[tuple, np.ndarray, np.ndarray]:
    """The job with its two decoded PNGs (ground truth, prediction) as RGBX words."""
    gt_ann, pred_ann, gt_dir, pred_dir = job[:4]
    return (job, read_rgbx_words(Path(gt_dir) / gt_ann["file_name"]),
            read_rgbx_words(Path(pred_dir) / pred_ann["file_name"]))


def _count(decoded: tuple[tuple, np.ndarray, np.ndarray]) -> PQCounts:
    (gt_ann, pred_ann, gt_dir, pred_dir, gt_json, pred_json, category_index), gt_words, pred_words = decoded
    image_id = gt_ann["image_id"]
    return pq_counts(
        gt_words, SegmentTable.from_json(gt_ann["segments_info"], category_index, gt_json, image_id),
        pred_words, SegmentTable.from_json(pred_ann["segments_info"], category_index, pred_json, image_id),
        len(category_index), image_id=image_id, gt_png=str(Path(gt_dir) / gt_ann["file_name"]),
        pred_png=str(Path(pred_dir) / pred_ann["file_name"]), gt_json=gt_json, pred_json=pred_json)


@contextmanager
def _image_counts(jobs: list[tuple], workers: int, decode_threads: int) -> Iterator[Iterator]:
    """The jobs' counts, in order: in this process for one worker (PNGs decoded ahead on
    `decode_threads` threads, see prefetch.py), else from a pool's streaming `imap` (a few chunks in
    flight, each worker process decoding its own PNGs). The pool is created before any progress
    thread starts; threads and pool are shut down on exit, error or not."""
    if workers <= 1 or len(jobs) <= 1:
        decoded = prefetched(_decode, jobs, decode_threads)
        try:
            yield map(_count, decoded)
        finally:
            decoded.close()
        return
    chunk = max(1, min(8, len(jobs) // (4 * workers)))
    context = multiprocessing.get_context("fork" if os.name == "posix" else "spawn")
    with context.Pool(workers) as pool:
        yield pool.imap(_image_job, jobs, chunksize=chunk)


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


def pq_compute(gt_json: str | Path, gt_dir: str | Path, pred_json: str | Path, pred_dir: str | Path,
               workers: int | None = None, progress: bool = False, decode_threads: int = 2) -> dict[str, Any]:
    """PQ / SQ / RQ (all, things `_th`, stuff `_st`; percent) and `per_class` {category_id: {pq, sq, rq,
    tp, fp, fn}} of the prediction (`pred_json` + PNGs in `pred_dir`) against the ground truth.

    Categories come from the ground-truth JSON; a category with no TP+FP+FN is reported with zeros in
    `per_class` (as panopticapi does) and left out of the averages; `n`, `n_th`, `n_st` count the
    categories averaged. `workers` processes (default: the CPUs this process may use); with one,
    `decode_threads` threads of this process decode the next images' PNGs meanwhile (0: none)."""
    gt = load_json(gt_json)
    pred = load_json(pred_json)
    if "categories" not in gt:
        raise DatasetError(gt_json, "missing top-level key 'categories'")
    for folder in (gt_dir, pred_dir):
        if not Path(folder).is_dir():
            raise DatasetError(folder, "folder of panoptic PNGs is missing")
    categories = gt["categories"]
    category_index = {int(c["id"]): k for k, c in enumerate(categories)}
    jobs = [(g, p, str(gt_dir), str(pred_dir), str(gt_json), str(pred_json), category_index)
            for g, p in match_images(gt, pred, str(pred_json))]
    workers = usable_cpus() if workers is None else workers
    total = PQCounts.zeros(len(categories))
    with _image_counts(jobs, min(workers, len(jobs)), decode_threads) as image_counts, \
            Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task("PQ", total=len(jobs))
        for counts in image_counts:
            if isinstance(counts, tuple):
                raise DatasetError(*counts)
            total += counts
            bar.advance(task)
    return average_pq(total, categories)
