"""Pure array helpers of the COCO-panoptic format: 24-bit segment ids in RGB PNGs and per-segment
area / bbox, computed for all segments of an image in one pass (no loop over pixels)."""

from __future__ import annotations

import numpy as np

VOID_ID = 0


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


def segment_stats(ids: np.ndarray) -> dict[int, tuple[int, list[int]]]:
    """Area and COCO bbox [x, y, w, h] of every non-void id in `ids`.

    One `np.unique` over the flat map plus `minimum/maximum.reduceat` over the sorted order:
    O(HW log HW) with no Python loop over pixels or per-segment full-image masks."""
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
