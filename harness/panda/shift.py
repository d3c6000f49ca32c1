"""Where a segment lands (paper sections 3 and 4.3).

Zoom (the paper's default): resize and shift are coupled as a zoom about the image centre C, so a
segment centre c moves to C + s·(c - C): enlarged segments are pushed to the periphery and shrunk
ones pulled toward the centre, simulating approaching motion. Scaling the crop by s about its own
centre and then moving that centre this way maps every pixel p to C + s·(p - C) exactly.

Shift alone (resize off, Table 4 ablation): a uniform random translation by up to
`shift_range`·(W, H) in each axis."""

from __future__ import annotations

import numpy as np


def zoom_centers(centers: np.ndarray, scales: np.ndarray, source_frame: tuple[int, int],
                 target_frame: tuple[int, int] | None = None) -> np.ndarray:
    """(N, 2) (y, x) centres -> their images under the zoom C + s·(c - C).

    `target_frame` differs from `source_frame` only in hybrid mode: offsets from the source centre
    are carried over to the target's centre."""
    target_frame = target_frame or source_frame
    source_c = np.asarray(source_frame, dtype=np.float64) / 2.0
    target_c = np.asarray(target_frame, dtype=np.float64) / 2.0
    return target_c + np.asarray(scales, np.float64)[:, None] * (np.asarray(centers, np.float64) - source_c)


def sample_translations(rng: np.random.Generator, n: int, frame: tuple[int, int], shift_range: float) -> np.ndarray:
    """(N, 2) (dy, dx), each uniform in [-shift_range·H, shift_range·H] x [-shift_range·W, shift_range·W]."""
    extent = shift_range * np.asarray(frame, dtype=np.float64)
    return rng.uniform(-1.0, 1.0, size=(n, 2)) * extent


def recentre(centers: np.ndarray, source_frame: tuple[int, int], target_frame: tuple[int, int]) -> np.ndarray:
    """Keep each centre's offset from the frame centre (identity when the frames agree)."""
    return zoom_centers(centers, np.ones(len(centers)), source_frame, target_frame)
