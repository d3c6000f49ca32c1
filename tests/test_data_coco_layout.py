"""COCO's official panoptic layout read in place (`data.dataset=coco_panoptic data.root=COCO_ROOT
data.split=train2017`): a tiny tree laid out as COCO ships it (annotations/panoptic_<split>.json,
annotations/panoptic_<split>/*.png, <split>/*.jpg, integer image ids, COCO's category ids) is read,
validated, subset and fed to training without a link or a copy."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from PIL import Image

from harness.cli import main as panbench
from harness.config.run_spec import RunSpec
from harness.data.dataset import PanopticDataset, dataset_location
from harness.data.panoptic_format import id2rgb, make_segments_info
from harness.data.validate import check_dataset, load_valid
from harness.errors import ConfigError, DatasetError
from harness.train.data_sources import prepare_data
from harness.train.loader import PanopticTrainSet

H, W = 24, 32
# COCO's own ids: person 1 and car 3 are things; sky-other-merged 187 and road 149 are stuff
COCO_CATEGORIES = [
    {"id": 1, "name": "person", "supercategory": "person", "isthing": 1, "color": [220, 20, 60]},
    {"id": 3, "name": "car", "supercategory": "vehicle", "isthing": 1, "color": [0, 0, 142]},
    {"id": 149, "name": "road", "supercategory": "ground", "isthing": 0, "color": [128, 64, 128]},
    {"id": 187, "name": "sky-other-merged", "supercategory": "sky", "isthing": 0, "color": [70, 130, 180]},
]


def write_coco_split(root, split: str, image_ids) -> None:
    """One split as COCO ships it: JPEG images named by the zero-padded id, PNG labels of the same stem."""
    rng = np.random.default_rng(len(image_ids))
    images, annotations = [], []
    for image_id in image_ids:
        stem = f"{image_id:012d}"
        ids = np.full((H, W), 4_000_000, np.uint32)  # sky: COCO's ids are colour-derived, large
        ids[H // 2:] = 2_000_123  # road
        ids[4:12, 3 + image_id % 5:11 + image_id % 5] = 3_355_443  # a car
        ids[10:20, 20:24] = 6_579_300  # a person
        ids[:, -1] = 0  # void
        category_of = {4_000_000: 187, 2_000_123: 149, 3_355_443: 3, 6_579_300: 1}
        (root / split).mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (H, W, 3), dtype=np.uint8)).save(root / split / f"{stem}.jpg", quality=95)
        labels = root / "annotations" / f"panoptic_{split}"
        labels.mkdir(parents=True, exist_ok=True)
        Image.fromarray(id2rgb(ids)).save(labels / f"{stem}.png")
        images.append({"id": image_id, "file_name": f"{stem}.jpg", "height": H, "width": W})
        annotations.append({"image_id": image_id, "file_name": f"{stem}.png",
                            "segments_info": make_segments_info(ids, category_of)})
    data = {"info": {"description": "COCO 2017 panoptic (tiny)"}, "licenses": [], "images": images,
            "annotations": annotations, "categories": COCO_CATEGORIES}
    (root / "annotations" / f"panoptic_{split}.json").write_text(json.dumps(data))


@pytest.fixture
def coco_root(tmp_path):
    root = tmp_path / "coco"
    write_coco_split(root, "train2017", [9, 25, 30, 34, 36, 42, 49, 61])
    write_coco_split(root, "val2017", [139, 285])
    return root


def test_split_is_read_in_place(coco_root):
    ds = load_valid(coco_root, split="train2017", pixel_budget=None)
    assert ds.root == coco_root and len(ds) == 8
    assert ds.json_path == coco_root / "annotations" / "panoptic_train2017.json"
    assert ds.image_path(ds.images[0]) == coco_root / "train2017" / "000000000009.jpg"
    assert ds.label_path(ds.annotations[0]) == coco_root / "annotations" / "panoptic_train2017" / "000000000009.png"
    assert ds.read_image(0).shape == (H, W, 3) and ds.read_ids(0)[0, 0] == 4_000_000
    # the split's JSON is the dataset's one path (what caches, run.json and loaders pass on)
    assert ds.location == dataset_location(coco_root, "train2017") == ds.json_path
    again = PanopticDataset.load(ds.location)
    assert (again.root, again.images_dir, again.panoptic_dir) == (ds.root, ds.images_dir, ds.panoptic_dir)
    report = check_dataset(coco_root, split="val2017", progress=False, workers=1)
    assert (report.n_images, report.problems) == (2, [])


def test_check_cli_reads_the_split_and_flags_left_over_files(coco_root, capsys):
    assert panbench(["data", "check", str(coco_root), "--split", "val2017", "--workers", "1"]) == 0
    assert "2 images" in capsys.readouterr().out
    (coco_root / "val2017" / "stray.jpg").write_bytes((coco_root / "val2017" / "000000000139.jpg").read_bytes())
    assert panbench(["data", "check", str(coco_root / "annotations" / "panoptic_val2017.json")]) == 2
    assert "val2017/stray.jpg: no entry of panoptic_val2017.json names this file" in capsys.readouterr().err


def test_file_names_stay_inside_the_split_folders(coco_root):
    path = coco_root / "annotations" / "panoptic_val2017.json"
    data = json.loads(path.read_text())
    data["images"][0]["file_name"] = "../train2017/000000000009.jpg"
    path.write_text(json.dumps(data))
    with pytest.raises(DatasetError, match=r"panoptic_val2017\.json: images\[0\] \(id 139\): file_name .* climbs out"):
        load_valid(coco_root, split="val2017")


def test_layout_mistakes_are_one_line_errors(coco_root, tmp_path):
    with pytest.raises(DatasetError, match=r"annotations/panoptic_test2017\.json: file is missing \(expected "
                                           r"COCO's official panoptic layout"):
        PanopticDataset.load(coco_root, split="test2017")
    stray = tmp_path / "elsewhere.json"
    stray.write_text("{}")
    with pytest.raises(DatasetError, match="elsewhere.json: a dataset named by its JSON must be in COCO's official"):
        PanopticDataset.load(stray)
    with pytest.raises(DatasetError, match="is not a split name"):
        PanopticDataset.load(coco_root, split="../val2017")


def _recipe(tmp_path, coco_root, *overrides):
    return RunSpec.from_recipe("mini", ["data.dataset=coco_panoptic", f"data.root={coco_root}", "data.split=train2017",
                                        f"data.val_root={coco_root}", "data.val_split=val2017",
                                        f"data.cache={tmp_path / 'cache'}", *overrides]).settings


def test_training_reads_the_official_layout_without_copying(coco_root, tmp_path):
    prepared = prepare_data(_recipe(tmp_path, coco_root), progress=False)
    assert prepared.train_roots == (coco_root / "annotations" / "panoptic_train2017.json",)  # in place
    assert prepared.val_root == coco_root / "annotations" / "panoptic_val2017.json"
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())  # nothing linked
    assert [c["id"] for c in prepared.categories] == [1, 3, 149, 187]
    train_set = PanopticTrainSet(prepared.train_roots, prepared.categories, seed=0, hflip=0.0)
    image, targets = train_set[(0, 0)]
    assert tuple(image.shape) == (3, H, W)
    assert sorted(targets["labels"].tolist()) == [1, 2]  # thing labels 1..K in category order: person, car
    # the COCO 30k rule on the split: every 4th image, written as a panbench-layout subset
    subset = prepare_data(_recipe(tmp_path, coco_root, "data.subset=every_kth", "data.every_k=4", "data.n=2"),
                          progress=False)
    ds = load_valid(subset.train_roots[0])
    assert [im["id"] for im in ds.images] == [9, 36]
    assert os.path.samefile(ds.image_path(ds.images[1]), coco_root / "train2017" / "000000000036.jpg")  # linked


def test_split_keys_are_checked_before_a_run(tmp_path, coco_root):
    with pytest.raises(ConfigError, match="data.split must be null for data.dataset=synth"):
        RunSpec.from_recipe("mini", ["data.split=train2017"])
    with pytest.raises(ConfigError, match="data.val_split must be a split name"):
        _recipe(tmp_path, coco_root, "data.val_split=../x")
