"""Decompose a panoptic ground truth into segments (paper section 3, Fig 1): every things instance
AND every stuff region becomes one segment; void pixels (id 0) are background and are not kept.

Each segment keeps only its bbox crop (mask + pixels), so later operations cost O(segment), not
O(image). The JSON is checked against the PNG on the way, by the rule `data check` applies, at the
cost of the crops: each segment's pixels inside its bbox number `area` and touch all four sides of
it, and those pixels plus void make up the whole frame (so no pixel of the segment lies outside its
bbox and no id is unlisted)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.data.panoptic_format import mask_stats
from harness.errors import DatasetError


@dataclass(frozen=True)
class Segment:
    id: int
    category_id: int
    iscrowd: int
    top: int
    left: int
    mask: np.ndarray  # (h, w) bool, the segment inside its bbox
    pixels: np.ndarray  # (h, w, 3) uint8, the image inside the bbox
    frame: tuple[int, int]  # (H, W) of the source image

    @property
    def area(self) -> int:
        return int(self.mask.sum())

    @property
    def area_fraction(self) -> float:
        """a = area / (H·W), the quantity dropout is driven by (section 4.3)."""
        return self.area / float(self.frame[0] * self.frame[1])

    @property
    def center(self) -> tuple[float, float]:
        """(y, x) centre of the bbox in continuous pixel coordinates."""
        h, w = self.mask.shape
        return self.top + h / 2.0, self.left + w / 2.0


def decompose(image: np.ndarray, ids: np.ndarray, segments_info: list[dict],
              label_path: str | Path = "<label>") -> list[Segment]:
    """Segments of one image, in `segments_info` order; raises DatasetError naming `label_path` when
    the PNG and the JSON disagree."""
    if image.shape[:2] != ids.shape:
        raise DatasetError(label_path, f"label is {ids.shape[1]}x{ids.shape[0]} but the image is "
                                       f"{image.shape[1]}x{image.shape[0]}")
    height, width = ids.shape
    segments, covered = [], 0
    for info in segments_info:
        sid = int(info["id"])
        x, y, w, h = (int(v) for v in info["bbox"])
        if w <= 0 or h <= 0 or x < 0 or y < 0 or x + w > width or y + h > height:
            raise DatasetError(label_path, f"segment {sid}: bbox {info['bbox']} lies outside the "
                                           f"{width}x{height} frame")
        mask = ids[y:y + h, x:x + w] == sid
        found = mask_stats(mask, y, x)
        area = found[0] if found else 0
        if area != int(info["area"]):
            raise DatasetError(label_path, f"segment {sid}: panoptic.json says area {info['area']} with bbox "
                                           f"{info['bbox']}, the PNG holds {area} pixels inside that bbox")
        if found is not None and found[1] != [x, y, w, h]:
            raise DatasetError(label_path, f"segment {sid} has bbox {info['bbox']} in panoptic.json but {found[1]} "
                                           "in the PNG")
        covered += area
        segments.append(Segment(sid, int(info["category_id"]), int(info.get("iscrowd", 0)), y, x, mask,
                                image[y:y + h, x:x + w], (height, width)))
    void = int(np.count_nonzero(ids == 0))
    if covered + void != height * width:
        raise DatasetError(label_path, f"{height * width - covered - void} pixels carry segment ids that "
                                       "panoptic.json does not list")
    return segments
