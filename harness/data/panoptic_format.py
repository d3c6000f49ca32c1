"""Pure array helpers of the COCO-panoptic format: 24-bit segment ids in RGB PNGs, per-segment area
and bbox (all segments of an image in one pass, no loop over pixels), and id -> class maps."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from harness.data.categories import IGNORE_LABEL
from harness.errors import DatasetError

VOID_ID = 0

Stats = dict[int, tuple[int, list[int]]]  # id -> (area, COCO bbox [x, y, w, h])


def rgb2id(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 -> (H, W) uint32 segment ids, id = R + 256·G + 256²·B."""
    if rgb.ndim == 2:
        return rgb.astype(np.uint32)
    rgb = rgb.astype(np.uint32)
    return rgb[..., 0] + (rgb[..., 1] << 8) + (rgb[..., 2] << 16)


def id2rgb(ids: np.ndarray) -> np.ndarray:
    """(H, W) integer ids -> (H, W, 3) uint8 RGB, inverse of `rgb2id`."""
    ids = ids.astype(np.uint32)
    return np.stack([ids & 0xFF, (ids >> 8) & 0xFF, (ids >> 16) & 0xFF], axis=-1).astype(np.uint8)


def mask_stats(mask: np.ndarray, top: int = 0, left: int = 0) -> tuple[int, list[int]] | None:
    """(area, COCO bbox [x, y, w, h]) of a boolean mask whose [0, 0] is pixel (top, left) of the
    image; None when the mask is empty."""
    area = int(np.count_nonzero(mask))
    if area == 0:
        return None
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    return area, [left + int(cols[0]), top + int(rows[0]), int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1)]


def segment_stats(ids: np.ndarray, windows: Mapping[int, tuple[slice, slice]] | None = None) -> Stats:
    """Area and COCO bbox [x, y, w, h] of every non-void id in `ids` that has pixels.

    Without `windows`: one `np.unique` over the flat map plus `minimum/maximum.reduceat` over the
    sorted order, O(HW log HW), no Python loop over pixels or per-segment full-image masks. With
    `windows` {id: (rows, cols)}, a region known to hold all of an id's pixels (PanDA knows where
    it pasted each crop), only the ids listed are measured, each inside its window: O(window)."""
    if windows is not None:
        stats = {}
        for sid, (ys, xs) in windows.items():
            found = mask_stats(ids[ys, xs] == sid, ys.start or 0, xs.start or 0)
            if found is not None:
                stats[sid] = found
        return stats
    flat = ids.reshape(-1)
    order = np.argsort(flat, kind="stable")
    sorted_ids = flat[order]
    uniq, starts, counts = np.unique(sorted_ids, return_index=True, return_counts=True)
    width = ids.shape[1]
    ys, xs = np.divmod(order, width)
    x0 = np.minimum.reduceat(xs, starts)
    x1 = np.maximum.reduceat(xs, starts)
    y0 = np.minimum.reduceat(ys, starts)
    y1 = np.maximum.reduceat(ys, starts)
    stats = {}
    for k, sid in enumerate(uniq.tolist()):
        if sid == VOID_ID:
            continue
        stats[sid] = (int(counts[k]), [int(x0[k]), int(y0[k]), int(x1[k] - x0[k] + 1), int(y1[k] - y0[k] + 1)])
    return stats


def make_segments_info(ids: np.ndarray, category_of: dict[int, int], iscrowd_of: dict[int, int] | None = None) -> list[dict]:
    """`segments_info` for the ids present in `ids`, with area and bbox recomputed from the map."""
    iscrowd_of = iscrowd_of or {}
    return [
        {"id": sid, "category_id": int(category_of[sid]), "area": area, "bbox": bbox,
         "iscrowd": int(iscrowd_of.get(sid, 0))}
        for sid, (area, bbox) in segment_stats(ids).items()
    ]


def segment_rows(ids: np.ndarray, seg_ids: np.ndarray | list[int]) -> np.ndarray:
    """(H, W) int64: each pixel's position in `seg_ids`, -1 where its id is void or not listed.

    One binary search per pixel over the (few hundred) sorted segment ids, O(HW log S): cheaper
    than sorting the pixels, and any per-segment table `t` becomes a pixel map as
    `np.append(t, fill)[rows]` (-1 picks the fill)."""
    seg_ids = np.asarray(seg_ids, np.int64)
    if not len(seg_ids):
        return np.full(ids.shape, -1, np.int64)
    order = np.argsort(seg_ids, kind="stable")
    sorted_ids = seg_ids[order]
    flat = ids.reshape(-1).astype(np.int64)
    pos = np.minimum(np.searchsorted(sorted_ids, flat), len(sorted_ids) - 1)
    found = (sorted_ids[pos] == flat) & (flat != VOID_ID)
    return np.where(found, order[pos], -1).reshape(ids.shape)


def semantic_map(ids: np.ndarray, segments_info: list[dict], class_of: Mapping[int, int], *,
                 fill: int = IGNORE_LABEL, unknown_category: str = "error",
                 source: str | Path = "panoptic map") -> np.ndarray:
    """(H, W) class map of a segment-id map: each segment's `class_of[category_id]`, `fill` on void
    and on ids `segments_info` does not list; uint8 when every value fits, else int32.

    A category missing from `class_of` is a DatasetError naming `source` (`unknown_category=
    "error"`), or `fill` (`"fill"`: a prediction's category the ground truth lacks labels no pixel
    correctly)."""
    seg_ids = [int(s["id"]) for s in segments_info]
    values = []
    for seg in segments_info:
        category = int(seg["category_id"])
        if category not in class_of and unknown_category == "error":
            raise DatasetError(source, f"segment {seg['id']} has category_id {category}, which is not in categories")
        values.append(class_of.get(category, fill))
    table = np.asarray(values + [fill], np.int64)
    dtype = np.uint8 if table.min() >= 0 and table.max() < 256 else np.int32
    return table.astype(dtype)[segment_rows(ids, seg_ids)]
