"""Panoptic-quality counts of one image, with the exact semantics of COCO panopticapi's
`pq_compute_single_core` (Kirillov et al. 2019, Eq. 1; PanDA paper Sec. 2.1):

- a (ground truth, prediction) pair of the same category matches when IoU > 0.5 (strictly);
- predicted pixels lying on ground-truth void are removed from the union;
- crowd ground-truth segments are never matched and never counted as false negatives;
- an unmatched predicted segment is not a false positive when more than half of its pixels lie on
  void plus the crowd region of its own category (the last crowd segment of that category in
  `segments_info` order, as panopticapi keeps one per category);
- the ground-truth area is the JSON `area` when given (panopticapi reads it from there), the
  predicted area is always counted from the PNG (predictions may omit `area`).

All pixel work is one pass finding the runs of equal (gt, pred) and one `np.unique` of
`gt_id << 24 | pred_id` over them; the rest runs on the (few hundred) overlapping pairs, vectorised."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harness.errors import DatasetError

VOID = 0
ID_BITS = 24  # COCO-panoptic ids are 24-bit RGB, so gt << 24 | pred fits in 48 bits


@dataclass
class PQCounts:
    """Per-category accumulators, indexed like the category list they were built for."""

    iou: np.ndarray  # float64, sum of IoU over true positives
    tp: np.ndarray  # int64
    fp: np.ndarray
    fn: np.ndarray

    @classmethod
    def zeros(cls, n_categories: int) -> "PQCounts":
        return cls(np.zeros(n_categories), *(np.zeros(n_categories, np.int64) for _ in range(3)))

    def __iadd__(self, other: "PQCounts") -> "PQCounts":
        self.iou += other.iou
        self.tp += other.tp
        self.fp += other.fp
        self.fn += other.fn
        return self


@dataclass(frozen=True)
class SegmentTable:
    """The `segments_info` of one image as arrays; `where` names the JSON for error messages."""

    ids: np.ndarray  # int64, unique, non-zero
    category: np.ndarray  # index into the evaluation's category list
    iscrowd: np.ndarray  # bool
    area: np.ndarray  # int64, -1 where the JSON gives none

    @classmethod
    def from_json(cls, segments: list[dict], category_index: dict[int, int], where: str,
                  image_id: object) -> "SegmentTable":
        ids = np.array([int(s["id"]) for s in segments], np.int64)
        if (ids == VOID).any():
            raise DatasetError(where, f"image {image_id!r}: segment id 0 is reserved for void")
        if len(set(ids.tolist())) != len(ids):  # not np.unique: it imports numpy.ma (7 ms) on first use
            raise DatasetError(where, f"image {image_id!r}: duplicate segment ids in segments_info")
        categories = []
        for s in segments:
            if int(s["category_id"]) not in category_index:
                raise DatasetError(where, f"image {image_id!r}: segment {s['id']} has unknown "
                                          f"category_id {s['category_id']} (not in the ground-truth categories)")
            categories.append(category_index[int(s["category_id"])])
        return cls(ids, np.array(categories, np.int64),
                   np.array([int(s.get("iscrowd", 0)) == 1 for s in segments], bool),
                   np.array([int(s.get("area", -1)) for s in segments], np.int64))


def overlap_pairs(gt_ids: np.ndarray, pred_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(gt id, pred id, pixel count) of every overlapping pair.

    Panoptic maps are long horizontal runs of one (gt, pred) pair, so the pairs are counted over
    runs: one pass marks where either map changes, and `np.unique` of `gt << 24 | pred` runs over
    the run starts (tens of thousands instead of millions of pixels) with the run lengths as
    weights. Only the low 24 bits of each value are used, so Pillow's RGBX words can be passed
    as they are."""
    g, p = gt_ids.reshape(-1), pred_ids.reshape(-1)
    change = np.empty(g.size, bool)
    change[:1] = True
    np.not_equal(g[1:], g[:-1], out=change[1:])
    change[1:] |= p[1:] != p[:-1]
    starts = np.flatnonzero(change)
    lengths = np.diff(starts, append=g.size)
    mask = np.uint64((1 << ID_BITS) - 1)
    key = ((g[starts].astype(np.uint64) & mask) << np.uint64(ID_BITS)) | (p[starts].astype(np.uint64) & mask)
    keys, inverse = np.unique(key, return_inverse=True)
    counts = np.bincount(inverse, weights=lengths, minlength=len(keys)).astype(np.int64)
    return (keys >> np.uint64(ID_BITS)).astype(np.int64), (keys & mask).astype(np.int64), counts


