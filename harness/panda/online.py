"""Online PanDA: the training sample replaced by a PanDA image drawn inside the data loader, fresh for
every pass over the data (the paper's Discussion: PanDA "allows for real time image synthesis at
training time"; no PNG is encoded, written or decoded).

Same code as the offline generator: the sample of image `id` at data pass `epoch` is
`panda_sample(..., seed, id, copy_index=epoch)` (harness/panda/sample.py), so pass e of an online
run draws exactly copy e of `panbench panda` with the same seed and parameters. Whether a sample is
replaced is one more draw of the same key (stream MIX_STREAM), with probability `mix`. Both are pure
functions of (data seed, image id, epoch): the result does not depend on the DataLoader workers, the
batch order or a resume, and it is the same for every training seed, as an offline PanDA set is."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harness.data.dataset import PanopticDataset
from harness.errors import ConfigError
from harness.panda.compose import PandaSample
from harness.panda.config import PandaConfig
from harness.panda.sample import Source, hybrid_partners, panda_sample
from harness.panda.seeding import image_rng

MIX_STREAM = 3  # after the generator's streams (compose 0, hybrid pool 1, hybrid partners 2)
RATIO_1X = 0.5  # the PanDA share of a 1x training set (n originals + n PanDA images)


def epoch_samples(n_images: int, mix: float) -> float:
    """Samples in one epoch of the constant-epoch protocol: every original image seen once, in
    expectation, unreplaced, i.e. n / (1 - mix). This is the rule offline PanDA follows too (a Kx
    epoch is (K + 1)·n samples, of which n are originals), so online at `RATIO_1X` trains the
    iterations of PanDA 1x and shares its compute-matched plain control."""
    return n_images / (1.0 - mix)


def replaced(seed: int, image_id: object, epoch: int, mix: float) -> bool:
    """Whether a sample is replaced by its augmented version at data pass `epoch` (every method's rule)."""
    return bool(image_rng(seed, image_id, epoch, MIX_STREAM).random() < mix)


def check_mix(mix: float) -> None:
    if not 0.0 <= mix < 1.0:
        raise ConfigError(f"data.panda_mix must lie in [0, 1) (an epoch counts n / (1 - mix) samples), got {mix}")


@dataclass(frozen=True)
class OnlinePanda:
    """PanDA with `config` replacing each sample with probability `mix`, keyed on the data `seed`."""

    config: PandaConfig
    mix: float
    seed: int

    def __post_init__(self) -> None:
        check_mix(self.mix)
        if self.config.canvas != "noise":
            raise ConfigError(f"panda.canvas={self.config.canvas} is offline only (a generator per data-loader "
                              f"worker is not built): use data.panda: 1x")

    def replaces(self, image_id: object, epoch: int) -> bool:
        """Whether image `image_id` is replaced by its PanDA version at data pass `epoch`."""
        return replaced(self.seed, image_id, epoch, self.mix)

    def sample(self, ds: PanopticDataset, i: int, epoch: int, image: np.ndarray | None = None,
               ids: np.ndarray | None = None) -> PandaSample:
        """The PanDA version of image `i` of `ds` at data pass `epoch` (its decoded `image` and `ids`
        may be passed in when the caller has read them already); hybrid partners come from `ds`."""
        entry = ds.images[i]
        image = ds.read_image(i) if image is None else image
        ids = ds.read_ids(i) if ids is None else ids
        sources = [self._source(ds, entry["id"], image, ids)]
        if self.config.hybrid:
            image_ids = [im["id"] for im in ds.images]
            for partner in hybrid_partners(self.seed, image_ids, entry["id"], epoch, self.config.hybrid_sources)[1:]:
                k = image_ids.index(partner)
                sources.append(self._source(ds, partner, ds.read_image(k), ds.read_ids(k)))
        return panda_sample(sources, self.seed, entry["id"], epoch, self.config)

    @staticmethod
    def _source(ds: PanopticDataset, image_id: object, image: np.ndarray, ids: np.ndarray) -> Source:
        annotation = ds.annotation_for(image_id)
        return Source(image, ids, annotation["segments_info"], ds.label_path(annotation))
