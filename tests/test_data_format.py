import json

import numpy as np
import pytest

from harness.data.dataset import PanopticDataset, write_panoptic_json, write_sample
from harness.data.images import read_rgb
from harness.data.panoptic_format import id2rgb, rgb2id, segment_stats
from harness.data.validate import load_valid
from harness.errors import DatasetError


def test_id_rgb_roundtrip_covers_24_bits():
    ids = np.array([[0, 1, 255, 256], [65535, 65536, 2**24 - 1, 26001]], np.uint32)
    rgb = id2rgb(ids)
    assert rgb[0, 3].tolist() == [0, 1, 0]  # 256 = G channel
    assert rgb[1, 1].tolist() == [0, 0, 1]  # 65536 = B channel
    np.testing.assert_array_equal(rgb2id(rgb), ids)


def test_segment_stats_match_hand_computed_boxes():
    ids = np.zeros((5, 6), np.uint32)
    ids[1:3, 2:5] = 7
    ids[4, 0] = 9
    stats = segment_stats(ids)
    assert stats == {7: (6, [2, 1, 3, 2]), 9: (1, [0, 4, 1, 1])}


def test_dataset_roundtrip_preserves_pixels_and_json(tmp_path):
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (10, 12, 3), dtype=np.uint8)
    ids = np.zeros((10, 12), np.uint32)
    ids[:5] = 23 * 1000
    ids[6:, 3:9] = 2**20 + 5
    entry, ann = write_sample(tmp_path, "frankfurt_000000_000294", image, ids,
                              {23000: 23, 2**20 + 5: 26}, {2**20 + 5: 1})
    write_panoptic_json(tmp_path, [entry], [ann], [{"id": 23, "name": "sky", "isthing": 0, "color": [1, 2, 3]},
                                                    {"id": 26, "name": "car", "isthing": 1, "color": [0, 0, 142]}])
    ds = PanopticDataset.load(tmp_path)
    assert ds.images[0]["id"] == "frankfurt_000000_000294"  # string image ids survive
    np.testing.assert_array_equal(ds.read_image(0), image)
    np.testing.assert_array_equal(ds.read_ids(0), ids)
    seg = {s["id"]: s for s in ds.annotations[0]["segments_info"]}
    assert seg[2**20 + 5] == {"id": 2**20 + 5, "category_id": 26, "area": 24, "bbox": [3, 6, 6, 4], "iscrowd": 1}
    on_disk = json.loads((tmp_path / "panoptic.json").read_text())
    assert on_disk["annotations"][0]["file_name"] == "frankfurt_000000_000294.png"


def test_corrupt_png_names_the_file(tmp_path):
    bad = tmp_path / "x.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(DatasetError, match=r"x\.png: unreadable or corrupt"):
        read_rgb(bad)


def test_segment_stats_agree_with_pycocotools_rle():
    """Area and bbox of every segment equal pycocotools' RLE area/toBbox (the COCO reference)."""
    from pycocotools import mask as mask_utils

    rng = np.random.default_rng(3)
    ids = rng.integers(0, 6, (37, 53)).astype(np.uint32) * 1000 + 7  # scattered, non-convex segments
    ids[rng.random(ids.shape) < 0.2] = 0
    stats = segment_stats(ids)
    assert set(stats) == set(np.unique(ids[ids > 0]).tolist())
    for sid, (area, bbox) in stats.items():
        rle = mask_utils.encode(np.asfortranarray((ids == sid).astype(np.uint8)))
        assert area == int(mask_utils.area(rle))
        assert bbox == mask_utils.toBbox(rle).astype(int).tolist()


def test_jpeg_images_and_24_bit_ids_roundtrip_through_files(tmp_path):
    from harness.data.categories import categories_json

    image = np.full((16, 20, 3), 120, np.uint8)
    ids = np.zeros((16, 20), np.uint32)
    big = 2**24 - 1  # white in the PNG
    ids[:8], ids[8:, :10] = 26000 + 999, big
    entry, ann = write_sample(tmp_path, "a", image, ids, {26999: 26, big: 26}, image_format="jpg", image_id=5)
    write_panoptic_json(tmp_path, [entry], [ann], categories_json())
    ds = load_valid(tmp_path)  # validates: ids, areas, boxes, sizes
    assert entry["file_name"] == "a.jpg" and ds.images[0]["id"] == 5
    np.testing.assert_array_equal(ds.read_ids(0), ids)
    assert np.abs(ds.read_image(0).astype(int) - 120).max() <= 2  # JPEG is lossy, flat colour nearly exact
