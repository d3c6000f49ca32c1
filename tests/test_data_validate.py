"""Each validator error names the file and the problem; the CLI turns them into exit code 2."""

import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from harness.cli import main as panbench
from harness.data.dataset import PanopticDataset
from harness.data.validate import _pixel_sample, find_problems, load_valid
from harness.errors import DatasetError


def edit_json(root, change):
    path = root / "panoptic.json"
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def segment(data, image_index, sid):
    return next(s for s in data["annotations"][image_index]["segments_info"] if s["id"] == sid)


def truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def resave(path, size=None, mode=None):
    im = Image.open(path)
    im = im.resize(size) if size else im.convert(mode)
    im.save(path)


# (name, corruption of blocks dataset image 1, expected "<file>: <problem>" regex)
CASES = [
    ("missing image", lambda r: (r / "images/img_001.png").unlink(), r"images/img_001\.png: image file is missing"),
    ("missing label", lambda r: (r / "panoptic/img_001.png").unlink(), r"panoptic/img_001\.png: label file is missing"),
    ("corrupt png", lambda r: (r / "panoptic/img_001.png").write_bytes(b"\x89PNG\r\n\x1a\nnot a png"),
     r"panoptic/img_001\.png: unreadable or corrupt label"),
    ("truncated png", lambda r: truncate(r / "images/img_001.png"), r"images/img_001\.png: unreadable or corrupt image"),
    ("empty file", lambda r: (r / "images/img_001.png").write_bytes(b""), r"images/img_001\.png: image file is empty"),
    ("sizes differ", lambda r: resave(r / "images/img_001.png", size=(40, 32)),
     r"panoptic/img_001\.png: label is 48x32 \(WxH\) but image img_001\.png is 40x32"),
    ("label not rgb", lambda r: resave(r / "panoptic/img_001.png", mode="L"), r"panoptic/img_001\.png: label PNG has mode L"),
    ("json size differs", lambda r: edit_json(r, lambda d: d["images"][1].update(width=40)),
     r"images/img_001\.png: image is 48x32 \(WxH\) but panoptic\.json says width 40, height 32"),
    ("segment not in png", lambda r: edit_json(r, lambda d: d["annotations"][1]["segments_info"].append(
        {"id": 26002, "category_id": 26, "area": 1, "bbox": [0, 0, 1, 1], "iscrowd": 0})),
     r"panoptic/img_001\.png: segment 26002 is in panoptic\.json but not in the PNG"),
    ("png id not in json", lambda r: edit_json(r, lambda d: d["annotations"][1]["segments_info"].remove(segment(d, 1, 24001))),
     r"panoptic/img_001\.png: id 24001 is in the PNG \(32 pixels\) but not in panoptic\.json"),
    ("duplicate segment id", lambda r: edit_json(r, lambda d: d["annotations"][1]["segments_info"].append(segment(d, 1, 26001))),
     r"panoptic/img_001\.png: segment 26001 is listed 2 times in panoptic\.json"),
    ("unknown category", lambda r: edit_json(r, lambda d: segment(d, 1, 26001).update(category_id=99)),
     r"panoptic/img_001\.png: segment 26001 has category_id 99, which is not in categories"),
    ("area differs", lambda r: edit_json(r, lambda d: segment(d, 1, 26001).update(area=95)),
     r"panoptic/img_001\.png: segment 26001 has area 95 in panoptic\.json but 96 pixels in the PNG"),
    ("bbox differs", lambda r: edit_json(r, lambda d: segment(d, 1, 26001)["bbox"].__setitem__(2, 13)),
     r"panoptic/img_001\.png: segment 26001 has bbox \[\d+, \d+, 13, 8\] in panoptic\.json but \[\d+, \d+, 12, 8\] in the PNG"),
    ("area exceeds bbox", lambda r: edit_json(r, lambda d: segment(d, 1, 26001).update(area=1000)),
     r"panoptic/img_001\.png: segment 26001 has area 1000, inconsistent with its bbox"),
    ("bbox outside image", lambda r: edit_json(r, lambda d: segment(d, 1, 26001).update(bbox=[40, 0, 12, 8])),
     r"panoptic/img_001\.png: segment 26001 has bbox \[40, 0, 12, 8\] outside the 48x32 image"),
    ("duplicate image id", lambda r: edit_json(r, lambda d: d["images"][1].update(id=0)),
     r"panoptic\.json: image id 0 appears 2 times in images"),
    ("annotation of unknown image", lambda r: edit_json(r, lambda d: d["annotations"][1].update(image_id=99)),
     r"panoptic\.json: annotation 'img_001\.png' refers to image 99, which is not in images"),
    ("image without annotation", lambda r: edit_json(r, lambda d: d["annotations"].pop(1)),
     r"panoptic\.json: image 1 \(img_001\.png\) has no annotation"),
    ("zero-size image", lambda r: edit_json(r, lambda d: d["images"][1].update(height=0)),
     r"panoptic\.json: image 1 has zero or invalid size \(height 0, width 48\)"),
    ("duplicate category", lambda r: edit_json(r, lambda d: d["categories"].append(d["categories"][0])),
     r"panoptic\.json: category id 7 appears 2 times in categories"),
]