def _rows(ids_in_png: np.ndarray, table: SegmentTable, png: str, json_path: str, image_id: object,
          require_all: bool) -> np.ndarray:
    """Map ids seen in a PNG to rows of `table` (void -> -1); every non-void id must be in the JSON,
    and with `require_all` every JSON segment must appear in the PNG."""
    order = np.argsort(table.ids)
    sorted_ids = table.ids[order]
    pos = np.clip(np.searchsorted(sorted_ids, ids_in_png), 0, max(len(sorted_ids) - 1, 0))
    known = (sorted_ids[pos] == ids_in_png) if len(sorted_ids) else np.zeros(len(ids_in_png), bool)
    unknown = ~known & (ids_in_png != VOID)
    if unknown.any():
        bad = np.unique(ids_in_png[unknown])[:5].tolist()
        raise DatasetError(png, f"segment id(s) {bad} are in the PNG but not in {json_path} (image {image_id!r})")
    rows = np.where(known, order[pos] if len(order) else -1, -1)
    if require_all:
        missing = np.setdiff1d(table.ids, ids_in_png)
        if len(missing):
            raise DatasetError(json_path, f"image {image_id!r}: segment id(s) {missing[:5].tolist()} are in "
                                          f"segments_info but not in {png}")
    return rows


def pq_counts(gt_ids: np.ndarray, gt: SegmentTable, pred_ids: np.ndarray, pred: SegmentTable, n_categories: int,
              *, image_id: object = None, gt_png: str = "gt", pred_png: str = "pred", gt_json: str = "gt.json",
              pred_json: str = "pred.json") -> PQCounts:
    """TP / FP / FN / IoU-sum per category for one image (see module docstring for the rules).

    `gt_ids` / `pred_ids` are (H, W) integer maps of which only the low 24 bits are read (Pillow's
    RGBX words work as they are); the names are used in error messages only."""
    if gt_ids.shape != pred_ids.shape:
        raise DatasetError(pred_png, f"size {pred_ids.shape[1]}x{pred_ids.shape[0]} differs from the ground truth "
                                     f"{gt_ids.shape[1]}x{gt_ids.shape[0]} ({gt_png})")
    pair_gt, pair_pred, inter = overlap_pairs(gt_ids, pred_ids)
    g = _rows(pair_gt, gt, gt_png, gt_json, image_id, require_all=False)
    p = _rows(pair_pred, pred, pred_png, pred_json, image_id, require_all=True)

    pred_area = np.bincount(p[p >= 0], weights=inter[p >= 0], minlength=len(pred.ids)).astype(np.int64)
    gt_pixels = np.bincount(g[g >= 0], weights=inter[g >= 0], minlength=len(gt.ids)).astype(np.int64)
    gt_area = np.where(gt.area >= 0, gt.area, gt_pixels)
    pred_on_void = np.bincount(p[(g < 0) & (p >= 0)], weights=inter[(g < 0) & (p >= 0)],
                               minlength=len(pred.ids)).astype(np.int64)

    # Matching: every overlapping pair of the same category with a non-crowd ground truth.
    cand = (g >= 0) & (p >= 0)
    cand[cand] = (gt.category[g[cand]] == pred.category[p[cand]]) & ~gt.iscrowd[g[cand]]
    gc, pc, ic = g[cand], p[cand], inter[cand]
    union = pred_area[pc] + gt_area[gc] - ic - pred_on_void[pc]
    iou = ic / union
    hit = iou > 0.5
    counts = PQCounts.zeros(n_categories)
    counts.tp += np.bincount(gt.category[gc[hit]], minlength=n_categories)
    counts.iou += np.bincount(gt.category[gc[hit]], weights=iou[hit], minlength=n_categories)
    gt_matched = np.zeros(len(gt.ids), bool)
    gt_matched[gc[hit]] = True
    pred_matched = np.zeros(len(pred.ids), bool)
    pred_matched[pc[hit]] = True

    missed = ~gt_matched & ~gt.iscrowd
    counts.fn += np.bincount(gt.category[missed], minlength=n_categories)

    # One crowd region per category: panopticapi's dict keeps the last one in segments_info order.
    crowd_row = np.full(n_categories, -1, np.int64)
    crowd_rows = np.flatnonzero(gt.iscrowd)
    crowd_row[gt.category[crowd_rows]] = crowd_rows  # later rows overwrite earlier ones
    pred_crowd_row = crowd_row[pred.category]
    on_own_crowd = np.zeros(len(pred.ids), np.int64)
    sel = (g >= 0) & (p >= 0)
    sel[sel] = pred_crowd_row[p[sel]] == g[sel]
    np.add.at(on_own_crowd, p[sel], inter[sel])
    ignored = (pred_on_void + on_own_crowd) / np.maximum(pred_area, 1) > 0.5
    false_pos = ~pred_matched & ~ignored
    counts.fp += np.bincount(pred.category[false_pos], minlength=n_categories)
    return counts
