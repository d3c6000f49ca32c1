"""Bilinear sampling as a sparse matrix (harness.models.sparse_sampling) against torch's own bilinear
sampler, `F.grid_sample` (zero padding), in float64: values and the gradients of the features and of
the points, with points on and around the map's borders; torch's numerical gradient check on
points off the kinks; the transpose's sort for maps of more than 2^16 rows."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from harness.models.sparse_sampling import RADIX_ROWS, sample_rows


def grid_sample_points(maps: torch.Tensor, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """(images, m, C) samples of (images, C, H, W) `maps` at pixel points by `grid_sample`: the maps
    zero-padded to power-of-two sizes, whose normalised coordinates map back to pixels exactly."""
    images, channels, height, width = maps.shape
    ph, pw = 1 << (height - 1).bit_length(), 1 << (width - 1).bit_length()
    padded = F.pad(maps, (0, pw - width, 0, ph - height))
    grid = torch.stack([(2 * x + 1) / pw - 1, (2 * y + 1) / ph - 1], -1)[:, None]
    return F.grid_sample(padded, grid, mode="bilinear", padding_mode="zeros", align_corners=False)[:, :, 0].transpose(1, 2)


def as_rows(maps: torch.Tensor) -> torch.Tensor:
    images, channels, height, width = maps.shape
    return maps.permute(0, 2, 3, 1).reshape(images * height * width, channels)


def points(images: int, m: int, height: int, width: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Random points up to 2 px outside the map, the first ones on the borders and half-way past them."""
    gen = torch.Generator().manual_seed(seed)
    y = torch.rand(images, m, generator=gen, dtype=torch.float64) * (height + 4) - 2
    x = torch.rand(images, m, generator=gen, dtype=torch.float64) * (width + 4) - 2
    border_y = torch.tensor([-1.0, 0.0, height - 1.0, height, -0.5, height - 0.5, -2.0, 3.0, 2.5, 1.0], dtype=torch.float64)
    border_x = torch.tensor([0.0, -1.0, 3.0, width - 1.0, width, -0.5, width - 0.5, 1.0, 4.0, 2.5], dtype=torch.float64)
    y[:, :10], x[:, :10] = border_y, border_x
    return y.requires_grad_(), x.requires_grad_()


@pytest.mark.parametrize("shape", [(3, 5, 7, 9), (1, 2, 1, 6), (2, 3, 8, 16)])
def test_equal_to_grid_sample_values_and_gradients(shape):
    images, channels, height, width = shape
    gen = torch.Generator().manual_seed(1)
    maps = torch.randn(images, channels, height, width, generator=gen, dtype=torch.float64, requires_grad=True)
    y, x = points(images, 200, height, width)
    reference = grid_sample_points(maps, y, x)
    ours = sample_rows(as_rows(maps), y, x, height, width).view(images, 200, channels)
    torch.testing.assert_close(ours, reference, atol=1e-12, rtol=0)
    grad = torch.randn(reference.shape, generator=gen, dtype=torch.float64)
    expected = torch.autograd.grad(reference, (maps, y, x), grad)
    got = torch.autograd.grad(ours, (maps, y, x), grad)
    for name, a, b in zip(("features", "y", "x"), got, expected):
        torch.testing.assert_close(a, b, atol=1e-12, rtol=0, msg=f"gradient of {name}")
    assert expected[1].abs().max() > 0.1 and expected[0].abs().max() > 0.1  # both gradients exercised


def test_numerical_gradients():
    gen = torch.Generator().manual_seed(2)
    features = torch.randn(2 * 4 * 5, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    y = (torch.rand(2, 6, generator=gen, dtype=torch.float64) * 5 - 1).requires_grad_()
    x = (torch.rand(2, 6, generator=gen, dtype=torch.float64) * 6 - 1).requires_grad_()
    assert torch.autograd.gradcheck(lambda f, a, b: sample_rows(f, a, b, 4, 5), (features, y, x))


def test_float32_and_maps_past_the_radix_sort():
    """float32 against the float64 reference (grid_sample's own float32 normalisation rounds the points)."""
    height, width = 260, 256  # 66,560 rows > 2^16: the transpose sorts with torch's stable argsort
    assert height * width > RADIX_ROWS
    gen = torch.Generator().manual_seed(3)
    maps = torch.randn(1, 2, height, width, generator=gen, dtype=torch.float64, requires_grad=True)
    y, x = (v.detach().float().double().requires_grad_() for v in points(1, 500, height, width))  # float32's points
    reference = grid_sample_points(maps, y, x)
    grad = torch.randn(reference.shape, generator=gen, dtype=torch.float64)
    expected = torch.autograd.grad(reference, (maps, y, x), grad)
    maps32, y32, x32 = (v.detach().float().requires_grad_() for v in (maps, y, x))
    ours = sample_rows(as_rows(maps32), y32, x32, height, width).view(1, 500, 2)
    assert ours.dtype == torch.float32
    torch.testing.assert_close(ours.double(), reference, atol=1e-5, rtol=1e-5)
    got = torch.autograd.grad(ours, (maps32, y32, x32), grad.float())
    for a, b in zip(got, expected):
        torch.testing.assert_close(a.double(), b, atol=1e-4, rtol=1e-5)
