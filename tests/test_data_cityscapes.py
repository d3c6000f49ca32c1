"""Cityscapes -> COCO panoptic on a tiny Cityscapes-layout tree with hand-known segments."""

import json
from pathlib import Path

import numpy as np
import pytest
from cityscapes_fixtures import H, W, label_and_instance_maps, write_cityscapes_tree
from PIL import Image

from harness.cli import main as panbench
from harness.data.cityscapes import convert_cityscapes
from harness.data.subsets import write_subset
from harness.data.validate import check_dataset, load_valid
from harness.errors import DatasetError


def test_conversion_matches_hand_known_segments(tmp_path):
    root = write_cityscapes_tree(tmp_path / "cityscapes")
    ds = load_valid(convert_cityscapes(root, tmp_path / "out", split="train", workers=2, progress=False))
    # one city per process, merged in the converter's own order (sorted paths)
    assert [e["id"] for e in ds.images] == ["aachen_000000_000019", "aachen_000001_000019", "bochum_000000_000313"]
    assert ds.images[0]["file_name"] == "aachen_000000_000019_leftImg8bit.png"
    assert len(ds.categories) == 19 and {c["id"] for c in ds.categories} >= {7, 11, 23, 24, 26}
    segments = {s["id"]: s for s in ds.annotations[0]["segments_info"]}  # frame 1: person shifted by 1
    assert segments[26000] == {"id": 26000, "category_id": 26, "area": 60, "bbox": [4, 10, 10, 6], "iscrowd": 0}
    assert segments[24000] == {"id": 24000, "category_id": 24, "area": 24, "bbox": [21, 9, 3, 8], "iscrowd": 0}
    assert segments[26] == {"id": 26, "category_id": 26, "area": 24, "bbox": [30, 12, 8, 3], "iscrowd": 1}
    assert segments[23]["area"] == 6 * W and segments[23]["iscrowd"] == 0
    assert segments[7]["area"] == 7 * W - 2 * 10 - 3 * 3 - 1 * 8  # road rows 14..20 minus car, person, crowd
    assert set(segments) == {7, 11, 23, 24000, 26000, 26}  # ego vehicle is void
    _, instances = label_and_instance_maps(1)  # aachen_000000_000019 was frame 1
    expected = np.where(instances == 1, 0, instances)
    np.testing.assert_array_equal(ds.read_ids(0), expected)
    np.testing.assert_array_equal(ds.read_image(0), np.asarray(Image.open(
        root / "leftImg8bit/train/aachen/aachen_000000_000019_leftImg8bit.png")))


def test_cli_converts_and_reports_bad_trees(tmp_path, capsys):
    root = write_cityscapes_tree(tmp_path / "cs", split="val")
    assert panbench(["data", "cityscapes", "--root", str(root), "--out", str(tmp_path / "val"), "--split", "val",
                     "--workers", "1"]) == 0
    assert len(load_valid(tmp_path / "val")) == 3
    capsys.readouterr()
    assert panbench(["data", "cityscapes", "--root", str(root), "--out", str(tmp_path / "tr")]) == 2  # no train split
    assert "gtFine/train: folder is missing" in capsys.readouterr().err


