"""Synthesis samples from COCO-panoptic folders: the real image in [-1, 1], the semantic class map and
the panoptic id map, at the generator's image size, as NVlabs/SPADE's data pipeline prepares them
(`base_dataset.get_transform`): the image resized bicubically, the labels with nearest, then (when
training) SPADE's random crop and horizontal flip. The boundary map is derived by the model itself
(harness/models/synthesis/label_maps.py) from the instance map where the dataset keeps one
(Cityscapes' instanceIds, `label_maps.instance_dir`: every stuff and void pixel its label id, as SPADE
reads it), else from the panoptic segment ids (COCO-panoptic inputs).

The semantic map is the category's position in the dataset's categories (panbench's train ids;
void = 255, SPADE's dontcare channel), or, when the dataset declares class-id label maps (Cityscapes'
35 label ids, harness/data/label_maps.py), those maps. Like loader.py's training set, a sample is
a pure function of `(index, epoch)`: its crop and flip draw from `keyed_rng(seed, epoch, index)`, so
the loop's resume is exact whatever the number of DataLoader workers."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from harness.data.categories import IGNORE_LABEL, train_ids
from harness.data.dataset import PanopticDataset
from harness.data.panoptic_format import semantic_map
from harness.data.tensors import image_tensor
from harness.errors import DatasetError
from harness.models.synthesis.label_maps import resize_nearest
from harness.seeding import keyed_rng


@dataclass(frozen=True)
class LabelSource:
    """Where the generator's semantic input comes from: the panoptic categories, or the declared
    label maps (then `num_classes` is theirs). Every folder of a run must agree."""

    categories: list[dict]
    label_maps: tuple[str, int, str | None] | None = None  # (dir, num_classes, instance_dir) of the declared maps

    @classmethod
    def of(cls, roots: Sequence[str | Path]) -> "LabelSource":
        datasets = [PanopticDataset.load(root) for root in roots]
        declared = [ds.label_maps for ds in datasets]
        keys = [None if d is None else (d.dir, d.num_classes, d.instance_dir) for d in declared]
        for ds, key in zip(datasets[1:], keys[1:]):
            if key != keys[0]:
                raise DatasetError(ds.json_path, f"label_maps {key} differ from {datasets[0].json_path}'s {keys[0]}; "
                                                 "every training and validation folder of a synthesis run needs the "
                                                 "same semantic input")
        return cls(datasets[0].categories, keys[0])

    @property
    def num_classes(self) -> int:
        return self.label_maps[1] if self.label_maps else len(self.categories)

    def model_arguments(self) -> dict:
        """`create_model`'s class argument: the categories, or the label maps' class count."""
        return {"num_classes": self.num_classes} if self.label_maps else {"categories": self.categories}

    def describe(self) -> dict:
        return {"source": "label_maps" if self.label_maps else "categories", "num_classes": self.num_classes,
                **({"dir": self.label_maps[0]} if self.label_maps else {}),
                **({"instance_dir": self.label_maps[2]} if self.label_maps and self.label_maps[2] else {})}


def resize_image(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(H, W, 3) uint8 to `size` (H, W), bicubic (SPADE's `Image.BICUBIC`)."""
    if image.shape[:2] == tuple(size):
        return image
    return np.asarray(Image.fromarray(image).resize((size[1], size[0]), Image.Resampling.BICUBIC))


