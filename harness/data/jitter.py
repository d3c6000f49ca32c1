"""Flip and scale jitter of a decoded sample (image and panoptic ids together): the training loader's
standard augmentation and Simple Copy-Paste's large-scale jitter (Ghiasi et al. 2021, Sec. 3) share it."""

from __future__ import annotations

import numpy as np
from PIL import Image


def flip(image: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return image[:, ::-1].copy(), ids[:, ::-1].copy()


def rescale_fixed_size(rng: np.random.Generator, image: np.ndarray, ids: np.ndarray,
                       scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Rescale by `scale` (image bilinear, ids nearest), then crop (scale > 1) or pad with void
    (scale < 1) back to the input size at a random offset: objects change size, the batch shape
    does not (so the model's own resize does not undo the jitter)."""
    height, width = ids.shape
    new_h, new_w = max(1, round(height * scale)), max(1, round(width * scale))
    image = np.asarray(Image.fromarray(image).resize((new_w, new_h), Image.BILINEAR))
    rows = np.minimum((np.arange(new_h) + 0.5) * height / new_h, height - 1).astype(np.int64)
    cols = np.minimum((np.arange(new_w) + 0.5) * width / new_w, width - 1).astype(np.int64)
    ids = ids[rows[:, None], cols[None, :]]
    out_image = np.zeros((height, width, 3), np.uint8)
    out_ids = np.zeros((height, width), ids.dtype)
    dy, dx = int(rng.integers(0, abs(new_h - height) + 1)), int(rng.integers(0, abs(new_w - width) + 1))
    src_y = slice(dy, dy + height) if new_h >= height else slice(0, new_h)
    dst_y = slice(0, height) if new_h >= height else slice(dy, dy + new_h)
    src_x = slice(dx, dx + width) if new_w >= width else slice(0, new_w)
    dst_x = slice(0, width) if new_w >= width else slice(dx, dx + new_w)
    out_image[dst_y, dst_x] = image[src_y, src_x]
    out_ids[dst_y, dst_x] = ids[src_y, src_x]
    return out_image, out_ids
