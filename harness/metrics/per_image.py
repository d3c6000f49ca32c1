"""Per-image evaluation counts of a panoptic run, stored beside its predictions
(`predictions/per_image.npz`), so that dataset-level PQ and mIoU can be recomputed from any resampled
set of validation images: the paired bootstrap of a Δ between two arms (analysis/intervals.py).

PQ counts per image and category (tp, fp, fn, iou_sum: the accumulators of panopticapi's
`pq_compute_single_core`, harness.metrics.pq_image) sum to the dataset's counts, and the semantic
counts per image and class (true positives, ground-truth pixels, predicted pixels: the diagonal, row
and column sums of the image's confusion matrix, harness.metrics.semantic) sum to its confusion
rows. Read with `allow_pickle=False`: the file is data."""

from __future__ import annotations

import io
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from harness.atomic import write_bytes
from harness.errors import DatasetError
from harness.metrics.panoptic_reference import GROUPS, average_pq
from harness.metrics.pq_image import PQCounts
from harness.metrics.semantic import ConfusionMatrix

PER_IMAGE_FILE = "per_image.npz"
PQ_FIELDS = ("pq_tp", "pq_fp", "pq_fn", "pq_iou")
SEMANTIC_FIELDS = ("sem_tp", "sem_gt", "sem_pred")


@dataclass(frozen=True)
class PerImageCounts:
    """Rows are images (`image_ids`), PQ columns categories (`category_ids`, `isthing`), semantic columns
    train ids (the confusion matrix's classes)."""

    image_ids: np.ndarray  # (I,) str
    category_ids: np.ndarray  # (C,) int64
    isthing: np.ndarray  # (C,) bool
    pq_tp: np.ndarray  # (I, C) int64
    pq_fp: np.ndarray
    pq_fn: np.ndarray
    pq_iou: np.ndarray  # (I, C) float64, sum of IoU over the true positives
    sem_tp: np.ndarray  # (I, K) int64
    sem_gt: np.ndarray  # labelled ground-truth pixels of each class (predictions outside the classes included)
    sem_pred: np.ndarray  # pixels predicted as each class on labelled ground truth

    @property
    def categories(self) -> list[dict]:
        return [{"id": int(c), "isthing": int(t)} for c, t in zip(self.category_ids, self.isthing)]

    def pq_counts(self) -> PQCounts:
        """The dataset's PQ accumulators (every image once)."""
        return PQCounts(self.pq_iou.sum(0), self.pq_tp.sum(0), self.pq_fp.sum(0), self.pq_fn.sum(0))

    def subset(self, rows: np.ndarray) -> "PerImageCounts":
        """The counts of the images `rows` (indices), in that order."""
        per_image = {"image_ids", *PQ_FIELDS, *SEMANTIC_FIELDS}
        return PerImageCounts(**{f.name: getattr(self, f.name)[rows] if f.name in per_image else getattr(self, f.name)
                                 for f in fields(self)})


def image_semantic_counts(confusion: ConfusionMatrix) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(true positives, ground-truth pixels, predicted pixels) per class of one image's confusion matrix."""
    k = confusion.num_classes
    return np.diag(confusion.matrix[:, :k]).copy(), confusion.matrix.sum(1), confusion.matrix[:, :k].sum(0)


def stack(image_ids: list, categories: list[dict], pq: list[PQCounts],
          semantic: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> PerImageCounts:
    """One `PerImageCounts` from the per-image pieces gathered during an evaluation."""
    return PerImageCounts(
        np.array([str(i) for i in image_ids]), np.array([int(c["id"]) for c in categories], np.int64),
        np.array([int(c.get("isthing", 0)) == 1 for c in categories], bool),
        *(np.stack([getattr(c, name) for c in pq]) for name in ("tp", "fp", "fn")),
        np.stack([c.iou for c in pq]).astype(np.float64),
        *(np.stack([s[k] for s in semantic]).astype(np.int64) for k in range(3)))


def write_per_image(path: str | Path, counts: PerImageCounts) -> Path:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **{f.name: getattr(counts, f.name) for f in fields(counts)})
    write_bytes(path, buffer.getvalue())
    return Path(path)