def test_valid_dataset_loads_and_checks_clean(blocks_dataset, capsys):
    assert len(load_valid(blocks_dataset)) == 3
    assert find_problems(PanopticDataset.load(blocks_dataset), workers=1) == []
    assert panbench(["data", "check", str(blocks_dataset)]) == 0
    assert "ok:" in capsys.readouterr().out


@pytest.mark.parametrize("name,corrupt,expected", CASES, ids=[c[0] for c in CASES])
def test_load_reports_first_problem_with_file_name(blocks_dataset, name, corrupt, expected):
    corrupt(blocks_dataset)
    with pytest.raises(DatasetError) as info:
        load_valid(blocks_dataset)
    assert re.search(expected, str(info.value)), str(info.value)
    assert str(info.value).startswith(str(blocks_dataset))  # the full path of the file, not just its name


def test_cli_check_exits_2_with_one_line(blocks_dataset, capsys):
    segment_edit = lambda d: segment(d, 2, 24001).update(area=1)  # noqa: E731
    edit_json(blocks_dataset, segment_edit)
    assert panbench(["data", "check", str(blocks_dataset), "--workers", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and re.search(r"panoptic/img_002\.png: segment 24001 has area 1", err[0]), err


def test_cli_check_all_lists_every_problem(blocks_dataset, capsys):
    (blocks_dataset / "images/img_000.png").unlink()
    edit_json(blocks_dataset, lambda d: segment(d, 2, 26001).update(area=5))
    assert panbench(["data", "check", str(blocks_dataset), "--all", "--workers", "1"]) == 2
    err = capsys.readouterr().err
    assert "img_000.png: image file is missing" in err and "segment 26001 has area 5" in err
    assert "2 problem(s)" in err


def test_cli_check_missing_dataset_is_one_line(tmp_path, capsys):
    assert panbench(["data", "check", str(tmp_path / "nowhere")]) == 2
    assert "panoptic.json: file is missing" in capsys.readouterr().err


def test_load_pixel_checks_an_even_sample_of_big_datasets(blocks_dataset):
    ds = PanopticDataset.load(blocks_dataset)
    ds.images = [dict(ds.images[0], id=i) for i in range(101)]  # 101 images of 32x48
    assert _pixel_sample(ds, None) == list(range(101))
    assert _pixel_sample(ds, 11 * 32 * 48) == list(range(0, 101, 10))  # first, last and evenly between
    np.testing.assert_array_equal(_pixel_sample(ds, 10**9), np.arange(101))


def test_load_only_parses_and_validation_is_its_own_step(blocks_dataset):
    (blocks_dataset / "images/img_001.png").unlink()
    edit_json(blocks_dataset, lambda d: segment(d, 2, 26001).update(area=5))
    ds = PanopticDataset.load(blocks_dataset)  # no file but the JSON is read, nothing is checked
    assert len(ds) == 3 and ds.annotation_for(2)["file_name"] == "img_002.png"
    with pytest.raises(DatasetError, match=r"images/img_001\.png: image file is missing"):
        load_valid(blocks_dataset)


def test_check_all_lists_left_over_files_last(blocks_dataset, capsys):
    (blocks_dataset / "panoptic/old_run.png").write_bytes(b"x")
    (blocks_dataset / "images/.img_000.png.tmp").write_bytes(b"x")
    edit_json(blocks_dataset, lambda d: segment(d, 0, 26001).update(area=7))
    assert panbench(["data", "check", str(blocks_dataset), "--all", "--workers", "1"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert "segment 26001 has area 7" in err[0] and "3 problem(s)" in err[-1]
    listed = sorted(Path(line.split(": ")[0]).relative_to(blocks_dataset).as_posix() for line in err[1:3])
    assert listed == ["images/.img_000.png.tmp", "panoptic/old_run.png"]
    assert all("no entry of panoptic.json names this file" in line for line in err[1:3])
