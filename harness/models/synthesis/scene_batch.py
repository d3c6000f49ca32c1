"""A synthesis batch straight from procedural street scenes (no files): what the tests and the
synthesis bench feed the GAN, in the batch layout SynthesisGAN reads."""

from __future__ import annotations

import numpy as np
import torch

from harness.data.categories import categories_json, train_ids
from harness.data.panoptic_format import make_segments_info, semantic_map
from harness.data.synth import make_scene
from harness.seeding import keyed_rng


def scene_batch(n: int, height: int, width: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """{"image": (n, 3, H, W) float in [-1, 1], "semantic": (n, H, W) long train ids (255 = void),
    "panoptic": (n, H, W) long segment ids} of scenes (seed, 0..n-1)."""
    cat_to_train = train_ids(categories_json())
    images, semantics, panoptics = [], [], []
    for index in range(n):
        image, ids, category_of, iscrowd_of = make_scene(keyed_rng(seed, index), height, width)
        semantic = semantic_map(ids, make_segments_info(ids, category_of, iscrowd_of), cat_to_train)
        images.append(torch.from_numpy(image).permute(2, 0, 1).float() / 127.5 - 1)
        semantics.append(torch.from_numpy(semantic.astype(np.int64)))
        panoptics.append(torch.from_numpy(ids.astype(np.int64)))
    return {"image": torch.stack(images), "semantic": torch.stack(semantics), "panoptic": torch.stack(panoptics)}
