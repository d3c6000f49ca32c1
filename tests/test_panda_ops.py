"""PanDA's pure operations against hand-computed values and the paper's formulas (section 4.3)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from PIL import Image
from omegaconf import OmegaConf
from scipy import stats

from harness.errors import ConfigError
from harness.panda.config import PandaConfig
from harness.panda.dropout import dropout_probability, sample_keep
from harness.panda.resize import fill_outside, mask_area, mask_image, resample, resize_segment, sample_scales
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


def test_from_config_sets_every_field_and_checks_each_value():
    values = {"ops": ["dropout", "shift"], "dropout_min_area": 0.2, "dropout_max_area": 0.6, "scale_min": 1,
              "scale_max": 2.0, "scale_distribution": "normal", "scale_mean": 1.5, "scale_std": 0.1,
              "couple_shift_with_resize": False, "shift_range": 0.5, "image_interpolation": "area", "hybrid": True,
              "hybrid_sources": 2, "image_format": "jpg", "canvas": "generator", "generator": "0123456789ab"}
    assert set(values) == {f.name for f in dataclasses.fields(PandaConfig)}  # every parameter is reachable
    config = PandaConfig.from_config(values)
    for key, value in values.items():
        assert getattr(config, key) == (tuple(value) if key == "ops" else value), key
    assert isinstance(config.scale_min, float)
    block = OmegaConf.create({"panda": {"scale_max": 2.0, "ops": ["resize"]}}).panda  # a recipe's block
    assert PandaConfig.from_config(block, prefix="panda.") == PandaConfig(scale_max=2.0, ops=("resize",))
    for bad, message in (({"scal_max": 2}, "unknown PanDA parameter 'panda.scal_max'; nearest valid keys: "
                                           "panda.scale_max"),
                         ({"scale_max": "abc"}, "PanDA parameter 'panda.scale_max' must be a number, got 'abc'"),
                         ({"hybrid": 1}, "'panda.hybrid' must be true or false, got 1"),
                         ({"hybrid_sources": 2.5}, "'panda.hybrid_sources' must be an integer, got 2.5"),
                         ({"ops": [1]}, "'panda.ops' must be a list of op names"),
                         ({"scale_distribution": "cauchy"}, "scale_distribution must be one of ['uniform', 'normal']"),
                         ({"scale_distribution": "normal", "scale_mean": 3.0}, "scale_min <= scale_mean <= scale_max")):
        with pytest.raises(ConfigError) as caught:
            PandaConfig.from_config(bad, prefix="panda.")
        assert message in str(caught.value), str(caught.value)
    # `--set` goes through the same path
    assert PandaConfig().with_overrides(["scale_distribution=normal", "scale_std=0.2"]) == \
        PandaConfig.from_config({"scale_distribution": "normal", "scale_std": 0.2})


def test_to_dict_round_trips_and_keeps_the_papers_keys():
    paper = PandaConfig().to_dict()
    assert list(paper) == ["ops", "dropout_min_area", "dropout_max_area", "scale_min", "scale_max",
                           "couple_shift_with_resize", "shift_range", "image_interpolation", "hybrid",
                           "hybrid_sources", "image_format"]  # manifests and cache keys read as before
    assert PandaConfig.from_config(paper) == PandaConfig()
    normal = PandaConfig(scale_distribution="normal", scale_std=0.3)
    assert normal.to_dict()["scale_std"] == 0.3 and PandaConfig.from_config(normal.to_dict()) == normal


def test_normal_scales_follow_scipys_truncated_normal():
    config = PandaConfig(scale_distribution="normal", scale_mean=1.2, scale_std=0.3, scale_min=0.5, scale_max=1.5)
    s = sample_scales(np.random.default_rng(0), 50_000, config)
    assert 0.5 <= s.min() and s.max() <= 1.5
    reference = stats.truncnorm((0.5 - 1.2) / 0.3, (1.5 - 1.2) / 0.3, loc=1.2, scale=0.3)
    assert stats.kstest(s, reference.cdf).pvalue > 1e-3
    assert abs(s.mean() - reference.mean()) < 4 * reference.std() / np.sqrt(len(s))
    # the paper's uniform draws are what they always were
    np.testing.assert_array_equal(sample_scales(np.random.default_rng(1), 10, PandaConfig()),
                                  np.random.default_rng(1).uniform(0.5, 1.5, 10))


@pytest.mark.parametrize("shape, offset", [((64, 90), (0, 0)), ((173, 41), (2, 3)), ((7, 7), (1, 1)), ((5, 9), (3, 0))])
def test_fill_outside_uses_numpys_mean_of_the_grid_pixels(shape, offset):
    """Outside the segment: numpy's mean of the segment's pixels on the 4x4 grid, rounded (all of the
    segment's pixels where the grid misses it, as the last two shapes' lone pixel does); inside: the
    crop's own pixels."""
    rng = np.random.default_rng(sum(shape))
    pixels = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    mask = np.zeros(shape, bool)
    mask[offset] = True
    if shape[0] > 8:
        mask |= rng.random(shape) < 0.3
    grid = mask[::4, ::4]
    sample = pixels[::4, ::4][grid] if grid.any() else pixels[mask]
    colour = np.rint(sample.mean(axis=0)).astype(np.uint8)
    filled = np.asarray(fill_outside(pixels, mask, mask_image(mask)))
    np.testing.assert_array_equal(filled[mask], pixels[mask])
    np.testing.assert_array_equal(filled[~mask], np.broadcast_to(colour, filled[~mask].shape))


