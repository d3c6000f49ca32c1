"""Class balance (PanDA Supplementary Figs 1-2): shares against pixel counts read from the PNGs, and
the shift PanDA makes on synthetic street scenes (common classes down, rare ones up)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from conftest import write_blocks_dataset
from harness.cli import main as panbench
from harness.data.stats import class_pixel_share, compare_shares, plot_shares
from harness.data.synth import synthesize_dataset
from harness.data.validate import load_valid
from harness.panda.generate import generate_panda


def test_shares_equal_pixel_counts_from_the_pngs(tmp_path):
    root = write_blocks_dataset(tmp_path / "blocks", n=4, height=30, width=40)
    ds = load_valid(root)
    category_of = {1000: 23, 2000: 7, 26001: 26, 24001: 24}
    counts = np.zeros(34)
    for i in range(len(ds)):
        ids = ds.read_ids(i)
        for sid, cat in category_of.items():
            counts[cat] += np.count_nonzero(ids == sid)
    mean = counts / len(ds)
    df = class_pixel_share(root).set_index("category_id")
    for cat in (7, 23, 24, 26):
        assert df.loc[cat, "mean_pixels"] == pytest.approx(mean[cat])
        assert df.loc[cat, "share"] == pytest.approx(100 * mean[cat] / mean.sum())
        assert df.loc[cat, "frame_share"] == pytest.approx(100 * mean[cat] / (30 * 40))
    assert df["share"].sum() == pytest.approx(100.0)
    assert (df.drop(index=[7, 23, 24, 26])["share"] == 0).all()
    assert df.attrs["void_frame_share"] == pytest.approx(100 * (1 - mean.sum() / (30 * 40)))


def test_panda_moves_pixels_from_common_to_rare_classes(tmp_path):
    """Supplementary Fig 2: the dominant classes (road, building) lose share, rare ones gain.
    Road alone must fall; building, one segment near 25 % of a synthetic frame (p(drop) ~ 0.37), is
    checked together with road because its own change is within the sampling noise of 32 images."""
    src = synthesize_dataset(tmp_path / "src", 32, seed=0, width=256, height=128, workers=1, progress=False)
    out = generate_panda(src, tmp_path / "panda", copies=1, seed=0, workers=1, progress=False)
    merged = compare_shares(class_pixel_share(src), class_pixel_share(out)).set_index("name")
    assert list(merged.index[:2]) == ["road", "building"]  # the common classes of the source
    assert merged.loc["road", "change"] < -5
    assert merged.loc[["road", "building"], "change"].sum() < -5
    rare = merged[(merged["share_a"] > 0) & (merged["share_a"] < 2.0)]
    assert len(rare) >= 5
    assert rare["share_b"].sum() > 1.2 * rare["share_a"].sum()
    assert (rare["change"] > 0).mean() > 0.5


def test_stats_cli_prints_both_datasets_and_draws_the_chart(tmp_path, capsys):
    src = write_blocks_dataset(tmp_path / "blocks", n=3)
    out = generate_panda(src, tmp_path / "panda", copies=1, seed=0, workers=1, progress=False)
    plot = tmp_path / "fig" / "share.png"
    assert panbench(["data", "stats", str(src), "--compare", str(out), "--plot", str(plot)]) == 0
    printed = capsys.readouterr().out
    assert "road" in printed and "sky" in printed and "change" in printed
    with Image.open(plot) as im:
        assert im.size[0] > 300 and im.size[1] > 200
    assert plot_shares(tmp_path / "one.png", [("blocks", class_pixel_share(src))]).is_file()
    assert panbench(["data", "stats", str(tmp_path / "nowhere")]) == 2
