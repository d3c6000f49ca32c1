"""`panbench data export`: semantic PNGs in detectron2's PanopticFPN convention checked against
hand-computed label maps, the instances JSON read back through pycocotools' own COCO API, and the
things-first panoptic JSON for mmdetection."""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest
from conftest import write_blocks_dataset
from PIL import Image
from pycocotools.coco import COCO

from harness.cli import main
from harness.data.export import export_dataset, panoptic_fpn_labels
from harness.data.images import read_ids
from harness.data.panoptic_format import semantic_map
from harness.errors import DatasetError

# Cityscapes' category list (harness.data.categories) is road(7), sidewalk, building, wall, fence,
# pole, traffic light, traffic sign, vegetation, terrain, sky(23), then the things: so road is
# stuff label 1 and sky stuff label 11.
ROAD, SKY = 1, 11
CAR_ID, PERSON_ID = 26001, 24001


@pytest.fixture
def crowd_blocks(tmp_path):
    """The blocks dataset with the person of image 1 marked as a crowd region."""
    root = write_blocks_dataset(tmp_path / "blocks", n=2, height=24, width=40, seed=3)
    data = json.loads((root / "panoptic.json").read_text())
    for seg in data["annotations"][1]["segments_info"]:
        if seg["id"] == PERSON_ID:
            seg["iscrowd"] = 1
    (root / "panoptic.json").write_text(json.dumps(data))
    return root


def quiet_coco(path) -> COCO:
    with contextlib.redirect_stdout(io.StringIO()):
        return COCO(str(path))


def test_semantic_map_of_a_hand_written_id_map():
    ids = np.array([[1000, 1000, 2000, 2000],
                    [26001, 26001, 2000, 0],
                    [24001, 999, 2000, 0]], dtype=np.uint32)
    segments = [{"id": 1000, "category_id": 23}, {"id": 2000, "category_id": 7},
                {"id": 26001, "category_id": 26}, {"id": 24001, "category_id": 24}]  # 999 is not listed
    categories = [{"id": 23, "isthing": 0}, {"id": 26, "isthing": 1}, {"id": 7, "isthing": 0},
                  {"id": 24, "isthing": 1}]
    labels = panoptic_fpn_labels(categories, "categories.json")
    assert labels == {23: 1, 7: 2, 26: 0, 24: 0}  # stuff numbered in list order, not id order
    expected = np.array([[1, 1, 2, 2],
                         [0, 0, 2, 255],
                         [0, 255, 2, 255]], dtype=np.uint8)
    np.testing.assert_array_equal(semantic_map(ids, segments, labels, source="x.png"), expected)


def test_semantic_pngs_equal_the_hand_mapped_panoptic_maps(crowd_blocks, tmp_path):
    out = export_dataset(crowd_blocks, semantic_dir=tmp_path / "sem", workers=1, progress=False)
    assert out.n_images == 2
    data = json.loads((crowd_blocks / "panoptic.json").read_text())
    for ann in data["annotations"]:
        ids = read_ids(crowd_blocks / "panoptic" / ann["file_name"])
        expected = np.full(ids.shape, 255, np.uint8)
        expected[ids == 1000] = SKY
        expected[ids == 2000] = ROAD
        expected[(ids == CAR_ID) | (ids == PERSON_ID)] = 0  # crowd things are things too
        with Image.open(tmp_path / "sem" / ann["file_name"]) as im:
            assert im.mode == "L"
            np.testing.assert_array_equal(np.asarray(im), expected)


