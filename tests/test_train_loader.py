"""Training samples: augmentation keeps image and labels aligned (checked against torch's own
nearest-exact resampling), the batch order is a seeded, disjoint split over ranks that depends
only on the iteration (the basis of exact resume)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from cityscapesscripts.helpers.labels import labels as cityscapes_labels

from harness.data.categories import categories_json
from harness.data.dataset import write_panoptic_json, write_sample
from harness.data.panoptic_format import rgb2id
from harness.train.loader import PanopticTrainSet, ResumableBatchSampler, augment, flip, rescale_fixed_size


def _id_image(height=32, width=48):
    ids = np.full((height, width), 2000, np.uint32)
    ids[:, : width // 2] = 1000
    ids[height // 2:, width // 2:] = 26001
    return ids


def test_flip_mirrors_image_and_ids_together():
    ids = _id_image()
    image = np.stack([ids % 256, ids // 256 % 256, ids // 65536], -1).astype(np.uint8)
    f_image, f_ids = flip(image, ids)
    np.testing.assert_array_equal(rgb2id(f_image), f_ids)
    np.testing.assert_array_equal(f_ids, ids[:, ::-1])


def test_rescale_matches_nearest_exact_and_pads_with_void():
    ids = _id_image()
    image = np.zeros((*ids.shape, 3), np.uint8)
    rng = np.random.default_rng(0)
    _, small = rescale_fixed_size(rng, image, ids, 0.5)
    assert small.shape == ids.shape
    reference = F.interpolate(torch.from_numpy(ids.astype(np.float64))[None, None], size=(16, 24),
                              mode="nearest-exact")[0, 0].numpy().astype(np.uint32)
    rows, cols = np.nonzero(small)
    content = small[rows.min():rows.min() + 16, cols.min():cols.min() + 24]
    np.testing.assert_array_equal(content, reference)
    assert (small == 0).sum() == ids.size - 16 * 24  # the rest is void
    _, big = rescale_fixed_size(rng, image, ids, 2.0)
    assert big.shape == ids.shape and set(np.unique(big)) <= {1000, 2000, 26001}


def test_augmentation_is_reproducible_from_its_rng():
    ids = _id_image()
    image = np.random.default_rng(1).integers(0, 255, (*ids.shape, 3), dtype=np.uint8)
    a = augment(np.random.default_rng([3, 1, 2]), image, ids, 0.5, (0.7, 1.3))
    b = augment(np.random.default_rng([3, 1, 2]), image, ids, 0.5, (0.7, 1.3))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


def test_ranks_split_each_epoch_and_order_depends_only_on_the_iteration():
    n = 10
    single = ResumableBatchSampler(n, ims_per_gpu=2, world_size=1, rank=0, seed=5, start=0, total=15)
    ranks = [ResumableBatchSampler(n, ims_per_gpu=1, world_size=2, rank=r, seed=5, start=0, total=15) for r in (0, 1)]
    for it in range(15):
        assert ranks[0].batch(it) + ranks[1].batch(it) == single.batch(it)
    epoch0 = [key for batch in list(single)[:5] for key in batch]
    assert sorted(i for i, _ in epoch0) == list(range(n)) and {e for _, e in epoch0} == {0}
    resumed = ResumableBatchSampler(n, 2, 1, 0, seed=5, start=7, total=15)
    assert list(resumed) == list(single)[7:]
    assert single.state(7) == {"iteration": 7, "epoch": 1, "position": 4, "seed": 5, "n": 10, "total_batch": 2}
    other_seed = ResumableBatchSampler(n, 2, 1, 0, seed=6, start=0, total=5)
    assert list(other_seed) != list(single)[:5]


# Different classes in every image (Cityscapes ids): a wrong folder-to-index mapping or a wrong
# category -> label table gives another image's classes, which these fixtures make visible.
FOLDERS = {
    "first": [(7, [26, 24]), (8, [27, 33]), (23, [25])],  # (stuff category, thing categories) per image
    "second": [(21, [28, 32]), (11, [31])],
}
CS_THINGS = sorted((l for l in cityscapes_labels if l.hasInstances and not l.ignoreInEval), key=lambda l: l.trainId)
CS_TRAIN_ID = {l.id: l.trainId for l in cityscapes_labels if l.trainId not in (255, -1)}


def write_varied_dataset(root, images, seed):
    """One image per (stuff, things) entry: the stuff class fills the frame, each thing is a block."""
    rng = np.random.default_rng(seed)
    entries, annotations = [], []
    for i, (stuff, things) in enumerate(images):
        ids = np.full((32, 48), stuff * 1000, np.uint32)
        category_of = {stuff * 1000: stuff}
        for k, thing in enumerate(things):
            ids[4:14, 2 + 14 * k:12 + 14 * k] = thing * 1000 + k + 1
            category_of[thing * 1000 + k + 1] = thing
        ids[:, -2:] = 0  # void
        image = rng.integers(0, 256, (32, 48, 3), dtype=np.uint8)
        entry, ann = write_sample(root, f"img_{i:03d}", image, ids, category_of, image_id=i)
        entries.append(entry)
        annotations.append(ann)
    write_panoptic_json(root, entries, annotations, categories_json())
    return root


def test_dataset_concatenates_folders_into_targets(tmp_path):
    roots = [write_varied_dataset(tmp_path / name, images, seed=k) for k, (name, images) in enumerate(FOLDERS.items())]
    ds = PanopticTrainSet(roots, categories_json(), seed=0, hflip=0.0)
    expected = [entry for images in FOLDERS.values() for entry in images]  # the first folder's images, then the second's
    assert len(ds) == len(expected) == 5
    for index, (stuff, things) in enumerate(expected):
        image, targets = ds[(index, 0)]
        assert image.shape == (3, 32, 48) and 0.0 <= float(image.min()) and float(image.max()) <= 1.0
        # thing labels 1..8 in Cityscapes' thing order, from cityscapesscripts' own table
        want = sorted(1 + [l.id for l in CS_THINGS].index(t) for t in things)
        assert sorted(targets["labels"].tolist()) == want, index
        assert targets["semantic"].shape == (32, 48)
        assert set(targets["semantic"].unique().tolist()) == {CS_TRAIN_ID[c] for c in [stuff, *things]} | {255}, index
