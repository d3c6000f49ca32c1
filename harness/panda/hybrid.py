"""Hybrid images (paper section 5, Discussion): segments of a new image may come from several source
images, which expands the variation combinatorially (Cityscapes' 3,000 images hold 78,000 segments).

A hybrid image of source i pools i with `k - 1` other images drawn at random, and keeps each pooled
segment with probability 1/k, so on average it carries one image's worth of segments before the
usual dropout / resize / shift. The partners are drawn from the image ids of the source dataset, so a
hybrid image depends on (seed, source image, copy index) and on which images the dataset holds."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from harness.panda.decompose import Segment


def choose_partners(rng: np.random.Generator, image_ids: Sequence[Any], primary: Any, k: int) -> list[Any]:
    """[primary] + (k - 1) distinct other image ids (fewer when the dataset is smaller)."""
    others = [i for i in image_ids if i != primary]
    picks = rng.choice(len(others), size=min(k - 1, len(others)), replace=False) if others else []
    return [primary] + [others[j] for j in sorted(picks)]


def pool_segments(rng: np.random.Generator, segment_lists: Sequence[list[Segment]]) -> list[Segment]:
    """Segments of all pooled images, each kept with probability 1 / len(segment_lists)."""
    pooled = [s for segments in segment_lists for s in segments]
    keep = rng.random(len(pooled)) < 1.0 / len(segment_lists)
    return [s for s, k in zip(pooled, keep) if k]