def test_instances_json_reads_back_through_pycocotools(crowd_blocks, tmp_path):
    path = tmp_path / "instances.json"
    out = export_dataset(crowd_blocks, instances_json=path, semantic_dir=tmp_path / "sem", workers=1,
                         progress=False)
    coco = quiet_coco(path)
    data = json.loads((crowd_blocks / "panoptic.json").read_text())
    assert sorted(coco.getCatIds()) == [24, 25, 26, 27, 28, 31, 32, 33]  # thing categories, original ids
    assert {i["id"]: i["file_name"] for i in coco.dataset["images"]} == \
        {i["id"]: i["file_name"] for i in data["images"]}
    assert out.n_instances == 4
    assert sorted(coco.getAnnIds()) == [1, 2, 3, 4]  # unique ids across images
    for ann in data["annotations"]:
        ids = read_ids(crowd_blocks / "panoptic" / ann["file_name"])
        got = {a["category_id"]: a for a in coco.loadAnns(coco.getAnnIds(imgIds=[ann["image_id"]]))}
        assert set(got) == {24, 26}
        for seg_id, cat in ((CAR_ID, 26), (PERSON_ID, 24)):
            mask = ids == seg_id
            np.testing.assert_array_equal(coco.annToMask(got[cat]), mask.astype(np.uint8))
            ys, xs = np.nonzero(mask)
            assert got[cat]["bbox"] == [xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1]
            assert got[cat]["area"] == mask.sum()
        assert got[24]["iscrowd"] == (1 if ann["image_id"] == 1 else 0)
        assert got[26]["iscrowd"] == 0


def test_things_first_json_keeps_everything_but_the_category_order(crowd_blocks, tmp_path):
    out = export_dataset(crowd_blocks, semantic_dir=tmp_path / "sem", things_first_json=tmp_path / "tf.json",
                         instances_json=tmp_path / "i.json", workers=1, progress=False)
    original = json.loads((crowd_blocks / "panoptic.json").read_text())
    written = json.loads(out.things_first_json.read_text())
    flags = [c["isthing"] for c in written["categories"]]
    assert flags == sorted(flags, reverse=True) and sum(flags) == 8
    assert sorted(written["categories"], key=lambda c: c["id"]) == sorted(original["categories"], key=lambda c: c["id"])
    assert written["images"] == original["images"]
    assert [a["image_id"] for a in written["annotations"]] == [i["id"] for i in written["images"]]
    assert written["annotations"] == original["annotations"]


def test_cli_writes_the_default_paths(tmp_path, capsys):
    root = write_blocks_dataset(tmp_path / "blocks", n=2, height=24, width=40, seed=5)
    assert main(["data", "export", "--src", str(root), "--workers", "1"]) == 0
    assert "4 thing instances" in capsys.readouterr().out
    assert quiet_coco(root / "instances.json").getAnnIds()
    assert sorted(p.name for p in (root / "semantic").iterdir()) == ["img_000.png", "img_001.png"]
    assert (root / "panoptic_things_first.json").is_file()


def test_missing_panoptic_png_is_one_error_naming_the_file(tmp_path, capsys):
    root = write_blocks_dataset(tmp_path / "blocks", n=2, height=24, width=40, seed=5)
    (root / "panoptic" / "img_001.png").unlink()
    assert main(["data", "export", "--src", str(root)]) == 2
    err = capsys.readouterr().err
    assert "img_001.png" in err and len(err.strip().splitlines()) == 1


def test_unknown_category_names_the_source():
    with pytest.raises(DatasetError, match=r"^x\.png: .*category_id 99"):
        semantic_map(np.zeros((2, 2), np.uint32), [{"id": 5, "category_id": 99}], {7: 1}, source="x.png")


def test_a_process_pool_writes_the_same_files(tmp_path):
    root = write_blocks_dataset(tmp_path / "blocks", n=3, height=24, width=40, seed=7)
    one = export_dataset(root, tmp_path / "a.json", tmp_path / "a", tmp_path / "a_tf.json", workers=1, progress=False)
    two = export_dataset(root, tmp_path / "b.json", tmp_path / "b", tmp_path / "b_tf.json", workers=2, progress=False)
    assert one.instances_json.read_bytes() == two.instances_json.read_bytes()
    assert one.things_first_json.read_bytes() == two.things_first_json.read_bytes()
    for png in sorted(one.semantic_dir.iterdir()):
        assert png.read_bytes() == (two.semantic_dir / png.name).read_bytes()
