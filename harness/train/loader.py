"""Training samples: COCO-panoptic folders (the original subset, then its PanDA sets) concatenated
into one torch Dataset, online PanDA (harness/panda/online.py) when the recipe asks for it, then
standard augmentation (horizontal flip, scale jitter), and a batch order that is a pure function
of (seed, iteration).

Determinism is what makes resume exact: batch `it` on rank `r` takes positions
`it * total_batch + r * ims_per_gpu + [0, ims_per_gpu)` of an endless stream of seeded epoch
permutations (a DistributedSampler without padding), and each sample's augmentation draws come
from `keyed_rng(seed, epoch, index)` (online PanDA's from the data seed, the image id and the
epoch), independent of DataLoader workers. Restarting at iteration `it` therefore reproduces the
remaining batches bit for bit. The "epoch" of a key is one pass over the images; the protocol's
epoch, which sets the iteration count, is `samples_per_epoch` (online PanDA: n / (1 - mix))."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from harness.data.dataset import PanopticDataset
from harness.data.jitter import flip, rescale_fixed_size
from harness.data.tensors import image_tensor
from harness.errors import DatasetError
from harness.models.targets import panoptic_to_targets
from harness.panda.online import OnlinePanda, epoch_samples
from harness.panda.augment import OnlineAugment
from harness.seeding import keyed_rng


def augment(rng: np.random.Generator, image: np.ndarray, ids: np.ndarray, hflip: float,
            scale_range: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Draws in a fixed order (flip, scale, offsets) so a sample's augmentation is reproducible."""
    if rng.random() < hflip:
        image, ids = flip(image, ids)
    lo, hi = float(scale_range[0]), float(scale_range[1])
    scale = rng.uniform(lo, hi) if hi > lo else lo
    if scale != 1.0:
        image, ids = rescale_fixed_size(rng, image, ids, scale)
    return image, ids


def samples_per_epoch(dataset: Dataset) -> float:
    """The samples one epoch of the constant-epoch protocol counts: `dataset.samples_per_epoch` where a
    training set declares it (online PanDA: n / (1 - mix)), else its length."""
    return float(getattr(dataset, "samples_per_epoch", len(dataset)))


class PanopticTrainSet(Dataset):
    """Concatenated COCO-panoptic folders; `dataset[(index, epoch)] -> (image 3xHxW in 0..1, targets)`.

    With `online`, sample `index` at data pass `epoch` is first replaced by its PanDA version when
    `online.replaces(image id, epoch)`, then flipped and scale-jittered like any sample (the same
    draws as without PanDA)."""

    def __init__(self, roots: Sequence[str | Path], categories: list[dict], seed: int, hflip: float = 0.5,
                 scale_jitter: Sequence[float] = (1.0, 1.0), online: OnlinePanda | OnlineAugment | None = None):
        self.datasets = [PanopticDataset.load(root) for root in roots]
        for ds in self.datasets:
            if [c["id"] for c in ds.categories] != [c["id"] for c in categories]:
                raise DatasetError(ds.json_path, "categories differ from the other training folders'")
        self.items = [(d, i) for d, ds in enumerate(self.datasets) for i in range(len(ds))]
        self.categories = categories
        self.seed, self.hflip, self.scale_jitter = seed, hflip, tuple(scale_jitter)
        self.online = online
        self.samples_per_epoch = epoch_samples(len(self.items), online.mix) if online else float(len(self.items))

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, key: tuple[int, int]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        index, epoch = key
        d, i = self.items[index]
        ds = self.datasets[d]
        image, ids = ds.read_image(i), ds.read_ids(i)
        annotation = ds.annotation_for(ds.images[i]["id"])
        segments_info = annotation["segments_info"]
        if self.online is not None and self.online.replaces(ds.images[i]["id"], epoch):
            sample = self.online.sample(ds, i, epoch, image, ids)
            image, ids, segments_info = sample.image, sample.ids, sample.segments_info
        rng = keyed_rng(self.seed, epoch, index)
        image, ids = augment(rng, image, ids, self.hflip, self.scale_jitter)
        targets = panoptic_to_targets(ids, segments_info, self.categories, source=str(ds.label_path(annotation)))
        return image_tensor(image), targets


class ResumableBatchSampler:
    """Per-rank batches of `(index, epoch)` keys for iterations `start .. total - 1`."""

    def __init__(self, n: int, ims_per_gpu: int, world_size: int, rank: int, seed: int, start: int, total: int):
        if n <= 0:
            raise ValueError("the training set is empty")
        self.n, self.ims_per_gpu, self.world_size, self.rank = n, ims_per_gpu, world_size, rank
        self.seed, self.start, self.total = seed, start, total

    @property
    def total_batch(self) -> int:
        return self.ims_per_gpu * self.world_size

    @lru_cache(maxsize=4)
    def permutation(self, epoch: int) -> np.ndarray:
        return keyed_rng(self.seed, epoch).permutation(self.n)

    def positions(self, it: int) -> np.ndarray:
        return it * self.total_batch + self.rank * self.ims_per_gpu + np.arange(self.ims_per_gpu)

    def batch(self, it: int) -> list[tuple[int, int]]:
        keys = []
        for pos in self.positions(it).tolist():
            epoch, offset = divmod(pos, self.n)
            keys.append((int(self.permutation(epoch)[offset]), epoch))
        return keys

    def state(self, it: int) -> dict:
        """Where the data order stands before iteration `it` (saved in checkpoints)."""
        epoch, position = divmod(it * self.total_batch, self.n)
        return {"iteration": it, "epoch": epoch, "position": position, "seed": self.seed, "n": self.n,
                "total_batch": self.total_batch}

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        for it in range(self.start, self.total):
            yield self.batch(it)

    def __len__(self) -> int:
        return max(0, self.total - self.start)
