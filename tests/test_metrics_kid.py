"""KID: a hand-computed unbiased MMD² with the cubic polynomial kernel, a naive-loop reference over
torch-fidelity's subset draws, and torchmetrics' KernelInceptionDistance on the same features."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from harness.metrics.kid import kernel_inception_distance, kid_subset_size


def naive_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD² with k(a, b) = (a·b / d + 1)³, one pair at a time."""
    m, d = len(x), x.shape[1]
    k = lambda a, b: (float(np.dot(a, b)) / d + 1.0) ** 3  # noqa: E731
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    return xx + yy - 2 * xy


def test_kid_of_two_one_dimensional_pairs_by_hand():
    """d = 1, X = {0, 1}, Y = {1, 2}, k(a, b) = (ab + 1)³:
    XX off-diagonal k(0, 1) = 1 twice -> 2 / (2·1) = 1; YY: k(1, 2) = 27 twice -> 27;
    XY: k(0,1) + k(0,2) + k(1,1) + k(1,2) = 1 + 1 + 8 + 27 = 37 -> 2·37 / 4 = 18.5; MMD² = 1 + 27 - 18.5 = 9.5.
    With subset_size = n every subset is the whole set: std 0."""
    mean, std = kernel_inception_distance(np.array([[0.0], [1.0]]), np.array([[1.0], [2.0]]), subsets=5)
    assert mean == pytest.approx(9.5, abs=1e-12)
    assert std == pytest.approx(0.0, abs=1e-12)


def test_kid_subsets_are_torch_fidelitys_draws():
    rng = np.random.default_rng(0)
    real, fake = rng.normal(size=(12, 4)), rng.normal(0.5, 1.2, size=(9, 4))
    draws = np.random.RandomState(7)
    mmds = []
    for _ in range(6):
        mmds.append(naive_mmd2(real[draws.choice(12, 5, replace=False)], fake[draws.choice(9, 5, replace=False)]))
    mean, std = kernel_inception_distance(real, fake, subsets=6, subset_size=5, seed=7)
    assert mean == pytest.approx(np.mean(mmds), rel=1e-10)
    assert std == pytest.approx(np.std(mmds), rel=1e-10)
    assert kid_subset_size(12, 9) == 9  # fewer images than 1000: the smaller set


class Identity(nn.Module):
    def forward(self, x):
        return x


def test_kid_equals_torchmetrics_on_the_same_features():
    from torchmetrics.image.kid import KernelInceptionDistance

    rng = np.random.default_rng(1)
    real, fake = rng.normal(size=(10, 6)), rng.normal(0.3, 1.0, size=(10, 6))
    metric = KernelInceptionDistance(feature=Identity(), subsets=3, subset_size=10)
    metric.update(torch.from_numpy(real), real=True)
    metric.update(torch.from_numpy(fake), real=False)
    tm_mean, tm_std = (float(v) for v in metric.compute())
    mean, std = kernel_inception_distance(real, fake, subsets=3)
    assert mean == pytest.approx(tm_mean, rel=1e-9)
    assert mean == pytest.approx(naive_mmd2(real, fake), rel=1e-9)
    assert std == pytest.approx(tm_std, abs=1e-12)
    assert mean > 0.01
