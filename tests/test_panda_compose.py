"""PanDA composition on arrays: paste order, zoom direction, image/label consistency, recomputed
segments_info (checked against harness.data.panoptic_format.segment_stats)."""

from __future__ import annotations

import numpy as np
import pytest

from harness.data.panoptic_format import rgb2id, segment_stats
from harness.errors import DatasetError
from harness.panda.compose import panda_image, transform_segments
from harness.panda.config import PandaConfig
from harness.panda.decompose import Segment, decompose
from panda_checks import H, W, assert_traces_to_sources, coded_scene


def square_segments(boxes: list[tuple[int, int, int, int, int]], frame=(H, W)):
    """Segments from (id, y, x, h, w) rectangles on a blank frame."""
    ids = np.zeros(frame, np.uint32)
    for sid, y, x, h, w in boxes:
        ids[y:y + h, x:x + w] = sid
    image = np.full(frame + (3,), 128, np.uint8)
    infos = [{"id": sid, "category_id": 26, "area": area, "bbox": bbox, "iscrowd": 0}
             for sid, (area, bbox) in segment_stats(ids).items()]
    infos.sort(key=lambda s: [b[0] for b in boxes].index(s["id"]))
    return decompose(image, ids, infos)


def test_decompose_keeps_every_segment_and_checks_the_json():
    image, ids, infos, _ = coded_scene(np.random.default_rng(0))
    segments = decompose(image, ids, infos)
    assert [s.id for s in segments] == [s["id"] for s in infos]
    for seg, info in zip(segments, infos):
        assert seg.area == info["area"] and seg.mask.shape == (info["bbox"][3], info["bbox"][2])
        assert (seg.pixels[seg.mask] == image[ids == seg.id]).all()
    bad = [dict(infos[0], area=infos[0]["area"] + 1)] + infos[1:]
    with pytest.raises(DatasetError, match=f"lbl.png: segment {infos[0]['id']}"):
        decompose(image, ids, bad, label_path="lbl.png")
    with pytest.raises(DatasetError, match="do(es)? not list"):
        decompose(image, ids, infos[1:], label_path="lbl.png")


def test_largest_segment_is_pasted_first_so_smaller_ones_stay_on_top():
    # the small segment is listed first and both grow by 1.5 about their centres, so they overlap
    segments = square_segments([(2001, 40, 70, 6, 6), (1001, 30, 30, 30, 40)])
    config = PandaConfig(ops=("resize",), scale_min=1.5, scale_max=1.5)
    placed = transform_segments(np.random.default_rng(0), segments, (H, W), config)
    assert [p.id for p in placed] == [1001, 2001]
    sample = panda_image(np.random.default_rng(0), segments, (H, W), config)
    label = rgb2id(sample.label_rgb)
    small = next(s for s in sample.segments_info if s["id"] == 2001)
    assert small["area"] == 9 * 9  # fully visible although it overlaps the large one
    x, y, w, h = small["bbox"]
    assert (label[y:y + h, x:x + w] == 2001).all()


def test_paste_order_is_by_area_after_resize():
    rng = np.random.default_rng(3)
    image, ids, infos, _ = coded_scene(rng, n_things=12)
    placed = transform_segments(rng, decompose(image, ids, infos), (H, W), PandaConfig())
    areas = [p.area for p in placed]
    assert areas == sorted(areas, reverse=True)


def _bbox_centre(bbox):
    x, y, w, h = bbox
    return np.array([y + h / 2.0, x + w / 2.0])


@pytest.mark.parametrize("scale", [0.5, 1.5])
def test_zoom_moves_segment_centres_by_the_scale_about_the_image_centre(scale):
    boxes = [(1000 + k, y, x, 8, 12) for k, (y, x) in enumerate([(30, 40), (56, 50), (30, 100), (56, 110), (40, 65)])]
    segments = square_segments(boxes)
    config = PandaConfig(ops=("resize", "shift"), scale_min=scale, scale_max=scale)
    sample = panda_image(np.random.default_rng(0), segments, (H, W), config)
    centre = np.array([H / 2.0, W / 2.0])
    out = {s["id"]: _bbox_centre(s["bbox"]) for s in sample.segments_info}
    assert len(out) == len(boxes)
    for sid, y, x, h, w in boxes:
        before = np.array([y + h / 2.0, x + w / 2.0]) - centre
        np.testing.assert_allclose(out[sid] - centre, scale * before, atol=1.0)


