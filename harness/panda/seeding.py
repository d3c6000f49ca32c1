"""Per-image random streams: a generated image depends only on (seed, source image, copy index),
never on the number of workers or the order images are processed in."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np


def stable_hash(value: Any) -> int:
    """64-bit hash of a JSON-able value, the same in every process and Python version
    (`hash()` of a str is salted per process)."""
    digest = hashlib.blake2b(json.dumps(value, sort_keys=True).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def image_rng(seed: int, image_id: Any, copy_index: int, stream: int = 0) -> np.random.Generator:
    """The generator of one (source image, copy); `stream` separates independent uses."""
    return np.random.default_rng([int(seed), stable_hash(image_id), int(copy_index), int(stream)])