def test_converter_exit_and_missing_images_become_dataset_errors(tmp_path):
    root = tmp_path / "cs"
    (root / "gtFine/train/aachen").mkdir(parents=True)
    (root / "leftImg8bit/train/aachen").mkdir(parents=True)
    with pytest.raises(DatasetError, match=r"gtFine/train/aachen: cityscapesscripts refused it: ERROR: Did not find any files"):
        convert_cityscapes(root, tmp_path / "out", progress=False)
    write_cityscapes_tree(root)
    (root / "leftImg8bit/train/aachen/aachen_000001_000019_leftImg8bit.png").unlink()
    with pytest.raises(DatasetError, match=r"aachen_000001_000019_leftImg8bit\.png: image file is missing"):
        convert_cityscapes(root, tmp_path / "out", progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cs"]  # a failed conversion leaves no output, no work folder


def test_label_ids_are_kept_beside_the_panoptic_pngs(tmp_path, capsys):
    root = write_cityscapes_tree(tmp_path / "cs")
    labels_path = root / "gtFine/train/aachen/aachen_000000_000019_gtFine_labelIds.png"
    labels = np.asarray(Image.open(labels_path)).copy()
    labels[0, :3] = 255  # "no label" pixels stay 255
    Image.fromarray(labels).save(labels_path)
    out = tmp_path / "out"
    assert panbench(["data", "cityscapes", "--root", str(root), "--out", str(out), "--label-ids",
                     "--workers", "1"]) == 0
    data = json.loads((out / "panoptic.json").read_text())
    assert data["label_maps"] == {"dir": "label_ids", "num_classes": 35}
    for image, ann in zip(data["images"], data["annotations"]):
        # one stem for image and label: mmdetection derives the label's name from the image's
        assert ann["file_name"] == image["file_name"] == f"{image['id']}_leftImg8bit.png"
        city = image["id"].split("_")[0]
        source = root / "gtFine/train" / city / f"{image['id']}_gtFine_labelIds.png"
        with Image.open(out / "label_ids" / ann["file_name"]) as kept, Image.open(source) as original:
            assert kept.mode == "L" and kept.size == (W, H)
            np.testing.assert_array_equal(np.asarray(kept), np.asarray(original))
    ds = load_valid(out)
    np.testing.assert_array_equal(ds.read_label_map(0), labels)  # aachen_000000_000019 is the first image
    capsys.readouterr()
    assert panbench(["data", "check", str(out)]) == 0
    # a subset carries the maps along and stays valid
    write_subset(ds, tmp_path / "sub", [ds.images[2]["id"]])
    assert check_dataset(tmp_path / "sub", progress=False, workers=1).problems == []


def test_data_check_validates_the_label_maps(tmp_path, capsys):
    root = write_cityscapes_tree(tmp_path / "cs")
    out = convert_cityscapes(root, tmp_path / "out", workers=1, progress=False, label_ids=True)
    maps = sorted((out / "label_ids").iterdir())
    bad = np.asarray(Image.open(maps[0])).copy()
    bad[5, 5] = 40  # not a Cityscapes label id, not 255
    Image.fromarray(bad).save(maps[0])
    Image.fromarray(np.zeros((H, W + 1), np.uint8)).save(maps[1])  # wrong size
    maps[2].unlink()
    problems = {Path(path).name: problem for path, problem in check_dataset(out, progress=False, workers=1).problems}
    assert problems[maps[0].name] == "label map holds id(s) 40, not below num_classes 35 nor 255 (no label)"
    assert problems[maps[1].name] == f"label map is {W + 1}x{H} (WxH) but its image is {W}x{H}"
    assert problems[maps[2].name] == "label map file is missing"
    capsys.readouterr()
    assert panbench(["data", "check", str(out)]) == 2
    assert "label map" in capsys.readouterr().err
    data = json.loads((out / "panoptic.json").read_text())
    data["label_maps"]["dir"] = "../cs"
    (out / "panoptic.json").write_text(json.dumps(data))
    with pytest.raises(DatasetError, match=r"label_maps.dir '../cs' climbs out of its folder"):
        load_valid(out)


def test_label_ids_need_every_labelids_file(tmp_path):
    root = write_cityscapes_tree(tmp_path / "cs")
    (root / "gtFine/train/bochum/bochum_000000_000313_gtFine_labelIds.png").unlink()
    # cityscapesscripts itself reads instanceIds only, so the panoptic conversion alone still works
    assert len(load_valid(convert_cityscapes(root, tmp_path / "plain", workers=1, progress=False))) == 3
    with pytest.raises(DatasetError, match=r"bochum_000000_000313_gtFine_labelIds\.png: labelIds file is missing"):
        convert_cityscapes(root, tmp_path / "out", workers=1, progress=False, label_ids=True)
    assert not (tmp_path / "out").exists()


def test_instance_ids_are_kept_for_spades_edge_map(tmp_path, capsys):
    root = write_cityscapes_tree(tmp_path / "cs")
    out = tmp_path / "out"
    assert panbench(["data", "cityscapes", "--root", str(root), "--out", str(out), "--instance-ids",
                     "--workers", "1"]) == 0
    data = json.loads((out / "panoptic.json").read_text())
    assert data["label_maps"] == {"dir": "label_ids", "num_classes": 35, "instance_dir": "instance_ids"}
    ds = load_valid(out)
    for index, (image, ann) in enumerate(zip(data["images"], data["annotations"])):
        source = root / "gtFine/train" / image["id"].split("_")[0] / f"{image['id']}_gtFine_instanceIds.png"
        with Image.open(out / "instance_ids" / ann["file_name"]) as kept, Image.open(source) as original:
            assert kept.size == (W, H)
            np.testing.assert_array_equal(np.asarray(kept), np.asarray(original))
        np.testing.assert_array_equal(ds.read_instance_map(index), np.asarray(Image.open(source)).astype(np.int64))
    capsys.readouterr()
    assert panbench(["data", "check", str(out)]) == 0
    write_subset(ds, tmp_path / "sub", [ds.images[2]["id"]])
    assert check_dataset(tmp_path / "sub", progress=False, workers=1).problems == []
    assert (tmp_path / "sub" / "instance_ids" / ds.annotations[2]["file_name"]).is_file()
    maps = sorted((out / "instance_ids").iterdir())
    Image.fromarray(np.zeros((H, W + 1), np.uint16)).save(maps[0])
    maps[1].unlink()
    problems = {Path(path).name: problem for path, problem in check_dataset(out, progress=False, workers=1).problems}
    assert problems[maps[0].name] == f"instance map is {W + 1}x{H} (WxH) but its image is {W}x{H}"
    assert problems[maps[1].name] == "instance map file is missing"
