"""Colours of a painted scene: each part's colour, its class's texture, smooth and per-pixel noise."""

from __future__ import annotations

import numpy as np

from harness.data.synth.canvas import Canvas
from harness.data.synth.textures import texture_table

def _lowfreq_noise(rng, height: int, width: int, cell: float) -> np.ndarray:
    """Smooth noise: a coarse Gaussian grid upsampled bilinearly (separable gathers, no loops)."""
    gh, gw = int(np.ceil(height / cell)) + 2, int(np.ceil(width / cell)) + 2
    grid = rng.standard_normal((gh, gw), dtype=np.float32)
    fy = np.arange(height, dtype=np.float32) / cell
    fx = np.arange(width, dtype=np.float32) / cell
    y0, x0 = fy.astype(np.int32), fx.astype(np.int32)
    wy, wx = (fy - y0)[:, None], (fx - x0)[None, :]
    rows = grid[y0] * (1 - wy) + grid[y0 + 1] * wy  # (H, gw)
    return rows[:, x0] * (1 - wx) + rows[:, x0 + 1] * wx


def render(rng, canvas: Canvas) -> np.ndarray:
    """Colour of each part + its class's luminance texture + per-pixel noise, with a per-image gain
    and colour cast. All per-class parameters are looked up per pixel (np.take), no loop over classes."""
    h, w = canvas.height, canvas.width
    scale = float(np.sqrt(h * w / (256 * 512)))
    tex = texture_table(scale)
    cls = np.take(np.asarray(canvas.train_id, np.uint8), canvas.parts)
    lookup = lambda name: np.take(tex[name], cls)  # noqa: E731
    y = np.arange(h, dtype=np.float32)[:, None]
    x = np.arange(w, dtype=np.float32)[None, :]

    uniform_std = np.float32(2 * np.sqrt(3.0))  # U(-0.5, 0.5) * this has unit variance
    lum = lookup("fine") * ((rng.random((h, w), dtype=np.float32) - 0.5) * uniform_std)
    lum += lookup("blotch") * _lowfreq_noise(rng, h, w, 12 * scale)
    lum += lookup("vgrad") * (y / h - 0.5)
    inv_cell = np.take(np.where(tex["cell_period"] > 0, 1 / np.maximum(tex["cell_period"], 1), 0).astype(np.float32), cls)
    duty = lookup("cell_duty")
    cx, cy = x * inv_cell, y * inv_cell
    cells = ((cx - np.floor(cx)) < duty) & ((cy - np.floor(cy)) < duty) & (inv_cell > 0)
    lum += lookup("cell_amp") * cells
    angle = np.deg2rad(tex["stripe_angle"])
    freq = np.where(tex["stripe_period"] > 0, 2 * np.pi / np.maximum(tex["stripe_period"], 1), 0)
    fx, fy = np.take((np.cos(angle) * freq).astype(np.float32), cls), np.take((np.sin(angle) * freq).astype(np.float32), cls)
    lum += lookup("stripe_amp") * np.cos(x * fx + y * fy)

    gain = np.float32(rng.uniform(0.8, 1.15))
    cast = rng.uniform(-12, 12, 3).astype(np.float32)
    image = np.take(np.asarray(canvas.color, np.float32) * gain + cast, canvas.parts, axis=0)
    image += lum[..., None]
    image += (rng.random((h, w, 3), dtype=np.float32) - 0.5) * np.float32(10.0)  # colour noise, std 2.9
    return np.clip(image, 0, 255).astype(np.uint8)