class SynthesisSet(Dataset):
    """Concatenated COCO-panoptic folders; `dataset[(index, epoch)] -> {"image": (3, H, W) float in
    [-1, 1], "semantic": (H, W) int64, "panoptic": (H, W) int64[, "instances": (H, W) int64]}` at
    `image_size` (H, W).

    Training draws (in SPADE's order): with `load_size` (H, W), a resize to it and a random crop back
    to `image_size`; a horizontal flip with probability `hflip`. `hflip=0` and no `load_size` give the
    evaluation samples. Without `dontcare_label` the model has no channel for unlabelled pixels: a
    map holding 255 is a DatasetError naming the file."""

    def __init__(self, roots: Sequence[str | Path], labels: LabelSource, image_size: Sequence[int], seed: int,
                 hflip: float = 0.5, load_size: Sequence[int] | None = None, dontcare_label: bool = True):
        self.datasets = [PanopticDataset.load(root) for root in roots]
        for ds in self.datasets:
            if [c["id"] for c in ds.categories] != [c["id"] for c in labels.categories]:
                raise DatasetError(ds.json_path, "categories differ from the other synthesis folders'")
        self.items = [(d, i) for d, ds in enumerate(self.datasets) for i in range(len(ds))]
        self.labels, self.image_size, self.seed, self.hflip = labels, tuple(int(s) for s in image_size), seed, hflip
        self.load_size = tuple(int(s) for s in load_size) if load_size else None
        if self.load_size and any(a < b for a, b in zip(self.load_size, self.image_size)):
            raise ValueError(f"load_size {self.load_size} is smaller than the image size {self.image_size}")
        self.dontcare_label = dontcare_label
        self.class_of = train_ids(labels.categories)

    def __len__(self) -> int:
        return len(self.items)

    def entry(self, index: int) -> tuple[PanopticDataset, dict, dict]:
        """(dataset, image entry, annotation) of sample `index`."""
        d, i = self.items[index]
        ds = self.datasets[d]
        return ds, ds.images[i], ds.annotation_for(ds.images[i]["id"])

    def stem(self, index: int) -> str:
        """The file-name stem of the sample's label map (how evaluate_synthesis matches images)."""
        return Path(self.entry(index)[2]["file_name"]).stem

    def read(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
        """(image (H, W, 3) uint8, semantic (H, W) int64, panoptic ids (H, W) int64, instance ids (H, W)
        int64 or None) at the file's size."""
        d, i = self.items[index]
        ds, _, annotation = self.entry(index)
        label_path = ds.label_path(annotation)
        image, ids = ds.read_image(i), ds.read_ids(i).astype(np.int64)
        if ds.label_maps is not None:
            semantic, source = ds.read_label_map(i), ds.label_map_path(annotation)
        else:
            semantic = semantic_map(ids, annotation["segments_info"], self.class_of, source=label_path).astype(np.int64)
            source = label_path
        instances = ds.read_instance_map(i)
        if semantic.shape != ids.shape or image.shape[:2] != ids.shape or (instances is not None
                                                                         and instances.shape != ids.shape):
            raise DatasetError(source, f"image {image.shape[:2]}, panoptic map {ids.shape}, semantic map "
                                       f"{semantic.shape} and instance map differ in size")
        if not self.dontcare_label and bool((semantic == IGNORE_LABEL).any()):
            raise DatasetError(source, f"has unlabelled pixels ({IGNORE_LABEL}) but the model has no dontcare "
                                       "channel: set model.options.dontcare_label=true")
        return image, semantic, ids, instances

    def sample(self, index: int, epoch: int | None = None) -> dict[str, torch.Tensor]:
        """Sample `index` with the draws of `epoch` (None: no draws, the evaluation sample)."""
        image, semantic, ids, instances = self.read(index)
        rng = keyed_rng(self.seed, epoch, index) if epoch is not None else None
        size = self.load_size if (self.load_size and rng is not None) else self.image_size
        image = torch.from_numpy(np.array(resize_image(image, size)))  # a writable copy
        maps = [semantic, ids] + ([instances] if instances is not None else [])
        labels = resize_nearest(torch.from_numpy(np.stack(maps)), size)
        if size != self.image_size:  # SPADE's random crop of the loaded size
            top = int(rng.integers(0, size[0] - self.image_size[0] + 1))
            left = int(rng.integers(0, size[1] - self.image_size[1] + 1))
            rows, cols = slice(top, top + self.image_size[0]), slice(left, left + self.image_size[1])
            image, labels = image[rows, cols], labels[:, rows, cols]
        if rng is not None and rng.random() < self.hflip:
            image, labels = image.flip(1), labels.flip(-1)
        sample = {"image": image_tensor(image.numpy()).mul_(2).sub_(1), "semantic": labels[0].contiguous(),
                  "panoptic": labels[1].contiguous()}
        if instances is not None:
            sample["instances"] = labels[2].contiguous()
        return sample

    def __getitem__(self, key: tuple[int, int]) -> dict[str, torch.Tensor]:
        index, epoch = key
        return self.sample(index, epoch)


def collate(samples: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """A batch in SynthesisGAN's layout: each key stacked."""
    return {key: torch.stack([s[key] for s in samples]) for key in samples[0]}