@pytest.mark.parametrize("shape, size", [((5, 9), (5, 9)), ((37, 90), (61, 149)), ((120, 64), (50, 27))])
def test_mask_area_counts_the_pixels_pillows_histogram_counts(shape, size):
    """On a mask as PanDA pastes it (packed to "1", resized nearest, odd widths: padded rows)."""
    mask = np.random.default_rng(sum(shape)).random(shape) < 0.4
    resized = mask_image(mask).resize(size[::-1], Image.Resampling.NEAREST)
    assert mask_area(resized) == resized.histogram()[255] == np.count_nonzero(np.asarray(resized.convert("L")))
    assert mask_area(mask_image(mask)) == np.count_nonzero(mask) > 0


@pytest.mark.parametrize("shape, size", [((37, 90), (61, 148)), ((120, 64), (50, 27)), ((9, 300), (13, 441))])
def test_bilinear_resample_is_pillows_filter_to_one_level(shape, size):
    """PanDA resizes crops with torch's uint8 antialiased bilinear kernel (the vectorised one): it must
    be Pillow's BILINEAR filter, within one 8-bit level of Pillow's own output."""
    rng = np.random.default_rng(3)
    pixels = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    ours = np.asarray(resample(Image.fromarray(pixels), size, "bilinear")).astype(int)
    pillow = np.asarray(Image.fromarray(pixels).resize(size[::-1], Image.Resampling.BILINEAR)).astype(int)
    assert ours.shape == pillow.shape and np.abs(ours - pillow).max() <= 1
    assert (ours != pillow).mean() < 0.01


@pytest.mark.parametrize("shape, size", [((37, 90), (61, 148)), ((120, 64), (50, 27)), ((300, 500), (450, 750)),
                                         ((1, 5), (2, 7))])
def test_bilinear_resample_of_rgbx_equals_torchs_rgb_kernel(shape, size):
    """The crop is resized as RGBX bytes: R, G and B come out as torch's kernel gives them for the
    RGB array itself (its own three-channel path), bit for bit."""
    import torch
    import torch.nn.functional as F

    pixels = np.random.default_rng(4).integers(0, 256, (*shape, 3), dtype=np.uint8)
    rgb = torch.from_numpy(pixels).permute(2, 0, 1)[None]
    expected = F.interpolate(rgb, size=size, mode="bilinear", antialias=True, align_corners=False)[0]
    ours = np.asarray(resample(Image.fromarray(pixels), size, "bilinear"))
    np.testing.assert_array_equal(ours, expected.permute(1, 2, 0).numpy())
