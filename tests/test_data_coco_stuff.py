"""`panbench data coco-stuff` on a tiny tree laid out as COCO-Stuff and COCO ship it: stuffthingmaps
(class index = category id - 1, 255 unlabeled), COCO's instances JSON with polygon, compressed and
uncompressed RLE masks (a crowd region among them), overlapping instances; the panoptic result is
checked pixel by pixel against maps built by hand in the documented painting order."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils

from harness.cli import main as panbench
from harness.data.coco_stuff import COCO_STUFF_NAMES, convert_coco_stuff
from harness.data.validate import check_dataset, load_valid
from harness.errors import DatasetError

H, W = 20, 30
SKY, ROAD, GRASS = 157, 149, 124  # sky-other, road, grass (stuff ids 92..182)
PERSON, CAR, BUS = 1, 3, 6


def rect(y0, y1, x0, x1):
    mask = np.zeros((H, W), bool)
    mask[y0:y1, x0:x1] = True
    return mask


def compressed_rle(mask):
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [H, W], "counts": rle["counts"].decode("ascii")}


def uncompressed_rle(mask):
    """COCO's crowd format: column-major run lengths starting with a run of zeros."""
    flat = mask.T.reshape(-1).astype(np.int8)
    changes = np.flatnonzero(np.diff(np.concatenate([[0], flat, [1 - flat[-1]]])))
    return {"size": [H, W], "counts": np.diff(np.concatenate([[0], changes])).tolist()}


POLYGON = [[18.0, 4.0, 26.0, 4.0, 26.0, 12.0, 18.0, 12.0]]  # a person on the right


def polygon_mask():
    return mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects(POLYGON, H, W))).astype(bool)


def write_tree(root):
    """Image 1: sky over road, a bus (RLE) with a car on it (uncompressed RLE), a person (polygon), a
    crowd of people partly behind the bus; map pixels labelled 'person' that no instance covers;
    a 255 patch. Image 2: grass only, no instance."""
    (root / "images").mkdir(parents=True)
    (root / "maps").mkdir()
    values = np.full((H, W), ROAD - 1, np.uint8)
    values[:8] = SKY - 1
    values[15:, :4] = 255  # unlabeled
    values[17:, 10:14] = PERSON - 1  # a thing pixel without an instance: void
    Image.fromarray(values).save(root / "maps" / "000000000001.png")
    Image.fromarray(np.full((H, W), GRASS - 1, np.uint8)).save(root / "maps" / "000000000002.png")
    rng = np.random.default_rng(0)
    for stem in ("000000000001", "000000000002"):
        Image.fromarray(rng.integers(0, 256, (H, W, 3), dtype=np.uint8)).save(root / "images" / f"{stem}.jpg")
    annotations = [
        {"id": 11, "image_id": 1, "category_id": BUS, "iscrowd": 0, "segmentation": compressed_rle(rect(6, 16, 2, 16))},
        {"id": 12, "image_id": 1, "category_id": CAR, "iscrowd": 0, "segmentation": uncompressed_rle(rect(10, 14, 5, 9))},
        {"id": 13, "image_id": 1, "category_id": PERSON, "iscrowd": 0, "segmentation": POLYGON},
        {"id": 14, "image_id": 1, "category_id": PERSON, "iscrowd": 1,
         "segmentation": uncompressed_rle(rect(12, 20, 12, 20))},
    ]
    for ann in annotations:
        ann["area"], ann["bbox"] = 1.0, [0.0, 0.0, 1.0, 1.0]  # not read by the conversion
    instances = {"images": [{"id": 1, "file_name": "000000000001.jpg", "height": H, "width": W},
                            {"id": 2, "file_name": "000000000002.jpg", "height": H, "width": W}],
                 "annotations": annotations,
                 "categories": [{"id": i, "name": COCO_STUFF_NAMES[i - 1], "supercategory": "x"}
                                for i in (PERSON, CAR, BUS)]}
    (root / "instances.json").write_text(json.dumps(instances))
    return root


def expected_ids():
    """Image 1 by hand: stuff = its category id; crowd painted first, then bus (largest), person,
    car (smallest) over it; ids category * 1000 + k in that order."""
    ids = np.full((H, W), ROAD, np.uint32)
    ids[:8] = SKY
    ids[15:, :4] = 0
    ids[17:, 10:14] = 0
    ids[rect(12, 20, 12, 20)] = PERSON * 1000 + 1  # the crowd, first
    ids[rect(6, 16, 2, 16)] = BUS * 1000 + 1  # 140 px
    ids[polygon_mask()] = PERSON * 1000 + 2  # the polygon person, smaller than the bus
    ids[rect(10, 14, 5, 9)] = CAR * 1000 + 1  # 16 px, last: on top of the bus
    return ids


