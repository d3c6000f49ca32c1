"""Bad input through every stage's command: exit code 2, ONE line on stderr naming the file and the
problem, nothing on stdout (no traceback, no left-over progress bar)."""

import json
import shutil

import pytest

from cli_errors import one_line_error
from harness.errors import DatasetError
from harness.parallel import parallel_map


def edit_json(root, change):
    path = root / "panoptic.json"
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def first_segment(data):
    return data["annotations"][1]["segments_info"][0]



BAD_DATASETS = [
    ("corrupt png", lambda r: (r / "panoptic/img_001.png").write_bytes(b"\x89PNG\r\n\x1a\nnot a png"),
     "panoptic/img_001.png: unreadable or corrupt label"),
    ("segment missing from the png", lambda r: edit_json(r, lambda d: d["annotations"][1]["segments_info"].append(
        {"id": 26002, "category_id": 26, "area": 1, "bbox": [0, 0, 1, 1], "iscrowd": 0})),
     "panoptic/img_001.png: segment 26002"),  # check: "is in panoptic.json but not in the PNG", panda: "holds 0 pixels"
    ("segment id collision", lambda r: edit_json(r, lambda d: d["annotations"][1]["segments_info"].append(
        dict(first_segment(d)))), "panoptic/img_001.png: segment 1000 is listed 2 times"),
    ("empty image", lambda r: (r / "images/img_001.png").write_bytes(b""), "images/img_001.png: image file is empty"),
]


@pytest.mark.parametrize("name,corrupt,expected", BAD_DATASETS, ids=[c[0] for c in BAD_DATASETS])
def test_data_check_and_panda_name_the_file(blocks_dataset, tmp_path, capsys, name, corrupt, expected):
    corrupt(blocks_dataset)
    one_line_error(capsys, ["data", "check", str(blocks_dataset), "--workers", "1"], expected)
    one_line_error(capsys, ["panda", "--src", str(blocks_dataset), "--out", str(tmp_path / "panda"),
                            "--workers", "1", "--no-progress"], expected)


def test_panda_of_an_empty_dataset_is_an_error(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty/panoptic.json").write_text('{"images": [], "annotations": [], "categories": []}')
    one_line_error(capsys, ["panda", "--src", str(tmp_path / "empty"), "--out", str(tmp_path / "out")],
                   "empty/panoptic.json: the dataset holds no images")


def _fail_on_two(x: int) -> int:
    if x == 2:
        raise DatasetError(f"item_{x}.png", "broken")
    return x


def test_a_dataset_error_crosses_the_process_pool_intact():
    """A worker's DatasetError reaches the parent as itself (not a BrokenProcessPool traceback)."""
    with pytest.raises(DatasetError) as caught:
        parallel_map(_fail_on_two, [0, 1, 2, 3], workers=2, progress=False)
    assert (caught.value.path, caught.value.problem) == ("item_2.png", "broken")


def test_evaluate_panoptic_missing_prediction(blocks_dataset, tmp_path, capsys):
    gt = ["--gt-json", str(blocks_dataset / "panoptic.json"), "--gt-dir", str(blocks_dataset / "panoptic")]
    one_line_error(capsys, ["evaluate", "panoptic", *gt, "--pred-json", str(tmp_path / "pred.json"),
                            "--pred-dir", str(tmp_path), "--workers", "1"], "pred.json: file is missing")
    pred = tmp_path / "pred"
    shutil.copytree(blocks_dataset, pred)
    (pred / "panoptic/img_001.png").unlink()
    one_line_error(capsys, ["evaluate", "panoptic", *gt, "--pred-json", str(pred / "panoptic.json"),
                            "--pred-dir", str(pred / "panoptic"), "--workers", "1"],
                   "pred/panoptic/img_001.png: label file is missing")


def test_evaluate_fid_names_a_missing_folder_before_the_weights(tmp_path, capsys):
    one_line_error(capsys, ["evaluate", "fid", "--real", str(tmp_path / "real"), "--fake", str(tmp_path / "fake")],
                   "real: no .png/.jpg images found")


def test_unknown_recipe_key(capsys):
    one_line_error(capsys, ["train", "mini", "train.epoch=1"],
                   "unknown key 'train.epoch'; nearest valid keys: train.epochs")
    one_line_error(capsys, ["sweep", "mini", "--dry-run", "data.nn=3"], "unknown key 'data.nn'")


def test_train_on_a_corrupt_dataset_records_the_failure_and_exits_2(blocks_dataset, tmp_path, capsys):
    (blocks_dataset / "panoptic/img_001.png").write_bytes(b"\x89PNG\r\n\x1a\nnot a png")
    one_line_error(capsys, ["train", "mini", "data.dataset=coco_panoptic", f"data.root={blocks_dataset}",
                            f"data.val_root={blocks_dataset}", f"data.cache={tmp_path / 'cache'}",
                            "--runs-root", str(tmp_path / "runs"), "--no-progress"],
                   "panoptic/img_001.png: unreadable or corrupt label")
    (record,) = [json.loads(p.read_text()) for p in (tmp_path / "runs").glob("*/run.json")]
    assert record["status"] == "failed" and "img_001.png" in record["error"]


def test_synth_refuses_impossible_sizes(tmp_path, capsys):
    one_line_error(capsys, ["data", "synth", "--out", str(tmp_path / "s"), "--n", "0"], "need n >= 1")
    one_line_error(capsys, ["data", "synth", "--out", str(tmp_path / "s"), "--n", "2", "--width", "4"],
                   "got n=2, 4x256 (WxH)")


def test_unparsable_recipe_file(tmp_path, capsys):
    (tmp_path / "bad.yaml").write_text("grid: [\n")
    one_line_error(capsys, ["train", str(tmp_path / "bad.yaml")], "bad.yaml: cannot parse recipe")
    one_line_error(capsys, ["sweep", str(tmp_path / "bad.yaml"), "--dry-run"], "bad.yaml: cannot parse recipe")


def test_instances_of_an_unknown_category(blocks_dataset, tmp_path, capsys):
    (tmp_path / "preds.json").write_text(json.dumps(
        [{"image_id": 0, "category_id": 7, "score": 0.5, "bbox": [0, 0, 4, 4]}]))  # 7 = road, stuff
    one_line_error(capsys, ["evaluate", "instances", "--gt", str(blocks_dataset),
                            "--pred-json", str(tmp_path / "preds.json")],
                   "preds.json: prediction for image 0 has category_id 7, not a thing category")


def test_an_unwritable_output_path_is_one_line(tmp_path, capsys):
    (tmp_path / "file").write_text("")  # a file where a folder is needed
    one_line_error(capsys, ["data", "synth", "--out", str(tmp_path / "file" / "scenes"), "--n", "1",
                            "--workers", "1"], str(tmp_path / "file"))


def test_fid_weights_that_are_not_inception(tmp_path, capsys):
    from PIL import Image

    for name in ("real", "fake"):
        (tmp_path / name).mkdir()
        Image.new("RGB", (8, 8)).save(tmp_path / name / "a.png")
    (tmp_path / "w.pth").write_bytes(b"not a torch file")
    one_line_error(capsys, ["evaluate", "fid", "--real", str(tmp_path / "real"), "--fake", str(tmp_path / "fake"),
                            "--weights", str(tmp_path / "w.pth")], "w.pth: not torch-fidelity's Inception weights")

