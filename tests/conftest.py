"""Shared fixtures: tests never touch the network (W&B offline) and build their own data."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")

from harness.data.categories import categories_json  # noqa: E402
from harness.data.dataset import write_panoptic_json, write_sample  # noqa: E402


def write_blocks_dataset(root, n: int = 3, height: int = 32, width: int = 48, seed: int = 0):
    """A hand-made COCO-panoptic dataset: road (stuff, bottom), sky (stuff, top), one car and one
    person (things) as rectangles, a void stripe. Small enough to reason about pixel by pixel."""
    rng = np.random.default_rng(seed)
    images, annotations = [], []
    for i in range(n):
        ids = np.zeros((height, width), np.uint32)
        ids[: height // 3] = 1000  # sky
        ids[height // 2:] = 2000  # road
        y, x = rng.integers(2, height // 3), rng.integers(0, width // 2)
        ids[y:y + 8, x:x + 12] = 26 * 1000 + 1  # car
        ids[y + 2:y + 10, x + 14:x + 18] = 24 * 1000 + 1  # person
        ids[:, -2:] = 0  # void stripe
        category_of = {1000: 23, 2000: 7, 26001: 26, 24001: 24}
        image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        entry, ann = write_sample(root, f"img_{i:03d}", image, ids, category_of, image_id=i)
        images.append(entry)
        annotations.append(ann)
    write_panoptic_json(root, images, annotations, categories_json())
    return root


@pytest.fixture
def blocks_dataset(tmp_path):
    return write_blocks_dataset(tmp_path / "blocks")


@pytest.fixture
def one_torch_thread():
    """Tiny models on a shared 2-core machine: one torch thread is faster than two competing ones
    (the count is restored afterwards, also when the code under test changed it)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
