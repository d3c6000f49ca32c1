"""Panoptic things as COCO instance annotations (RLE mask, mask area, mask bbox, `iscrowd` kept).

One converter shared by instance evaluation (harness.metrics.instances: COCOeval, where
crowd regions are ignore regions) and the dataset export for detectron2 / mmdetection (their
instance branches read a COCO *instances* JSON next to the panoptic one), in two forms that give
the same annotations: `thing_annotations`, one mask per segment through pycocotools' encoder (the
reference), and `thing_instances`, every segment's RLE from one run-length pass over the id map (the
ground-truth cache's builder: a cold evaluation costs little more than decoding the PNGs)."""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np
from pycocotools import mask as mask_utils


def encode_mask(mask: np.ndarray) -> dict:
    """COCO RLE of a boolean (H, W) mask, `counts` as str so it serialises to JSON."""
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(s) for s in rle["size"]], "counts": rle["counts"].decode("ascii")}


def thing_annotations(ids: np.ndarray, segments_info: Iterable[dict], thing_ids: set[int],
                      image_id: Any) -> list[dict]:
    """COCO instance annotations (no `id`: the caller numbers them across images) of the thing
    segments of one panoptic id map. A segment listed in the JSON but with no pixel is skipped: it
    has no mask to learn or evaluate."""
    annotations = []
    for seg in segments_info:
        if int(seg["category_id"]) not in thing_ids:
            continue
        mask = ids == int(seg["id"])
        if not mask.any():
            continue
        rle = encode_mask(mask)
        annotations.append({"image_id": image_id, "category_id": int(seg["category_id"]), "segmentation": rle,
                            "area": float(mask.sum()), "bbox": [float(v) for v in mask_utils.toBbox(rle)],
                            "iscrowd": int(seg.get("iscrowd", 0))})
    return annotations


def column_runs(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(value, start, end) of each run of equal ids in column-major order, COCO RLE's pixel order. The
    changes are found row-major (contiguous) and only their positions are put in column-major order,
    a stable sort of the few thousand changes by column (their rows are in order already): ~2.5x
    faster than comparing a column-major copy of the ids, ~3x faster than reading the boolean map
    column-major (0.25 against 0.8 ms at 512x1024)."""
    h, w = ids.shape
    change = np.empty((h, w), bool)
    np.not_equal(ids[1:], ids[:-1], out=change[1:])  # a new run down a column
    np.not_equal(ids[0, 1:], ids[-1, :-1], out=change[0, 1:])  # a column's top against the previous bottom
    change[0, 0] = True
    row, column = np.divmod(np.flatnonzero(change), w)
    keys = column.astype(np.uint16) if w <= np.iinfo(np.uint16).max else column  # 16-bit: numpy's radix sort
    order = np.argsort(keys, kind="stable")
    row, column = row[order], column[order]
    starts = column * h + row
    return ids[row, column], starts, np.append(starts[1:], h * w)


def thing_instances(ids: np.ndarray, segments_info: Iterable[dict], thing_ids: set[int]) -> list[dict]:
    """`thing_annotations` of one id map (no `image_id`), equal to it field by field, from one
    run-length pass: each segment's runs give its RLE counts (zeros before each run, the run, the zeros
    after the last), pycocotools only compresses them and reads their boxes."""
    height, width = ids.shape
    things = [s for s in segments_info if int(s["category_id"]) in thing_ids]
    seg_ids = np.asarray([int(s["id"]) for s in things], np.int64)
    values, starts, ends = column_runs(ids)
    keep = np.isin(values, seg_ids)
    order = np.argsort(values[keep], kind="stable")  # each segment's runs together, in pixel order
    values, starts, ends = values[keep][order], starts[keep][order], ends[keep][order]
    firsts, lasts = np.searchsorted(values, seg_ids, "left"), np.searchsorted(values, seg_ids, "right")
    previous_end = np.empty_like(starts)  # where the segment's previous run ended (0 before its first)
    previous_end[1:] = ends[:-1]
    previous_end[firsts[firsts < len(starts)]] = 0
    lengths = ends - starts
    runs = np.stack([starts - previous_end, lengths], axis=1).ravel().tolist()  # (zeros, ones) per run, all segments
    covered = np.concatenate([[0], np.cumsum(lengths)]).tolist()  # pixels in runs before each run
    listed, counts, areas = [], [], []
    for seg, first, last in zip(things, firsts.tolist(), lasts.tolist()):
        if first == last:
            continue  # no pixel: no mask to evaluate
        tail = ids.size - int(ends[last - 1])
        listed.append(seg)
        counts.append({"size": [height, width], "counts": runs[2 * first:2 * last] + ([tail] if tail else [])})
        areas.append(float(covered[last] - covered[first]))
    if not listed:
        return []
    rles = mask_utils.frPyObjects(counts, height, width)
    boxes = mask_utils.toBbox(rles).tolist()
    return [{"category_id": int(seg["category_id"]),
             "segmentation": {"size": [height, width], "counts": rle["counts"].decode("ascii")},
             "area": area, "bbox": [float(v) for v in box], "iscrowd": int(seg.get("iscrowd", 0))}
            for seg, rle, area, box in zip(listed, rles, areas, boxes)]