def test_random_zoom_pushes_enlarged_segments_out_and_pulls_shrunk_ones_in():
    boxes = [(1000 + k, y, x, 10, 10) for k, (y, x) in enumerate([(10, 10), (10, 130), (70, 20), (70, 130), (40, 100)])]
    centre = np.array([H / 2.0, W / 2.0])
    moved_out = moved_in = 0
    for seed in range(12):
        sample = panda_image(np.random.default_rng(seed), square_segments(boxes), (H, W),
                             PandaConfig(ops=("resize", "shift")))
        for info in sample.segments_info:
            sid, y, x, h, w = next(b for b in boxes if b[0] == info["id"])
            if info["bbox"][0] in (0,) or info["bbox"][0] + info["bbox"][2] == W or info["bbox"][1] == 0 \
                    or info["bbox"][1] + info["bbox"][3] == H:
                continue  # clipped at the frame: its bbox no longer shows the scale
            grew = info["bbox"][2] > w
            d_before = np.linalg.norm(np.array([y + h / 2.0, x + w / 2.0]) - centre)
            d_after = np.linalg.norm(_bbox_centre(info["bbox"]) - centre)
            if info["bbox"][2] != w:
                assert (d_after > d_before) == grew
                moved_out += grew
                moved_in += not grew
    assert moved_out > 5 and moved_in > 5


@pytest.mark.parametrize("seed", range(6))
def test_every_labelled_pixel_traces_back_to_its_own_segment_and_noise_is_void(seed):
    rng = np.random.default_rng(seed)
    image, ids, infos, code = coded_scene(rng)
    sample = panda_image(np.random.default_rng(100 + seed), decompose(image, ids, infos), (H, W), PandaConfig())
    assert_traces_to_sources(sample.image, rgb2id(sample.label_rgb), sample.segments_info, ids, infos, code)


def test_segments_pushed_out_of_the_frame_are_dropped():
    segments = square_segments([(1000 + k, 10 + 6 * k, 5 + 12 * k, 5, 5) for k in range(10)])
    config = PandaConfig(ops=("shift",), shift_range=1.0)
    kept = [len(panda_image(np.random.default_rng(s), segments, (H, W), config).segments_info) for s in range(10)]
    assert min(kept) < 10 and max(kept) > 0


def test_dropout_inside_the_pipeline_uses_the_area_fraction_of_the_frame():
    """Segments of known area fractions through transform_segments (dropout only): survival rate
    within a 4.5-sigma binomial bound of 1 - p(a) from the paper's rule."""
    frame = (100, 100)
    fractions = [0.05, 0.20, 0.30, 0.45, 0.60]
    segments = []
    for k, a in enumerate(fractions):
        mask = np.zeros((100, 100), bool)
        mask.flat[: int(round(a * 10_000))] = True
        segments.append(Segment(1000 + k, 7, 0, 0, 0, mask, np.zeros((100, 100, 3), np.uint8), frame))
    trials = 300
    kept = np.zeros(len(fractions))
    for seed in range(trials):
        placed = transform_segments(np.random.default_rng(seed), segments, frame, PandaConfig(ops=("dropout",)))
        for p in placed:
            kept[p.id - 1000] += 1
    expected = 1.0 - np.clip((np.array(fractions) - 0.10) / 0.40, 0, 1)
    bound = 4.5 * np.sqrt(expected * (1 - expected) / trials)
    assert np.all(np.abs(kept / trials - expected) <= bound + 1e-12), kept / trials


def test_more_than_255_segments_keep_their_own_ids():
    """The layer map switches from 8-bit to 32-bit past 255 pasted segments."""
    boxes = [(1 + k, 3 * (k // 20), 3 * (k % 20), 2, 2) for k in range(300)]
    segments = square_segments(boxes, frame=(60, 60))
    sample = panda_image(np.random.default_rng(0), segments, (60, 60), PandaConfig(ops=()))
    ids = np.zeros((60, 60), np.uint32)
    for sid, y, x, h, w in boxes:
        ids[y:y + h, x:x + w] = sid
    assert np.array_equal(rgb2id(sample.label_rgb), ids) and len(sample.segments_info) == 300


@pytest.mark.parametrize("frame", [(H, W), (3, 5), (1, 1)])
def test_noise_canvas_is_numpys_uint8_draw_and_leaves_the_same_generator_state(frame):
    """The canvas is drawn as raw bytes (faster): byte for byte `rng.integers(0, 256, (H, W, 3), uint8)`,
    the paper's white noise as panbench drew it before, with the generator left where that draw left it,
    so every later draw of a seeded PanDA image is unchanged too."""
    drawn = np.random.default_rng(11)
    sample = panda_image(drawn, [], frame, PandaConfig())  # no segment: nothing drawn after the canvas
    reference = np.random.default_rng(11)
    assert np.array_equal(sample.image, reference.integers(0, 256, size=(*frame, 3), dtype=np.uint8))
    assert drawn.integers(0, 2**62, 4).tolist() == reference.integers(0, 2**62, 4).tolist()
