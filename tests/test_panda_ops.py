"""PanDA's pure operations against hand-computed values and the paper's formulas (section 4.3)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from harness.errors import ConfigError
from harness.panda.config import PandaConfig
from harness.panda.dropout import dropout_probability, sample_keep
from harness.panda.resize import resize_segment
from harness.panda.shift import sample_translations, zoom_centers


def test_defaults_are_the_papers_frozen_parameters():
    config = PandaConfig()
    assert config.ops == ("dropout", "resize", "shift")
    assert (config.dropout_min_area, config.dropout_max_area) == (0.10, 0.50)
    assert (config.scale_min, config.scale_max) == (0.5, 1.5)
    assert config.zoom and not config.hybrid
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.scale_max = 2.0  # type: ignore[misc]


def test_overrides_are_typed_and_unknown_keys_name_the_nearest():
    config = PandaConfig().with_overrides(["scale_max=2", "ops=dropout,shift", "hybrid=true", "hybrid_sources=4"])
    assert config.scale_max == 2.0 and config.ops == ("dropout", "shift") and config.hybrid
    assert config.hybrid_sources == 4 and not config.zoom
    assert PandaConfig().with_overrides(["ops=none"]).ops == ()
    with pytest.raises(ConfigError, match="scale_max"):
        PandaConfig().with_overrides(["scal_max=2"])
    with pytest.raises(ConfigError, match="unknown PanDA op"):
        PandaConfig(ops=("dropout", "rotate"))
    with pytest.raises(ConfigError, match="cannot read"):
        PandaConfig().with_overrides(["scale_min=big"])
    with pytest.raises(ConfigError):
        PandaConfig(dropout_min_area=0.6)


def test_dropout_probability_matches_the_paper_at_hand_computed_points():
    a = np.array([0.0, 0.05, 0.10, 0.20, 0.30, 0.45, 0.50, 0.51, 0.90])
    expected = np.array([0, 0, 0, 0.25, 0.5, 0.875, 1, 1, 1])
    np.testing.assert_allclose(dropout_probability(a), expected, atol=1e-12)


def test_dropout_rates_over_many_segments_follow_the_formula():
    """Empirical drop rate per area bin within a 4.5-sigma binomial bound of (a - 0.10) / 0.40;
    never below 10 % of the frame, always above 50 %."""
    rng = np.random.default_rng(7)
    a = rng.uniform(0.0, 0.7, 60_000)
    dropped = ~sample_keep(rng, a)
    assert not dropped[a < 0.10].any()
    assert dropped[a > 0.50].all()
    edges = np.linspace(0.10, 0.50, 9)
    for lo, hi in zip(edges[:-1], edges[1:]):
        inside = (a >= lo) & (a < hi)
        n = inside.sum()
        p = ((a[inside] - 0.10) / 0.40).mean()
        bound = 4.5 * np.sqrt(p * (1 - p) / n)
        assert abs(dropped[inside].mean() - p) < bound, (lo, hi)


def test_zoom_moves_enlarged_segments_out_and_shrunk_ones_in():
    centers = np.array([[10.0, 20.0], [60.0, 150.0], [50.0, 100.0]])
    zoomed = zoom_centers(centers, np.array([1.5, 0.5, 1.2]), (100, 200))
    np.testing.assert_allclose(zoomed, [[-10.0, -20.0], [55.0, 125.0], [50.0, 100.0]])
    # hybrid: offsets from the source centre are carried to the target frame's centre
    np.testing.assert_allclose(zoom_centers(np.array([[10.0, 20.0]]), np.array([1.0]), (100, 200), (50, 60)),
                               [[-15.0, -50.0]])


def test_translations_are_uniform_within_the_range():
    t = sample_translations(np.random.default_rng(0), 20_000, (100, 200), 0.25)
    assert np.abs(t[:, 0]).max() <= 25 and np.abs(t[:, 1]).max() <= 50
    assert np.abs(t[:, 0]).max() > 24.5 and abs(t[:, 1].mean()) < 1.0
    assert abs(t[:, 1].std() - 50 / np.sqrt(3)) < 0.5  # std of U(-r, r) is r / sqrt(3)


@pytest.mark.parametrize("interpolation", ["bilinear", "area"])
@pytest.mark.parametrize("scale", [0.5, 0.73, 1.0, 1.5])
def test_resize_keeps_aspect_and_never_bleeds_neighbour_colours(scale, interpolation):
    rng = np.random.default_rng(1)
    h, w = 30, 48
    yy, xx = np.mgrid[:h, :w]
    mask = (yy - 15) ** 2 / 14 ** 2 + (xx - 24) ** 2 / 22 ** 2 <= 1  # ellipse in its bbox
    pixels = np.zeros((h, w, 3), np.uint8)
    pixels[..., 0] = 200  # segment constant in red; neighbours black
    pixels[..., 1] = rng.integers(50, 100, (h, w))
    pixels[~mask] = (0, 255, 0)
    image, new_mask = resize_segment(pixels, mask, scale, interpolation)
    out, m = np.asarray(image), np.asarray(new_mask) > 0
    assert m.shape == (round(h * scale), round(w * scale)) and out.shape[:2] == m.shape
    assert abs(m.mean() - mask.mean()) < 0.05
    assert (out[m, 0] == 200).all()  # no colour from outside the segment
    assert out[m, 1].min() >= 50 and out[m, 1].max() < 100  # a convex combination of segment pixels
