"""What fills a PanDA image (issue 25: does realism matter?). The label map is composed exactly as
the paper does (compose.py); only the pixels change:

- `noise`: the paper's white-noise canvas (PanDA Sec. 3), today's output byte for byte;
- `generator`: every pixel no segment covers is the synthesis generator's rendering of the composed
  label map, every segment pixel is the noise variant's (the in-painting alternative PanDA argues
  against, done with the other paper's model);
- `rendered`: the whole image is the generator's rendering (photoreal PanDA). With dropout, resize
  and shift off it renders the original label maps: GAN-based augmentation, the approach PanDA
  contrasts itself with (the "rendered originals" arm).

The generator is handed in as a `Renderer` (harness/models/synthesis/render.py builds one from a
synthesis run): this layer sits below the models and never loads one."""

from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np

from harness.errors import ConfigError
from harness.panda.compose import PandaSample

Renderer = Callable[[PandaSample], np.ndarray]  # sample -> (H, W, 3) uint8 rendering of its label map


def on_canvas(sample: PandaSample, canvas: str, render: Renderer | None) -> PandaSample:
    """`sample` (composed on noise) with its image filled as `canvas` says; the label is untouched."""
    if canvas == "noise":
        return sample
    if render is None:
        raise ConfigError(f"panda.canvas={canvas} needs a loaded generator (panda.generator), none was given")
    rendered = np.asarray(render(sample), dtype=np.uint8)
    if rendered.shape != sample.image.shape:
        raise ValueError(f"the generator rendered {rendered.shape}, the PanDA image is {sample.image.shape}")
    image = rendered if canvas == "rendered" else np.where((sample.layer > 0)[..., None], sample.image, rendered)
    return dataclasses.replace(sample, image=np.ascontiguousarray(image))
