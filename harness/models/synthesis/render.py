"""A trained synthesis generator as PanDA's canvas `Renderer` (harness/panda/canvas.py, issue 25):
PanDA's composed label map -> the image the generator draws for it.

Deterministic whatever the workers: the generator runs on the CPU in eval mode (no dropout, batch
norm on its running statistics) with torch's deterministic algorithms and one thread, restored
after each call. SPADE's generator without its VAE encoder draws no noise (z), so a rendering is a
pure function of the label map and the weights; nothing is drawn from PanDA's rng, which keeps the
labels and the segment pixels of every canvas those of the noise canvas. The picklable `LabelRenderer`
is sent to the generator's worker processes and loads the weights there once.

A generator trained on the dataset's label maps (Cityscapes' 35 label ids, SPADE's input) is fed
PanDA's label map as label ids: a segment's category id is its label id (`panbench data cityscapes`
keeps label ids as category ids), and PanDA's canvas, void in the panoptic label, is label id 0
(Cityscapes' "unlabeled"): the map a label-id generator would be given for an unlabelled region."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
from PIL import Image

from harness.data.categories import IGNORE_LABEL, train_ids
from harness.data.panoptic_format import semantic_map
from harness.errors import ConfigError
from harness.models.synthesis.label_maps import resize_nearest
from harness.panda.compose import PandaSample

GAN = "gan"  # the synthesis task's one module in a checkpoint
_LOADED: dict[str, torch.nn.Module] = {}  # per process: checkpoint path -> model in eval mode


@contextmanager
def deterministic_cpu() -> Iterator[None]:
    """Deterministic algorithms and one thread for the block, the caller's settings restored after."""
    was_deterministic, threads = torch.are_deterministic_algorithms_enabled(), torch.get_num_threads()
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(was_deterministic)
        torch.set_num_threads(threads)


UNLABELED = 0  # the label id of PanDA's canvas for a label-map generator (Cityscapes: "unlabeled")


def load_synthesis_checkpoint(path: Path, model: str, options: dict[str, Any], categories: list[dict],
                              num_classes: int | None = None) -> torch.nn.Module:
    """The synthesis model `model` of a run's checkpoint, strictly loaded, on the CPU, in eval mode
    (the VGG loss is not built: rendering does not need it); its classes are `categories`, or
    `num_classes` label ids for a generator trained on label maps."""
    from harness.models.registry import create_model

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # foreign objects are refused unexecuted; junk fails to parse
        raise ConfigError(f"{path}: not a panbench checkpoint ({type(exc).__name__})") from None
    if not isinstance(state, dict) or GAN not in (state.get("modules") or {}):
        raise ConfigError(f"{path}: not the checkpoint of a synthesis run (checkpoints/last.pt with a '{GAN}' module)")
    classes = {"categories": categories} if num_classes is None else {"num_classes": num_classes}
    gan = create_model(model, **classes, **{**options, "vgg_weights": "none"})
    try:
        gan.load_state_dict(state["modules"][GAN])
    except RuntimeError as exc:
        what = f"{len(categories)} categories" if num_classes is None else f"{num_classes} label ids"
        raise ConfigError(f"{path}: does not fit {model} with these {what} ({str(exc).splitlines()[0]})") from None
    return gan.eval()


@dataclass(frozen=True)
class LabelRenderer:
    """Renders PanDA samples with the synthesis model of `checkpoint` (a run's checkpoints/last.pt);
    `categories` are the PanDA source's, in train-id order (the generator's classes), unless
    `num_classes` says the generator draws from that many label ids (module docstring)."""

    checkpoint: str
    model: str
    options: dict[str, Any]
    categories: list[dict] = field(default_factory=list)
    num_classes: int | None = None

    def _model(self) -> torch.nn.Module:
        if self.checkpoint not in _LOADED:
            _LOADED[self.checkpoint] = load_synthesis_checkpoint(Path(self.checkpoint), self.model, self.options,
                                                                 self.categories, self.num_classes)
        return _LOADED[self.checkpoint]

    @torch.no_grad()
    def __call__(self, sample: PandaSample) -> np.ndarray:
        """(H, W, 3) uint8: the generator's image of the sample's label map, resized to its frame."""
        gan = self._model()
        ids = sample.ids.astype(np.int64)
        if self.num_classes is None:
            semantic = semantic_map(ids, sample.segments_info, train_ids(self.categories), fill=IGNORE_LABEL)
        else:
            label_ids = {int(c["id"]): int(c["id"]) for c in self.categories}
            semantic = semantic_map(ids, sample.segments_info, label_ids, fill=UNLABELED)
        size = tuple(gan.image_size)
        labels = resize_nearest(torch.from_numpy(np.stack([semantic.astype(np.int64), ids]))[None], size)[0]
        batch = {"image": torch.zeros(1, 3, *size), "semantic": labels[:1], "panoptic": labels[1:]}
        with deterministic_cpu():
            fake = gan.generate(batch)[0]
        image = ((fake.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0).numpy()
        height, width = ids.shape
        if image.shape[:2] != (height, width):
            image = np.asarray(Image.fromarray(image).resize((width, height), Image.BILINEAR))
        return image
