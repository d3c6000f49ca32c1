"""The worked example of the augmentation door's plugin contract (README "Bring your own augmentation"):
object dropout, a random subset of the thing instances blanked out (a cutout that follows the masks).

    panbench augment --method harness.panda.example:drop_things --src DIR --out DIR --copies 1 --seed 0 \
        --set p=0.5

Every plugin has this shape: decoded arrays in, decoded arrays out, all randomness from `rng` (so
panbench can make the output a pure function of the data seed, the image and the copy or pass), and
`area` / `bbox` left to panbench, which recomputes and checks them."""

from __future__ import annotations

from typing import Mapping

import numpy as np


def drop_things(image: np.ndarray, panoptic: np.ndarray, segments: list[dict], *, rng: np.random.Generator,
                categories: Mapping[int, dict], p: float = 0.3, fill: int = 0
                ) -> tuple[np.ndarray, np.ndarray, list[dict]]:
    """Each non-crowd thing instance is dropped with probability `p`: its pixels become void (id 0)
    and `fill` grey in the image; stuff and crowd regions are kept."""
    draws = rng.random(len(segments))  # one draw per segment, thing or not: a stable stream
    dropped = [s["id"] for s, u in zip(segments, draws)
               if categories[s["category_id"]]["isthing"] and not s.get("iscrowd", 0) and u < p]
    mask = np.isin(panoptic, dropped)
    image, panoptic = image.copy(), panoptic.copy()
    image[mask] = fill
    panoptic[mask] = 0
    return image, panoptic, [s for s in segments if s["id"] not in dropped]
