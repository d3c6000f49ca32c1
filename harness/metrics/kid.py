"""Kernel Inception Distance (Bińkowski et al. 2018): the unbiased MMD² between Inception features
of real and generated images with the cubic polynomial kernel k(x, y) = (x·y / d + 1)³, averaged
over random subsets (mean and std), computed by torch-fidelity's `kid_features_to_metric` on the
features FID uses (`fid.image_features`). Unlike FID it is unbiased in the number of images, which
is why the mini study (a few dozen images) reports it beside FID.

Subsets as torch-fidelity and torchmetrics draw them: `subsets` (100) draws of `subset_size`
(1000) images without replacement from each set; with fewer images the subset is every image
(`subset_size` = the smaller set), as the record's protocol says. Seeded (torch-fidelity's 2020)."""

from __future__ import annotations

import numpy as np

from harness.errors import PanbenchError

SUBSETS = 100
SUBSET_SIZE = 1000
SEED = 2020


def kid_subset_size(n_real: int, n_fake: int, subset_size: int = SUBSET_SIZE) -> int:
    return min(subset_size, n_real, n_fake)


def kid_std_is_estimate(n_real: int, n_fake: int, subset_size: int = SUBSET_SIZE, subsets: int = SUBSETS) -> bool:
    """Whether KID's std is a spread over different subsets: with a subset as large as both sets every
    draw is the same (every image), so the std of the identical estimates is 0 and says nothing."""
    size = kid_subset_size(n_real, n_fake, subset_size)
    return subsets >= 2 and (size < n_real or size < n_fake)


def kernel_inception_distance(real: np.ndarray, fake: np.ndarray, *, subsets: int = SUBSETS,
                              subset_size: int = SUBSET_SIZE, seed: int = SEED) -> tuple[float, float]:
    """(KID mean, KID std over subsets) of two (N, F) feature sets (raw MMD², not x1000)."""
    import torch
    from torch_fidelity.metric_kid import KEY_METRIC_KID_MEAN, KEY_METRIC_KID_STD, kid_features_to_metric

    size = kid_subset_size(len(real), len(fake), subset_size)
    if size < 2:
        raise PanbenchError(f"KID needs at least 2 images per set, got {len(real)} real and {len(fake)} generated")
    out = kid_features_to_metric(torch.from_numpy(np.asarray(real, np.float64)),
                                 torch.from_numpy(np.asarray(fake, np.float64)),
                                 kid_subsets=subsets, kid_subset_size=size, rng_seed=seed, verbose=False)
    return float(out[KEY_METRIC_KID_MEAN]), float(out[KEY_METRIC_KID_STD])
