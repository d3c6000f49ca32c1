"""Per-image random streams: a generated image depends only on (seed, source image, copy index),
never on the number of workers or the order images are processed in."""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.seeding import keyed_rng, stable_hash


def image_rng(seed: int, image_id: Any, copy_index: int, stream: int = 0) -> np.random.Generator:
    """The generator of one (source image, copy); `stream` separates independent uses."""
    return keyed_rng(seed, stable_hash(image_id), copy_index, stream)
