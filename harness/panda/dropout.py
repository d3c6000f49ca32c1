"""Segment dropout (paper section 4.3): segments under 10 % of the frame are never dropped, over
50 % always, and in between with probability linear in the area fraction, (a - 0.10) / 0.40. This
is what rebalances classes: road and building lose pixels, poles and persons keep theirs."""

from __future__ import annotations

import numpy as np


def dropout_probability(area_fraction: np.ndarray | float, min_area: float = 0.10,
                        max_area: float = 0.50) -> np.ndarray:
    """p(drop) for each area fraction: 0 below `min_area`, 1 above `max_area`, linear in between."""
    a = np.asarray(area_fraction, dtype=np.float64)
    return np.clip((a - min_area) / (max_area - min_area), 0.0, 1.0)


def sample_keep(rng: np.random.Generator, area_fraction: np.ndarray, min_area: float = 0.10,
                max_area: float = 0.50) -> np.ndarray:
    """Bool array, True for segments that survive; one uniform draw per segment."""
    p = dropout_probability(area_fraction, min_area, max_area)
    return rng.random(p.shape) >= p
