"""Per-class luminance textures of synthetic scenes (windows, tiles, stripes, foliage noise), so a small
CNN learns a class from more than its mean colour."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harness.data.categories import CITYSCAPES_CATEGORIES

@dataclass(frozen=True)
class Texture:
    """Luminance pattern added to a part's colour. Periods are in pixels at 256x512."""

    fine: float = 5.0  # per-pixel noise (std)
    blotch: float = 0.0  # low-frequency noise (std)
    cell_period: float = 0.0  # periodic cells: windows, tiles, bulbs (0 = none)
    cell_duty: float = 0.5
    cell_amp: float = 0.0
    stripe_period: float = 0.0  # sinusoidal stripes (0 = none)
    stripe_angle: float = 0.0  # degrees; 0 = vertical stripes
    stripe_amp: float = 0.0
    vgrad: float = 0.0  # brightness change from image top to bottom


TEXTURES: dict[str, Texture] = {
    "road": Texture(fine=6, blotch=7, vgrad=-12),
    "sidewalk": Texture(fine=6, blotch=5, cell_period=24, cell_duty=0.88, cell_amp=16),
    "building": Texture(fine=5, blotch=9, cell_period=18, cell_duty=0.55, cell_amp=-32),
    "wall": Texture(fine=3, blotch=12, vgrad=10),
    "fence": Texture(fine=5, stripe_period=6, stripe_angle=45, stripe_amp=30, cell_period=12, cell_duty=0.7, cell_amp=10),
    "pole": Texture(fine=3, stripe_period=4, stripe_amp=10),
    "traffic light": Texture(fine=4, cell_period=6, cell_duty=0.5, cell_amp=45),
    "traffic sign": Texture(fine=4, blotch=4, stripe_period=10, stripe_angle=90, stripe_amp=15),
    "vegetation": Texture(fine=18, blotch=22),
    "terrain": Texture(fine=12, blotch=14, stripe_period=5, stripe_angle=80, stripe_amp=8),
    "sky": Texture(fine=2, blotch=6, vgrad=45),
    "person": Texture(fine=8, blotch=5, stripe_period=6, stripe_angle=90, stripe_amp=12),
    "rider": Texture(fine=8, cell_period=5, cell_duty=0.5, cell_amp=14),
    "car": Texture(fine=4, blotch=4, stripe_period=32, stripe_angle=90, stripe_amp=12, vgrad=-20),
    "truck": Texture(fine=6, cell_period=16, cell_duty=0.9, cell_amp=14),
    "bus": Texture(fine=5, stripe_period=12, stripe_angle=90, stripe_amp=18),
    "train": Texture(fine=5, stripe_period=8, stripe_amp=15),
    "motorcycle": Texture(fine=6, blotch=6, cell_period=4, cell_duty=0.5, cell_amp=20),
    "bicycle": Texture(fine=10),
}
VOID_TEXTURE = Texture(fine=10, blotch=10)


def texture_table(scale: float) -> dict[str, np.ndarray]:
    """Texture parameters as lookup tables indexed by train id (row 19 = void)."""
    rows = [TEXTURES[c.name] for c in CITYSCAPES_CATEGORIES] + [VOID_TEXTURE]
    table = {name: np.array([getattr(r, name) for r in rows], np.float32)
             for name in Texture.__dataclass_fields__}
    for period in ("cell_period", "stripe_period"):
        p = table[period]
        table[period] = np.where(p > 0, np.maximum(p * scale, 2.0), 0.0).astype(np.float32)
    return table
