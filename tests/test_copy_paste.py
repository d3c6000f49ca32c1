"""Simple Copy-Paste's rules (harness/panda/copy_paste.py; Ghiasi et al. 2021, Sec. 3), each on hand-made
images whose expected output is written out by hand. Jitter is switched off (scale_range (1, 1), hflip 0)
except where it is the rule under test."""

from __future__ import annotations

import numpy as np
import pytest

from harness.data.panoptic_format import segment_stats
from harness.panda.copy_paste import SSJ, copy_paste
from harness.panda.door import checked_output

CATS = {1: {"name": "road", "isthing": 0}, 2: {"name": "car", "isthing": 1}, 3: {"name": "person", "isthing": 1}}
FIXED = {"scale_range": (1.0, 1.0), "hflip": 0.0}


def _scene(blocks, shape=(8, 8), colour=10):
    """ids and image from {id: (category, iscrowd, (y0, y1, x0, x1))}; the rest of the map is stuff 1 (road)."""
    ids = np.full(shape, 1, np.uint32)
    image = np.full((*shape, 3), colour, np.uint8)
    segments = [{"id": 1, "category_id": 1, "iscrowd": 0}]
    for sid, (cat, crowd, (y0, y1, x0, x1)) in blocks.items():
        ids[y0:y1, x0:x1] = sid
        image[y0:y1, x0:x1] = sid * 7 % 256
        segments.append({"id": sid, "category_id": cat, "iscrowd": crowd})
    return image, ids, segments


def _paste(dst, src, *, want, **params):
    """copy_paste with the first rng seed whose draw pastes `want` instances (the subset size is random)."""
    for seed in range(200):
        out = copy_paste(*dst, rng=np.random.default_rng(seed), pool=lambda rng: src, categories=CATS,
                         **{**FIXED, **params})
        pasted = [s for s in out[2] if s["id"] > max(s["id"] for s in dst[2])]
        if len(pasted) == want:
            return checked_output(out, CATS, "test")
    raise AssertionError(f"no seed pasted {want} instance(s)")


def test_pasted_pixels_replace_the_destination_with_a_binary_mask():
    dst = _scene({5: (2, 0, (0, 2, 0, 2))})
    src = _scene({3: (3, 0, (4, 6, 4, 7))}, colour=200)
    image, ids, segments = _paste(dst, src, want=1)
    new = [s for s in segments if s["category_id"] == 3][0]
    assert new["area"] == 6 and new["bbox"] == [4, 4, 3, 2]
    assert np.array_equal(ids[4:6, 4:7], np.full((2, 3), new["id"]))
    assert np.array_equal(image[4:6, 4:7], src[0][4:6, 4:7])  # alpha = mask: source pixels exactly
    assert np.array_equal(image[ids != new["id"]], dst[0][ids != new["id"]])  # nothing else blended


def test_fully_occluded_objects_are_removed_and_partly_occluded_updated():
    dst = _scene({5: (2, 0, (2, 4, 2, 4)), 6: (2, 0, (2, 4, 5, 8))})
    src = _scene({3: (3, 0, (1, 5, 1, 6))})  # covers 5 whole and the first column of 6
    _, ids, segments = _paste(dst, src, want=1)
    by_id = {s["id"]: s for s in segments}
    assert 5 not in by_id  # fully occluded: removed
    assert by_id[6]["area"] == 4 and by_id[6]["bbox"] == [6, 2, 2, 2]  # mask and box updated
    assert by_id[1]["area"] == 64 - 20 - 4  # stuff gives its area to the pasted object


def test_a_stuff_segment_left_with_no_pixel_is_removed():
    dst = _scene({}, shape=(4, 4))
    src = _scene({3: (3, 0, (0, 4, 0, 4))}, shape=(4, 4))
    _, ids, segments = _paste(dst, src, want=1)
    assert [s["category_id"] for s in segments] == [3] and (ids == segments[0]["id"]).all()


def test_crowd_regions_and_stuff_are_never_pasted():
    dst = _scene({})
    src = _scene({4: (3, 1, (0, 3, 0, 3))}, colour=99)  # a crowd region and stuff only
    for seed in range(20):
        image, ids, segments = copy_paste(*dst, rng=np.random.default_rng(seed), pool=lambda rng: src,
                                          categories=CATS, **FIXED)
        assert np.array_equal(ids, dst[1]) and np.array_equal(image, dst[0]) and segments == dst[2]


def test_a_destination_crowd_region_is_kept_when_partly_covered():
    dst = _scene({4: (3, 1, (0, 2, 0, 8))})
    src = _scene({3: (3, 0, (1, 3, 0, 8))})
    _, _, segments = _paste(dst, src, want=1, mask_occluded_thr=100, bbox_occluded_thr=0)
    crowd = [s for s in segments if s["id"] == 4][0]
    assert crowd["area"] == 8 and crowd["iscrowd"] == 1


def test_small_moved_remainders_are_removed_by_the_thresholds():
    dst = _scene({5: (2, 0, (0, 4, 0, 4))})
    src = _scene({3: (3, 0, (0, 4, 0, 3))})  # leaves column x = 3 of object 5: 4 px, box moved by 3
    kept = {s["id"] for s in _paste(dst, src, want=1)[2]}
    assert 5 in kept  # the paper's rule (default): only fully occluded objects go
    _, ids, segments = _paste(dst, src, want=1, mask_occluded_thr=4, bbox_occluded_thr=2)
    assert 5 not in {s["id"] for s in segments} and not (ids == 5).any()  # mmdetection's rule: removed, void
    assert (ids[:4, 3] == 0).all()
    kept = {s["id"] for s in _paste(dst, src, want=1, mask_occluded_thr=4, bbox_occluded_thr=3)[2]}
    assert 5 in kept  # the box moved by 3, not more


def test_max_pasted_bounds_the_subset():
    dst = _scene({})
    src = _scene({3: (3, 0, (0, 2, 0, 2)), 4: (2, 0, (4, 6, 4, 6)), 5: (2, 0, (6, 8, 0, 2))})
    counts = set()
    for seed in range(60):
        out = copy_paste(*dst, rng=np.random.default_rng(seed), pool=lambda rng: src, categories=CATS,
                         max_pasted=2, **FIXED)
        counts.add(sum(s["category_id"] != 1 for s in out[2]))
    assert counts == {0, 1, 2}


@pytest.mark.parametrize("scale_range", [(0.1, 2.0), SSJ])
def test_scale_jitter_keeps_the_size_and_the_output_is_valid(scale_range):
    dst = _scene({5: (2, 0, (2, 6, 2, 6))}, shape=(16, 24))
    src = _scene({3: (3, 0, (4, 12, 4, 20))}, shape=(20, 12))  # another size: cropped / padded to the sample's
    for seed in range(10):
        image, ids, segments = checked_output(copy_paste(
            *dst, rng=np.random.default_rng(seed), pool=lambda r: src, categories=CATS, scale_range=scale_range),
            CATS, "test")
        assert image.shape == (16, 24, 3) and ids.shape == (16, 24)
        assert set(segment_stats(ids)) == {s["id"] for s in segments}


def test_each_image_is_flipped_independently():
    dst = _scene({5: (2, 0, (0, 2, 0, 2))})
    flipped = 0
    for seed in range(40):
        _, ids, _ = copy_paste(*dst, rng=np.random.default_rng(seed), pool=lambda rng: _scene({}),
                               categories=CATS, scale_range=(1.0, 1.0), hflip=0.5)
        flipped += int((ids[0:2, 6:8] == 5).all())
    assert 5 < flipped < 35
