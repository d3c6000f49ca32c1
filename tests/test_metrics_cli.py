"""`panbench evaluate ...`: the JSON written equals the library call (itself checked against the
references in the other metrics tests); bad input exits 2 with one line naming the file."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from harness.atomic import write_json
from references.pq_pairs import write_pq_pair
from references.reference_pq import reference_pq
from harness.cli import main
from harness.metrics.panoptic import pq_compute

KEYS = ("pq", "sq", "rq", "pq_th", "sq_th", "rq_th", "pq_st", "sq_st", "rq_st")


@pytest.fixture
def pair(tmp_path):
    return write_pq_pair(tmp_path / "pair", n=3, height=40, width=64, seed=11)


def args(paths):
    return ["--gt-json", str(paths["gt_json"]), "--gt-dir", str(paths["gt_dir"]),
            "--pred-json", str(paths["pred_json"]), "--pred-dir", str(paths["pred_dir"])]


def test_evaluate_panoptic_writes_the_contract_keys(pair, tmp_path, capsys):
    out = tmp_path / "pq.json"
    assert main(["evaluate", "panoptic", *args(pair), "--out", str(out), "--workers", "1"]) == 0
    written = json.loads(out.read_text())
    ref = reference_pq(**pair)
    for key in KEYS:
        assert written[key] == pytest.approx(ref[key], abs=1e-9)
    assert set(written["per_class"]["26"]) == {"pq", "sq", "rq", "tp", "fp", "fn"}
    assert "All (n=" in capsys.readouterr().out


def _semantic_maps(json_path, png_dir, cat_to_class, void_class):
    """Per image: class index of every pixel, looked up id by id (no panbench code)."""
    data = json.loads(json_path.read_text())
    for ann in sorted(data["annotations"], key=lambda a: a["image_id"]):
        rgb = np.asarray(Image.open(png_dir / ann["file_name"]).convert("RGB")).astype(np.int64)
        ids = rgb[..., 0] + 256 * rgb[..., 1] + 65536 * rgb[..., 2]
        lookup = {s["id"]: cat_to_class[s["category_id"]] for s in ann["segments_info"]}
        yield np.vectorize(lambda i: lookup.get(i, void_class))(ids)


def test_evaluate_semantic_equals_torchmetrics(pair, tmp_path):
    """mIoU, per-class IoU and pixel accuracy of the CLI equal torchmetrics' on the same maps: ground-truth
    void ignored, a prediction of void on a labelled pixel wrong (an extra class K that is never averaged)."""
    from torchmetrics.functional.classification import multiclass_accuracy, multiclass_jaccard_index

    out = tmp_path / "sem.json"
    assert main(["evaluate", "semantic", *args(pair), "--out", str(out)]) == 0
    written = json.loads(out.read_text())
    categories = json.loads(pair["gt_json"].read_text())["categories"]
    k = len(categories)
    cat_to_class = {c["id"]: i for i, c in enumerate(categories)}
    gt = np.concatenate([m.ravel() for m in _semantic_maps(pair["gt_json"], pair["gt_dir"], cat_to_class, 255)])
    pred = np.concatenate([m.ravel() for m in _semantic_maps(pair["pred_json"], pair["pred_dir"], cat_to_class, k)])
    gt_t, pred_t = torch.from_numpy(gt), torch.from_numpy(pred)
    iou = multiclass_jaccard_index(pred_t, gt_t, num_classes=k + 1, ignore_index=255, average=None).numpy()[:k]
    present = np.isin(np.arange(k), gt[gt != 255]) | np.isin(np.arange(k), pred[gt != 255])
    assert written["miou"] == pytest.approx(100 * iou[present].mean(), abs=1e-4)  # torchmetrics: float32
    for c, cid in enumerate(c["id"] for c in categories):
        if present[c]:
            assert written["per_class"][str(cid)] == pytest.approx(100 * iou[c], abs=1e-4)
        else:
            assert written["per_class"][str(cid)] is None
    accuracy = multiclass_accuracy(pred_t, gt_t, num_classes=k + 1, ignore_index=255, average="micro")
    assert written["accuracy"] == pytest.approx(100 * float(accuracy), abs=1e-4)


def test_evaluate_instances_writes_the_library_result(pair, tmp_path):
    """The CLI writes exactly `evaluate_instances` (itself equal to pycocotools in test_metrics_instances)."""
    from harness.metrics.instances import evaluate_instances

    predictions = [{"image_id": "city_011_000000", "category_id": 26, "score": 0.5, "bbox": [0, 0, 10, 10]},
                   {"image_id": "city_011_000001", "category_id": 24, "score": 0.9, "bbox": [5, 5, 20, 30]}]
    preds = tmp_path / "preds.json"
    write_json(preds, predictions)
    out = tmp_path / "inst.json"
    assert main(["evaluate", "instances", "--gt-json", str(pair["gt_json"]), "--gt-dir", str(pair["gt_dir"]),
                 "--pred-json", str(preds), "--out", str(out)]) == 0
    expected = json.loads(json.dumps(evaluate_instances(pair["gt_json"], pair["gt_dir"], predictions)))
    assert json.loads(out.read_text()) == expected
    assert {"ap_box", "ap_box50", "ap_box75", "per_class"} <= set(expected)
    # the old spelling --pred is gone (it was kept for one release)
    with pytest.raises(SystemExit):
        main(["evaluate", "instances", "--gt-json", str(pair["gt_json"]), "--gt-dir", str(pair["gt_dir"]),
              "--pred", str(preds), "--out", str(tmp_path / "old.json")])


def test_instances_help_names_pred_json_only(capsys):
    with pytest.raises(SystemExit):
        main(["evaluate", "instances", "--help"])
    text = capsys.readouterr().out
    assert "--pred-json" in text and "--pred " not in text and "--pred\n" not in text


def test_bad_input_is_one_line_and_exit_2(pair, tmp_path, capsys):
    (pair["pred_dir"] / "city_011_000002.png").unlink()
    assert main(["evaluate", "panoptic", *args(pair), "--workers", "2"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.endswith("pred/city_011_000002.png: label file is missing")


def test_dataset_roots_are_accepted(tmp_path, blocks_dataset):
    out = tmp_path / "self.json"
    assert main(["evaluate", "panoptic", "--gt", str(blocks_dataset), "--pred", str(blocks_dataset),
                 "--out", str(out)]) == 0
    assert json.loads(out.read_text())["pq"] == 100.0
    assert pq_compute(blocks_dataset / "panoptic.json", blocks_dataset / "panoptic",
                      blocks_dataset / "panoptic.json", blocks_dataset / "panoptic")["n"] == 4


def test_fid_without_weights_says_which_file_and_how(tmp_path, capsys):
    for name in ("real", "fake"):
        (tmp_path / name).mkdir()
        Image.new("RGB", (8, 8)).save(tmp_path / name / "a.png")  # the folders are fine: the weights are not
    assert main(["evaluate", "fid", "--real", str(tmp_path / "real"), "--fake", str(tmp_path / "fake"),
                 "--weights", str(tmp_path / "inception.pth")]) == 2
    err = capsys.readouterr().err
    assert "inception.pth" in err and "--weights FILE" in err and err.count("\n") == 1


def test_engine_flags_select_the_references_with_the_same_json(pair, tmp_path, monkeypatch, capsys):
    """`--engine`: hotcoco by default, the references (panbench's PQ, pycocotools) on request; the
    JSON is the same either way."""
    from harness.metrics import panoptic_reference
    from harness.metrics.engines import hotcoco_pq

    written = {}
    for engine in ("hotcoco", "panbench"):
        out = tmp_path / f"pq-{engine}.json"
        assert main(["evaluate", "panoptic", *args(pair), "--out", str(out), "--engine", engine]) == 0
        written[engine] = json.loads(out.read_text())
    assert written["hotcoco"].keys() == written["panbench"].keys()
    for key in KEYS:
        assert written["hotcoco"][key] == pytest.approx(written["panbench"][key], abs=1e-9)
    assert {c: {k: r[k] for k in ("tp", "fp", "fn")} for c, r in written["hotcoco"]["per_class"].items()} == \
        {c: {k: r[k] for k in ("tp", "fp", "fn")} for c, r in written["panbench"]["per_class"].items()}
    never = pytest.fail
    monkeypatch.setattr(hotcoco_pq, "PanopticEval", lambda *a, **k: never("hotcoco ran for --engine panbench"))
    assert main(["evaluate", "panoptic", *args(pair), "--engine", "panbench"]) == 0
    monkeypatch.undo()
    monkeypatch.setattr(panoptic_reference, "pq_compute_reference", lambda *a, **k: never("the reference ran"))
    assert main(["evaluate", "panoptic", *args(pair)]) == 0

    predictions = [{"image_id": "city_011_000000", "category_id": 26, "score": 0.5, "bbox": [0, 0, 10, 10]}]
    write_json(tmp_path / "preds.json", predictions)
    instance_json = {}
    for engine in ("hotcoco", "pycocotools"):
        out = tmp_path / f"inst-{engine}.json"
        assert main(["evaluate", "instances", "--gt-json", str(pair["gt_json"]), "--gt-dir", str(pair["gt_dir"]),
                     "--pred-json", str(tmp_path / "preds.json"), "--out", str(out), "--engine", engine]) == 0
        instance_json[engine] = json.loads(out.read_text())
    assert instance_json["hotcoco"] == instance_json["pycocotools"]
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["evaluate", "instances", "--gt", str(tmp_path), "--pred-json", "x.json", "--engine", "faster"])
    assert "invalid choice: 'faster'" in capsys.readouterr().err
