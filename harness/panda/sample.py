"""One PanDA sample in memory, from the decoded pixels of its source image(s): the one function the
offline generator (generate.py, which then encodes and writes it) and the online transform of the
data loader (online.py, which hands it straight to training) both call, so the two cannot drift.

A sample depends only on (seed, primary image id, copy index) and the sources: the compose draws
come from `image_rng(seed, id, copy)`, the hybrid pool from stream HYBRID_STREAM and the hybrid
partners (paper Sec. 5) from stream PARTNER_STREAM of the same key. The canvas (canvas.py) changes
only the pixels, after the compose, so the labels of every canvas are the same for one seed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from harness.panda.canvas import Renderer, on_canvas
from harness.panda.compose import PandaSample, panda_image
from harness.panda.config import PandaConfig
from harness.panda.decompose import decompose
from harness.panda.hybrid import choose_partners, pool_segments
from harness.panda.seeding import image_rng

HYBRID_STREAM, PARTNER_STREAM = 1, 2


@dataclass(frozen=True)
class Source:
    """One decoded source image with its label and annotation."""

    image: np.ndarray  # (H, W, 3) uint8
    ids: np.ndarray  # (H, W) panoptic ids
    segments_info: list[dict]
    label_path: str | Path  # named when the PNG and the JSON disagree


def hybrid_partners(seed: int, image_ids: Sequence[Any], image_id: Any, copy_index: int, k: int) -> list[Any]:
    """The images a hybrid copy pools its segments from: `image_id` first, then k - 1 others."""
    return choose_partners(image_rng(seed, image_id, copy_index, PARTNER_STREAM), image_ids, image_id, k)


def panda_sample(sources: Sequence[Source], seed: int, image_id: Any, copy_index: int,
                 config: PandaConfig, render: Renderer | None = None) -> PandaSample:
    """Copy `copy_index` of the image `image_id` (the first source; hybrid mode pools the others),
    in the first source's frame; `render` fills the canvas when `config.canvas` is not noise."""
    rng = image_rng(seed, image_id, copy_index)
    segment_lists = [decompose(s.image, s.ids, s.segments_info, s.label_path) for s in sources]
    if config.hybrid:
        segments = pool_segments(image_rng(seed, image_id, copy_index, HYBRID_STREAM), segment_lists)
    else:
        segments = segment_lists[0]
    return on_canvas(panda_image(rng, segments, sources[0].ids.shape[:2], config), config.canvas, render)
