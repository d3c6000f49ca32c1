"""Resize one segment crop by a factor with its aspect ratio kept (paper section 3: "simulates object
movement in depth"). The label is resampled nearest; the image bilinear (or area) with the segment
mask as a premultiplied weight, so edge pixels average only pixels of the same segment and never
bleed in the colours of its neighbours (needed for image/label consistency)."""

from __future__ import annotations

import numpy as np
from PIL import Image

_FILTERS = {"bilinear": Image.Resampling.BILINEAR, "area": Image.Resampling.BOX}


def resized_shape(shape: tuple[int, int], scale: float) -> tuple[int, int]:
    h, w = shape
    return max(1, int(round(h * scale))), max(1, int(round(w * scale)))


def resize_segment(pixels: np.ndarray, mask: np.ndarray, scale: float,
                   interpolation: str = "bilinear") -> tuple[np.ndarray, np.ndarray]:
    """(h, w, 3) uint8 pixels + (h, w) bool mask -> the same resized by `scale`.

    Pillow's float ("F") mode resamples each premultiplied channel; colour = Σ w·m·c / Σ w·m."""
    nh, nw = resized_shape(mask.shape, scale)
    if (nh, nw) == mask.shape:
        return pixels, mask
    size = (nw, nh)
    new_mask = np.asarray(Image.fromarray(mask.view(np.uint8)).resize(size, Image.Resampling.NEAREST)).astype(bool)
    weight = mask.astype(np.float32)
    resample = _FILTERS[interpolation]
    norm = np.asarray(Image.fromarray(weight).resize(size, resample))
    norm = np.maximum(norm, 1e-6)
    channels = [np.asarray(Image.fromarray(pixels[..., c] * weight).resize(size, resample)) / norm for c in range(3)]
    new_pixels = np.clip(np.rint(np.stack(channels, axis=-1)), 0, 255).astype(np.uint8)
    return new_pixels, new_mask
