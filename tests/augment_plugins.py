"""Plugins of the augmentation door used by tests/test_augment_door.py (importable as `augment_plugins:NAME`
once tests/ is on sys.path, as pytest puts it): one that draws from `rng`, one that draws from `pool`, and
three broken ones that the door must refuse."""

from __future__ import annotations

import numpy as np


def flip_or_not(image, panoptic, segments, *, rng, p=0.5):
    """A horizontal flip with probability `p` (uses `rng`)."""
    if rng.random() < p:
        return image[:, ::-1].copy(), panoptic[:, ::-1].copy(), segments
    return image, panoptic, segments


def left_right(image, panoptic, segments, *, rng, pool):
    """The left half of this sample beside the right half of another (uses `pool`); ids of the other are
    shifted above this sample's so the two never collide. The output keeps the sample's size."""
    other_image, other_ids, other_segments = pool(rng)
    h, w = panoptic.shape
    half = w // 2
    other_image, other_ids = other_image[:h, :w], other_ids[:h, :w].astype(np.uint32)
    offset = int(max([0, *(s["id"] for s in segments)]))
    out_ids = panoptic.astype(np.uint32).copy()
    out_image = image.copy()
    right = other_ids[:, half:]
    out_ids[:, half:] = np.where(right > 0, right + offset, 0)
    out_image[:, half:] = other_image[:, half:]
    present = set(np.unique(out_ids).tolist())
    mine = [s for s in segments if s["id"] in present]
    theirs = [{**s, "id": s["id"] + offset} for s in other_segments if s["id"] + offset in present]
    return out_image, out_ids, mine + theirs


def wrong_size(image, panoptic, segments, *, rng):
    return image, panoptic[:-1], segments


def unknown_category(image, panoptic, segments, *, rng):
    return image, panoptic, [{**s, "category_id": 9999} for s in segments]


def missing_segment(image, panoptic, segments, *, rng):
    return image, panoptic, [*segments, {"id": 2**23, "category_id": segments[0]["category_id"], "iscrowd": 0}]