def read_per_image(path: str | Path) -> PerImageCounts:
    """The stored counts; a file with missing or inconsistent arrays is one `DatasetError` naming it."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {f.name: data[f.name] for f in fields(PerImageCounts)}
    except (KeyError, ValueError, OSError, EOFError) as exc:
        raise DatasetError(str(path), f"not a per-image counts file ({exc})") from None
    n_images, n_cats = len(arrays["image_ids"]), len(arrays["category_ids"])
    for name in PQ_FIELDS:
        if arrays[name].shape != (n_images, n_cats):
            raise DatasetError(str(path), f"{name} has shape {arrays[name].shape}, expected {(n_images, n_cats)}")
    shapes = {arrays[name].shape for name in SEMANTIC_FIELDS}
    if len(shapes) != 1 or next(iter(shapes))[0] != n_images:
        raise DatasetError(str(path), f"semantic counts of shapes {sorted(shapes)} for {n_images} images")
    return PerImageCounts(**arrays)


def dataset_metrics(counts: PerImageCounts) -> dict[str, float | None]:
    """PQ family (panopticapi's averaging, harness.metrics.panoptic_reference.average_pq), mIoU and pixel
    accuracy (harness.metrics.semantic) of the whole set, from the summed per-image counts."""
    pq = average_pq(counts.pq_counts(), counts.categories)
    confusion_rows = (counts.sem_tp.sum(0), counts.sem_gt.sum(0), counts.sem_pred.sum(0))
    out = {k: v for k, v in pq.items() if k.split("_")[0] in ("pq", "sq", "rq")}
    out.update(semantic_metrics(*(c[None] for c in confusion_rows)))
    return {k: (float(v[0]) if isinstance(v, np.ndarray) else v) for k, v in out.items()}


# --- many image sets at once: weights (B, I) = how often each image is drawn in each of B resamples ----------

def resampled(counts: PerImageCounts, weights: np.ndarray, key: str) -> np.ndarray:
    """Metric `key` (pq, sq, rq with _th / _st, miou, accuracy; percent) of each weighted image set:
    (B,) values, NaN where it is undefined. Sums are one matrix product per count array."""
    weights = np.asarray(weights, np.float64)
    if key in ("miou", "accuracy"):
        return semantic_metrics(weights @ counts.sem_tp, weights @ counts.sem_gt, weights @ counts.sem_pred)[key]
    tp, fp, fn, iou = (weights @ getattr(counts, name) for name in PQ_FIELDS)
    return pq_family(tp, fp, fn, iou, counts.isthing)[key]


def pq_family(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, iou: np.ndarray, isthing: np.ndarray
              ) -> dict[str, np.ndarray]:
    """`average_pq` over a leading batch axis: (B, C) counts -> {pq, sq, rq, pq_th, ...: (B,)}."""
    denom = tp + 0.5 * fp + 0.5 * fn
    counted = denom > 0
    values = {"pq": np.where(counted, iou / np.where(counted, denom, 1.0), 0.0),
              "sq": np.where(tp > 0, iou / np.maximum(tp, 1), 0.0),
              "rq": np.where(counted, tp / np.where(counted, denom, 1.0), 0.0)}
    out = {}
    for suffix, thing in GROUPS:
        member = counted & (isthing == thing if thing is not None else True)
        n = member.sum(1)
        for name, per_class in values.items():
            with np.errstate(invalid="ignore", divide="ignore"):
                out[f"{name}{suffix}"] = np.where(n > 0, 100.0 * (per_class * member).sum(1) / n, np.nan)
    return out


def semantic_metrics(tp: np.ndarray, gt: np.ndarray, pred: np.ndarray) -> dict[str, np.ndarray]:
    """mIoU (mean over classes with a non-empty union) and pixel accuracy of (B, K) confusion rows."""
    union = gt + pred - tp
    present = union > 0
    iou = np.where(present, 100.0 * tp / np.maximum(union, 1), 0.0)
    n = present.sum(1)
    total = gt.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return {"miou": np.where(n > 0, iou.sum(1) / n, np.nan),
                "accuracy": np.where(total > 0, 100.0 * tp.sum(1) / total, np.nan)}
