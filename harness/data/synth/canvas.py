"""The drawing surface of a synthetic scene: a map of painted parts, the street's one-point
perspective and the camera height that sizes everything (an object of height h metres standing t
pixels below the horizon appears t * h / CAMERA_HEIGHT_M pixels tall)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harness.data.categories import CITYSCAPES_CATEGORIES

CAMERA_HEIGHT_M = 1.5
CATEGORY = {c.name: c for c in CITYSCAPES_CATEGORIES}
VOID_CLASS = len(CITYSCAPES_CATEGORIES)  # texture row of void pixels (train ids are 0..18)


class Canvas:
    """Parts painted in order (later parts cover earlier ones). A part is one colour region of a
    segment (a car's body, windows and wheels are three parts of one segment)."""

    def __init__(self, height: int, width: int):
        self.height, self.width = height, width
        self.parts = np.zeros((height, width), np.uint16)  # part 0 = void
        self.segment = [0]
        self.train_id = [VOID_CLASS]
        self.color = [(0.0, 0.0, 0.0)]

    def add_part(self, segment_id: int, train_id: int, color) -> int:
        if len(self.segment) == np.iinfo(np.uint16).max:
            raise RuntimeError("too many parts in one scene")
        self.segment.append(segment_id)
        self.train_id.append(train_id)
        self.color.append(tuple(float(c) for c in color))
        return len(self.segment) - 1

    def paint(self, window: tuple[slice, slice], mask: np.ndarray, part: int) -> None:
        view = self.parts[window]
        view[np.broadcast_to(mask, view.shape)] = part

    def box(self, x0: float, y0: float, x1: float, y1: float):
        """Clip the box [x0, x1) x [y0, y1) to the image; return (window, a, b) where a (1, w) and
        b (h, 1) are normalised box coordinates (0..1 left->right, top->bottom) of pixel centres,
        or None when nothing of the box is visible."""
        ix0, iy0 = max(int(np.floor(x0)), 0), max(int(np.floor(y0)), 0)
        ix1, iy1 = min(int(np.ceil(x1)), self.width), min(int(np.ceil(y1)), self.height)
        if ix1 <= ix0 or iy1 <= iy0 or x1 - x0 < 1 or y1 - y0 < 1:
            return None
        a = ((np.arange(ix0, ix1, dtype=np.float32) + 0.5 - x0) / (x1 - x0))[None, :]
        b = ((np.arange(iy0, iy1, dtype=np.float32) + 0.5 - y0) / (y1 - y0))[:, None]
        return (slice(iy0, iy1), slice(ix0, ix1)), a, b


@dataclass(frozen=True)
class Street:
    horizon: float  # y of the horizon (pixels)
    vanish_x: float  # x of the vanishing point
    road_k: tuple[float, float]  # road half-width per pixel below the horizon (left, right)
    outer_k: tuple[float, float]  # outer edge of sidewalk/terrain, same units
    sidewalk_k: tuple[float, float]  # outer edge of the sidewalk

    def ground_x(self, t: float, lateral: float) -> float:
        """x of a ground point t pixels below the horizon; lateral in [-1, 1] spans the road,
        beyond ±1 the sidewalk (±sidewalk_k/road_k) and terrain."""
        k = self.road_k[0] if lateral < 0 else self.road_k[1]
        return self.vanish_x + lateral * k * t


def jitter(rng: np.random.Generator, color, amount: float) -> np.ndarray:
    return np.clip(np.asarray(color, np.float32) + rng.uniform(-amount, amount, 3), 0, 255)


def ellipse(a, b, ca, cb, ra, rb):
    return ((a - ca) / ra) ** 2 + ((b - cb) / rb) ** 2 < 1.0
