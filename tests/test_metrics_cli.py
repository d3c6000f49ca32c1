"""`panbench evaluate ...`: the JSON written equals the library call (itself checked against the
references in the other metrics tests); bad input exits 2 with one line naming the file."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from harness.atomic import write_json
from harness.bench.pq_pairs import write_pq_pair
from harness.bench.reference_pq import reference_pq
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


def test_evaluate_semantic_and_instances(pair, tmp_path):
    out = tmp_path / "sem.json"
    assert main(["evaluate", "semantic", *args(pair), "--out", str(out)]) == 0
    assert 0 < json.loads(out.read_text())["miou"] <= 100
    preds = tmp_path / "preds.json"
    write_json(preds, [{"image_id": "city_011_000000", "category_id": 26, "score": 0.5, "bbox": [0, 0, 10, 10]}])
    out = tmp_path / "inst.json"
    assert main(["evaluate", "instances", "--gt-json", str(pair["gt_json"]), "--gt-dir", str(pair["gt_dir"]),
                 "--pred", str(preds), "--out", str(out)]) == 0
    assert set(json.loads(out.read_text())) >= {"ap_box", "ap_box50", "ap_box75", "per_class"}


def test_bad_input_is_one_line_and_exit_2(pair, tmp_path, capsys):
    (pair["pred_dir"] / "city_011_000002.png").unlink()
    assert main(["evaluate", "panoptic", *args(pair), "--workers", "2"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.endswith("pred/city_011_000002.png: panoptic PNG is missing")


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