def test_conversion_matches_the_hand_painted_map(tmp_path, capsys):
    root = write_tree(tmp_path / "cocostuff")
    assert polygon_mask().sum() > 16  # the polygon person is painted before the car
    out = tmp_path / "out"
    assert panbench(["data", "coco-stuff", "--images", str(root / "images"), "--stuffthingmaps", str(root / "maps"),
                     "--instances", str(root / "instances.json"), "--out", str(out), "--workers", "1"]) == 0
    ds = load_valid(out, pixel_budget=None)
    assert [c["id"] for c in ds.categories] == list(range(1, 183))
    assert [c["name"] for c in ds.categories][:3] == ["person", "bicycle", "car"] and ds.categories[-1]["name"] == "wood"
    assert {c["id"] for c in ds.categories if c["isthing"]} == set(range(1, 92))
    assert [(i["id"], i["file_name"]) for i in ds.images] == [(1, "000000000001.jpg"), (2, "000000000002.jpg")]
    assert ds.annotations[0]["file_name"] == "000000000001.png"  # one stem for image and label
    np.testing.assert_array_equal(ds.read_ids(0), expected_ids())
    segments = {s["id"]: s for s in ds.annotations[0]["segments_info"]}
    assert {k: (s["category_id"], s["iscrowd"]) for k, s in segments.items()} == {
        SKY: (SKY, 0), ROAD: (ROAD, 0), 1001: (PERSON, 1), 1002: (PERSON, 0), 6001: (BUS, 0), 3001: (CAR, 0)}
    np.testing.assert_array_equal(ds.read_ids(1), np.full((H, W), GRASS))
    np.testing.assert_array_equal(ds.read_image(0), np.asarray(Image.open(root / "images" / "000000000001.jpg")))
    assert (out / "images" / "000000000001.jpg").stat().st_ino == (root / "images" / "000000000001.jpg").stat().st_ino
    assert check_dataset(out, progress=False, workers=1).problems == []


def test_bad_inputs_are_one_line_errors_and_leave_nothing(tmp_path):
    root = write_tree(tmp_path / "cs")
    args = (root / "images", root / "maps", root / "instances.json")
    bad = np.full((H, W), 190, np.uint8)  # no COCO-Stuff class
    Image.fromarray(bad).save(root / "maps" / "000000000002.png")
    with pytest.raises(DatasetError, match=r"000000000002\.png: stuffthingmap holds value\(s\) \[190\], outside 0\.\.181"):
        convert_coco_stuff(*args, tmp_path / "out", workers=1, progress=False)
    (root / "maps" / "000000000002.png").unlink()
    with pytest.raises(DatasetError, match=r"maps/000000000002\.png: stuffthingmap file is missing \(named by image 2"):
        convert_coco_stuff(*args, tmp_path / "out", workers=1, progress=False)
    Image.fromarray(np.zeros((H + 1, W), np.uint8)).save(root / "maps" / "000000000002.png")
    with pytest.raises(DatasetError, match=r"stuffthingmap is 30x21 \(WxH\) but image 2 is 30x20"):
        convert_coco_stuff(*args, tmp_path / "out", workers=1, progress=False)
    data = json.loads((root / "instances.json").read_text())
    data["annotations"][0]["category_id"] = 149
    (root / "instances.json").write_text(json.dumps(data))
    with pytest.raises(DatasetError, match=r"instances\.json: annotations\[0\]: category_id 149 is not a COCO thing id"):
        convert_coco_stuff(*args, tmp_path / "out", workers=1, progress=False)
    data["annotations"][0]["category_id"] = BUS
    data["images"][0]["file_name"] = "../maps/000000000001.png"
    (root / "instances.json").write_text(json.dumps(data))
    with pytest.raises(DatasetError, match=r"images\[0\]: file_name '\.\./maps/000000000001\.png' climbs out"):
        convert_coco_stuff(*args, tmp_path / "out", workers=1, progress=False)
    data["images"][0]["file_name"] = "000000000001.jpg"
    data["categories"][0]["name"] = "human"
    (root / "instances.json").write_text(json.dumps(data))
    with pytest.raises(DatasetError, match="is not one of COCO's thing categories"):
        convert_coco_stuff(*args, tmp_path / "out", workers=1, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cs"]  # no output, no staging folder
