"""The panoptic IO layer on its own: image modes, the id reader, path confinement, the id -> class
map and segment stats, each against a hand computation or a naive loop."""

from __future__ import annotations

import re

import numpy as np
import pytest
from PIL import Image

from harness.data.images import read_class_ids, read_ids, read_rgb
from harness.data.panoptic_format import id2rgb, mask_stats, segment_rows, segment_stats, semantic_map
from harness.data.paths import confined
from harness.data.schema import read_instance_results, read_panoptic_json
from harness.errors import DatasetError


def test_images_of_any_mode_read_as_rgb(tmp_path):
    Image.new("L", (3, 2), 7).save(tmp_path / "gray.png")
    Image.new("RGBA", (3, 2), (1, 2, 3, 4)).save(tmp_path / "alpha.png")
    palette = Image.new("P", (3, 2), 1)
    palette.putpalette([0, 0, 0, 10, 20, 30] + [0] * 762)
    palette.save(tmp_path / "palette.png")
    assert read_rgb(tmp_path / "gray.png").tolist() == [[[7, 7, 7]] * 3] * 2
    assert read_rgb(tmp_path / "alpha.png").tolist() == [[[1, 2, 3]] * 3] * 2
    assert read_rgb(tmp_path / "palette.png").tolist() == [[[10, 20, 30]] * 3] * 2


def test_label_ids_are_r_plus_256g_plus_65536b_and_only_rgb_is_a_label(tmp_path):
    rgb = np.array([[[1, 2, 3], [255, 255, 255]], [[0, 0, 0], [0, 1, 0]]], np.uint8)
    Image.fromarray(rgb).save(tmp_path / "label.png")
    expected = [[1 + 256 * 2 + 65536 * 3, 255 + 256 * 255 + 65536 * 255], [0, 256]]
    assert read_ids(tmp_path / "label.png").tolist() == expected
    for mode in ("RGBA", "L", "I;16", "P"):
        Image.fromarray(rgb).convert(mode if mode != "I;16" else "I").convert(mode).save(tmp_path / f"{mode}.png")
        with pytest.raises(DatasetError, match=f"label PNG has mode {mode}, expected RGB"):
            read_ids(tmp_path / f"{mode}.png")


def test_class_id_labels_have_one_channel(tmp_path):
    Image.fromarray(np.array([[0, 3], [255, 1]], np.uint8)).save(tmp_path / "l.png")
    assert read_class_ids(tmp_path / "l.png").tolist() == [[0, 3], [255, 1]]
    Image.new("RGB", (2, 2)).save(tmp_path / "rgb.png")
    with pytest.raises(DatasetError, match="rgb.png: label PNG has mode RGB; a class-id label has one channel"):
        read_class_ids(tmp_path / "rgb.png")


