"""Synthesis Fig. 4 on hand-made panoptic maps whose percentages are counted by hand."""

from __future__ import annotations

import json

import numpy as np
import pytest

from analysis.upsampling_alignment import alignment_stages, stage_counts
from harness.models.panoptic_layers import UPSAMPLE_CANDIDATES
from harness.cli import main
from harness.data.dataset import write_panoptic_json, write_sample

HIGH = np.array([[1, 1, 2, 2],
                 [1, 2, 2, 2],
                 [4, 4, 2, 5],
                 [4, 4, 2, 1]], np.uint32)


def test_stage_counts_by_hand():
    """low = HIGH[::2, ::2] = [[1, 2], [4, 2]]. The 12 copied pixels (all but (0,0), (0,2), (2,0), (2,2)):
    - (1,1): id 2, nearest copies low[0,0] = 1 -> misaligned; candidate low[0,1] = 2 matches;
    - (2,3): id 5, copies low[1,1] = 2 -> misaligned; the only candidate inside is low[1,1] = 2 -> unmatched;
      5 is not in low -> new;
    - (3,3): id 1, copies low[1,1] = 2 -> misaligned; only low[1,1] inside -> unmatched; 1 is in low -> not new;
    - the other 9 copy their own id.
    Misaligned 3/12 = 25 %, unmatched 2/12 = 16.67 %, new 1/12 = 8.33 %."""
    assert stage_counts(HIGH, HIGH[::2, ::2]).tolist() == [12, 3, 2, 1]
    assert UPSAMPLE_CANDIDATES == ((0, 0), (0, 1), (1, 0), (1, 1))


def test_two_images_are_summed_and_resized_by_nearest_first():
    """Image 1 is HIGH at 8x8 (each id a 2x2 block): nearest to --size 4x4 gives HIGH back. Image 2 is
    one segment: 12 copied pixels, none wrong. Sums: 3/24 = 12.5 %, 2/24 = 8.33 %, 1/24 = 4.17 %."""
    maps = [np.kron(HIGH, np.ones((2, 2), np.uint32)), np.full((4, 4), 7, np.uint32)]
    stages = alignment_stages(maps, (4, 4), (2, 2))["stages"]
    assert stages == [{"from": [2, 2], "to": [4, 4], "misaligned_pct": pytest.approx(12.5),
                       "unmatched_pct": pytest.approx(100 / 12), "new_pct": pytest.approx(100 / 24)}]


def test_cli_writes_png_svg_json_from_the_smallest_stage_up(tmp_path):
    """A 16x16 map of 16 blocks of 4x4 pixels and a 1-pixel-wide segment; stages 2x2 -> 4x4 -> 8x8 -> 16x16."""
    ids = np.kron(np.arange(1, 17, dtype=np.uint32).reshape(4, 4), np.ones((4, 4), np.uint32))
    ids[:, 5] = 99  # one pixel wide, odd column: never sampled by the 8x8 or coarser maps
    category_of = {int(i): 7 for i in np.unique(ids)}
    entry, ann = write_sample(tmp_path / "ds", "a", np.zeros((16, 16, 3), np.uint8), ids, category_of, image_id=0)
    write_panoptic_json(tmp_path / "ds", [entry], [ann], [{"id": 7, "name": "road", "isthing": 0, "color": [1, 2, 3]}])
    code = main(["figure", "synth-fig4", "--root", str(tmp_path / "ds"), "--size", "16x16", "--smallest", "2x2",
                 "--out", str(tmp_path / "fig4")])
    assert code == 0 and (tmp_path / "fig4.png").stat().st_size > 0 and (tmp_path / "fig4.svg").is_file()
    stages = json.loads((tmp_path / "fig4.json").read_text())["stages"]
    assert [(s["from"], s["to"]) for s in stages] == [([2, 2], [4, 4]), ([4, 4], [8, 8]), ([8, 8], [16, 16])]
    # 8x8 -> 16x16: the 16 column-5 pixels (r, 5) are copied (odd column); each copies low[r//2, 2] (id of
    # block column 1) -> misaligned; 99 is nowhere in the 8x8 map -> unmatched and new. 16 of 192 copied pixels.
    last = stages[-1]
    assert last["misaligned_pct"] == pytest.approx(100 * 16 / 192)
    assert last["unmatched_pct"] == pytest.approx(100 * 16 / 192) and last["new_pct"] == pytest.approx(100 * 16 / 192)
    # 4x4 -> 8x8: in the 8x8 map each block is 2x2 pixels starting on even pixels: nearest copies are all right
    assert (stages[1]["misaligned_pct"], stages[1]["unmatched_pct"], stages[1]["new_pct"]) == (0, 0, 0)
    # 2x2 -> 4x4: the 4x4 map is one pixel per block; the 2x2 map keeps blocks 1, 3, 9, 11, so each of the
    # 12 copied pixels is another block, none of the four candidates, and absent from the 2x2 map
    assert (stages[0]["misaligned_pct"], stages[0]["unmatched_pct"], stages[0]["new_pct"]) == (100, 100, 100)


def test_a_size_that_is_not_a_power_of_two_apart_is_one_line(tmp_path, capsys):
    code = main(["figure", "synth-fig4", "--root", str(tmp_path), "--size", "24x48", "--smallest", "5x10",
                 "--out", str(tmp_path / "x")])
    assert code == 2 and "not --smallest 5x10 times a power of two" in capsys.readouterr().err