def test_confinement_rules(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    (tmp_path / "outside.png").write_bytes(b"x")
    (folder / "inside.png").write_bytes(b"x")
    (folder / "link_in.png").symlink_to(folder / "inside.png")
    (folder / "link_out.png").symlink_to(tmp_path / "outside.png")
    kw = dict(source="d/panoptic.json", entry="image 3")
    assert confined(folder, "sub/a.png", **kw) == folder / "sub/a.png"
    assert confined(folder, "link_in.png", **kw) == folder / "link_in.png"
    for name, rule in (("../outside.png", "climbs out of its folder with '..'"),
                       ("a/../../outside.png", "climbs out of its folder with '..'"),
                       ("/etc/hostname", "is an absolute path"), ("", "is not a file name"), (5, "is not a file name"),
                       ("link_out.png", f"resolves to {tmp_path / 'outside.png'}, outside images/ through a symlink")):
        with pytest.raises(DatasetError, match=rf"^d/panoptic\.json: image 3: file_name .*{re.escape(rule)}"):
            confined(folder, name, **kw)
    assert confined(folder, "link_out.png", allow_outside_links=True, **kw) == folder / "link_out.png"


def naive_classes(ids, segments, class_of, fill):
    listed = {s["id"]: class_of.get(s["category_id"], fill) for s in segments}
    return np.array([[listed.get(int(v), fill) if v else fill for v in row] for row in ids])


def test_semantic_map_equals_a_per_pixel_loop():
    rng = np.random.default_rng(4)
    ids = rng.choice([0, 5, 1000, 26001, 26002, 777], size=(20, 30)).astype(np.uint32)
    segments = [{"id": 26002, "category_id": 26}, {"id": 1000, "category_id": 23}, {"id": 5, "category_id": 99},
                {"id": 26001, "category_id": 26}]  # 777 is not listed; category 99 is unknown
    class_of = {23: 10, 26: 13}
    got = semantic_map(ids, segments, class_of, unknown_category="fill")
    np.testing.assert_array_equal(got, naive_classes(ids, segments, class_of, 255))
    assert got.dtype == np.uint8
    with pytest.raises(DatasetError, match="^x.png: segment 5 has category_id 99"):
        semantic_map(ids, segments, class_of, source="x.png")
    wide = semantic_map(ids, segments, {23: 300, 26: 1, 99: 2}, fill=-1)
    np.testing.assert_array_equal(wide, naive_classes(ids, segments, {23: 300, 26: 1, 99: 2}, -1))
    assert wide.dtype == np.int32


def test_segment_rows_equal_a_per_pixel_loop():
    ids = np.array([[0, 9, 4], [4, 7, 9]], np.uint32)
    assert segment_rows(ids, [9, 4]).tolist() == [[-1, 0, 1], [1, -1, 0]]
    assert segment_rows(ids, []).tolist() == [[-1] * 3] * 2


def test_segment_stats_in_windows_equal_the_full_pass():
    rng = np.random.default_rng(1)
    ids = np.zeros((40, 60), np.uint32)
    for sid in range(1, 8):
        y, x = rng.integers(0, 30), rng.integers(0, 50)
        ids[y:y + rng.integers(1, 10), x:x + rng.integers(1, 10)] = sid
    full = segment_stats(ids)
    loose = {sid: (slice(max(b[1] - 2, 0), b[1] + b[3] + 3), slice(max(b[0] - 1, 0), b[0] + b[2] + 1))
             for sid, (_, b) in full.items()}
    assert segment_stats(ids, loose) == full
    assert segment_stats(ids, {99: (slice(0, 5), slice(0, 5))}) == {}  # listed but absent
    for sid, (area, (x, y, w, h)) in full.items():  # independent: boolean masks
        ys, xs = np.nonzero(ids == sid)
        assert area == len(ys) and [x, y, w, h] == [xs.min(), ys.min(), np.ptp(xs) + 1, np.ptp(ys) + 1]


def test_mask_stats_by_hand():
    mask = np.zeros((4, 5), bool)
    mask[1:3, 2] = mask[2, 4] = True
    assert mask_stats(mask, top=10, left=20) == (3, [22, 11, 3, 2])
    assert mask_stats(np.zeros((2, 2), bool)) is None


def test_evaluation_readers_check_their_schema(tmp_path):
    (tmp_path / "gt.json").write_text('{"annotations": []}')
    with pytest.raises(DatasetError, match="gt.json: missing top-level key 'categories'"):
        read_panoptic_json(tmp_path / "gt.json", ground_truth=True)
    assert read_panoptic_json(tmp_path / "gt.json", ground_truth=False) == {"annotations": []}
    (tmp_path / "r.json").write_text('{"annotations": [{"image_id": "a", "category_id": 1, "score": 1, '
                                     '"bbox": [0, 0, 1, 1], "segmentation": {"size": [2, 2], "counts": "04"}}]}')
    assert read_instance_results(tmp_path / "r.json")[0]["image_id"] == "a"
    (tmp_path / "r.json").write_text('[{"image_id": "a", "category_id": 1, "score": 1, "bbox": [0, 0, 1, 1], '
                                     '"segmentation": {"counts": "04"}}]')
    with pytest.raises(DatasetError, match=r"prediction 0: segmentation is .*, expected a COCO RLE"):
        read_instance_results(tmp_path / "r.json")
    assert id2rgb(np.array([[256]])).tolist() == [[[0, 1, 0]]]
