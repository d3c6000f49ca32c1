"""PQ against hand-computed tiny cases and against cityscapesscripts (the panopticapi algorithm)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from harness.atomic import write_json, write_png
from references.pq_pairs import write_pq_pair
from references.reference_pq import reference_pq
from harness.data.panoptic_format import id2rgb
from harness.errors import DatasetError
from harness.metrics.panoptic import pq_compute

ROAD, SKY, PERSON, CAR = 7, 23, 24, 26
CATEGORIES = [{"id": ROAD, "name": "road", "isthing": 0}, {"id": SKY, "name": "sky", "isthing": 0},
              {"id": PERSON, "name": "person", "isthing": 1}, {"id": CAR, "name": "car", "isthing": 1}]


def write_case(root, gt, gt_segments, pred, pred_segments, image_id="aachen_000000_000019"):
    """One image; `*_segments` map id -> category (or (category, iscrowd) for the ground truth)."""
    gt, pred = np.asarray(gt, np.uint32), np.asarray(pred, np.uint32)
    gt_info = []
    for sid, spec in gt_segments.items():
        cat, crowd = spec if isinstance(spec, tuple) else (spec, 0)
        gt_info.append({"id": sid, "category_id": cat, "iscrowd": crowd, "area": int((gt == sid).sum())})
    pred_info = [{"id": sid, "category_id": cat} for sid, cat in pred_segments.items()]  # no area
    write_png(root / "gt" / "a.png", id2rgb(gt))
    write_png(root / "pred" / "a.png", id2rgb(pred))
    write_json(root / "gt.json", {"annotations": [{"image_id": image_id, "file_name": "a.png",
                                                   "segments_info": gt_info}], "categories": CATEGORIES})
    write_json(root / "pred.json", {"annotations": [{"image_id": image_id, "file_name": "a.png",
                                                     "segments_info": pred_info}]})
    return {"gt_json": root / "gt.json", "gt_dir": root / "gt", "pred_json": root / "pred.json",
            "pred_dir": root / "pred"}


def evaluate(paths):
    """panbench's PQ, checked against cityscapesscripts on the same files (counts always, averages
    when cityscapesscripts can form them)."""
    ours, ref = pq_compute(**paths, workers=1), reference_pq(**paths)
    if "pq" in ref:
        _assert_equal_to_reference(ours, ref)
    for cat, (tp, fp, fn) in ref["counts"].items():
        assert counts(ours, cat) == (tp, fp, fn), cat
    return ours


def counts(result, cat):
    c = result["per_class"][cat]
    return c["tp"], c["fp"], c["fn"]


def test_iou_exactly_half_is_not_a_match(tmp_path):
    # GT road 3 px, pred road 3 px, overlap 2 -> IoU 2/4 = 0.5: one FN and one FP, PQ 0.
    paths = write_case(tmp_path, [[1, 1, 1, 0, 0]], {1: ROAD}, [[0, 5, 5, 5, 0]], {5: ROAD})
    # pixel 3 is GT void; pred on void is removed from the union: union = 3 + 3 - 2 - 1 = 3 -> IoU 2/3 > 0.5
    r = evaluate(paths)
    assert counts(r, ROAD) == (1, 0, 0) and r["pq"] == pytest.approx(100 * 2 / 3)
    paths = write_case(tmp_path, [[1, 1, 1, 2, 2]], {1: ROAD, 2: SKY}, [[0, 5, 5, 5, 6]], {5: ROAD, 6: SKY})
    # now pixel 3 is sky, not void: road IoU = 2 / (3 + 3 - 2) = 0.5 exactly -> no match
    r = evaluate(paths)
    assert counts(r, ROAD) == (0, 1, 1)
    assert r["per_class"][ROAD]["pq"] == 0.0
    # sky: GT 2 px, pred 1 px inside it -> IoU 0.5 -> no match either
    assert counts(r, SKY) == (0, 1, 1)
    assert r["pq"] == 0.0 and r["n"] == 2 and r["n_th"] == 0 and r["pq_th"] is None


def test_void_pixels_leave_the_union(tmp_path):
    # pred covers GT road (4 px) and 2 void pixels: IoU = 4 / (6 + 4 - 4 - 2) = 1.
    paths = write_case(tmp_path, [[1, 1, 1, 1, 0, 0]], {1: ROAD}, [[5, 5, 5, 5, 5, 5]], {5: ROAD})
    r = evaluate(paths)
    assert counts(r, ROAD) == (1, 0, 0)
    assert (r["pq"], r["sq"], r["rq"]) == (100.0, 100.0, 100.0)


def test_ground_truth_area_comes_from_the_json_when_given(tmp_path):
    # panopticapi takes the GT area from segments_info; without it panbench counts the pixels
    paths = write_case(tmp_path, [[1, 1, 1, 1, 2, 2]], {1: ROAD, 2: SKY}, [[5, 5, 5, 6, 6, 6]], {5: ROAD, 6: SKY})
    gt = json.loads(paths["gt_json"].read_text())
    for seg in gt["annotations"][0]["segments_info"]:
        del seg["area"]
    write_json(paths["gt_json"], gt)
    r = pq_compute(**paths, workers=1)
    assert counts(r, ROAD) == (1, 0, 0) and counts(r, SKY) == (1, 0, 0)  # road IoU 3/4, sky IoU 2/3
    assert r["sq"] == pytest.approx(100 * (3 / 4 + 2 / 3) / 2)
    gt["annotations"][0]["segments_info"][0]["area"] = 8  # a JSON area is trusted, as panopticapi does
    gt["annotations"][0]["segments_info"][1]["area"] = 2
    write_json(paths["gt_json"], gt)
    assert counts(evaluate(paths), ROAD) == (0, 1, 1)  # IoU 3 / (3 + 8 - 3) < 0.5


def test_unmatched_prediction_mostly_on_void_is_not_a_false_positive(tmp_path):
    gt = [[1, 1, 1, 1, 0, 0, 0, 0]]
    # car 7: 2 of 3 px on void (> 1/2) -> ignored.  person 8: 1 of 2 px on void (= 1/2) -> FP.
    pred = [[5, 5, 5, 8, 8, 7, 7, 0]]
    paths = write_case(tmp_path, gt, {1: ROAD}, pred, {5: ROAD, 7: CAR, 8: PERSON})
    r = evaluate(paths)
    assert counts(r, ROAD) == (1, 0, 0)  # IoU 3/4
    assert counts(r, CAR) == (0, 0, 0)
    assert counts(r, PERSON) == (0, 1, 0)
    assert r["n"] == 2 and r["n_th"] == 1 and r["pq_th"] == 0.0
    assert r["pq"] == pytest.approx(100 * 0.75 / 2)
    assert r["pq_st"] == pytest.approx(75.0) and r["sq_st"] == pytest.approx(75.0) and r["rq_st"] == 100.0


def test_crowd_is_never_matched_or_missed_and_absorbs_own_category(tmp_path):
    # GT: road 1 (2 px), car crowd 3 (4 px). pred: car 5 exactly on the crowd, person 6 on the crowd.
    gt = [[1, 1, 3, 3, 3, 3, 3, 3]]
    pred = [[4, 4, 5, 5, 5, 5, 6, 6]]
    paths = write_case(tmp_path, gt, {1: ROAD, 3: (CAR, 1)}, pred, {4: ROAD, 5: CAR, 6: PERSON})
    r = evaluate(paths)
    assert counts(r, CAR) == (0, 0, 0)  # not matched (crowd), not FN (crowd), not FP (on own crowd)
    assert counts(r, PERSON) == (0, 1, 0)  # crowd of another category does not excuse it
    assert counts(r, ROAD) == (1, 0, 0)
    assert r["n"] == 2 and r["n_th"] == 1  # car has no TP+FP+FN: left out of the averages


def test_categories_only_in_gt_or_only_in_pred_and_string_ids(tmp_path):
    gt = [[1, 1, 2, 2, 2, 2]]  # road, car
    pred = [[4, 4, 6, 6, 6, 6]]  # road, person (wrong class on the car)
    paths = write_case(tmp_path, gt, {1: ROAD, 2: CAR}, pred, {4: ROAD, 6: PERSON}, image_id="zurich_000111_000222")
    r = evaluate(paths)
    assert counts(r, CAR) == (0, 0, 1) and counts(r, PERSON) == (0, 1, 0) and counts(r, SKY) == (0, 0, 0)
    assert r["n"] == 3 and r["n_th"] == 2 and r["n_st"] == 1
    assert r["pq"] == pytest.approx(100 / 3) and r["pq_th"] == 0.0 and r["pq_st"] == 100.0
    assert r["per_class"][SKY] == {"pq": 0.0, "sq": 0.0, "rq": 0.0, "tp": 0, "fp": 0, "fn": 0}


def _assert_equal_to_reference(ours, ref):
    for key in ("pq", "sq", "rq", "pq_th", "sq_th", "rq_th", "pq_st", "sq_st", "rq_st"):
        assert ours[key] == pytest.approx(ref[key], abs=1e-9), key
    assert (ours["n"], ours["n_th"], ours["n_st"]) == (ref["n"], ref["n_th"], ref["n_st"])
    for cat, values in ref["per_class"].items():
        for key in ("pq", "sq", "rq"):
            assert ours["per_class"][cat][key] == pytest.approx(values[key], abs=1e-9), (cat, key)
    for cat, (tp, fp, fn) in ref["counts"].items():
        assert counts(ours, cat) == (tp, fp, fn), cat


def ignore_rule_cases(paths):
    """How many predicted segments lie more than half on GT void, and on a GT crowd region of their
    own category: the synthetic pairs must exercise both of panopticapi's ignore rules."""
    from harness.data.images import read_ids

    gt_json, pred_json = json.loads(paths["gt_json"].read_text()), json.loads(paths["pred_json"].read_text())
    on_void = on_crowd = 0
    for gt_ann, pred_ann in zip(gt_json["annotations"], pred_json["annotations"]):
        gt, pred = read_ids(paths["gt_dir"] / gt_ann["file_name"]), read_ids(paths["pred_dir"] / pred_ann["file_name"])
        crowd = [s for s in gt_ann["segments_info"] if s["iscrowd"]]
        for seg in pred_ann["segments_info"]:
            mask = pred == seg["id"]
            on_void += (gt[mask] == 0).mean() > 0.5
            on_crowd += any((gt[mask] == c["id"]).mean() > 0.5 for c in crowd if c["category_id"] == seg["category_id"])
    return on_void, on_crowd


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_equal_to_cityscapesscripts_on_random_pairs(tmp_path, seed):
    paths = write_pq_pair(tmp_path, n=4, height=72, width=128, seed=seed)
    ours = pq_compute(**paths, workers=1)
    _assert_equal_to_reference(ours, reference_pq(**paths))
    totals = np.array([counts(ours, c) for c in ours["per_class"]]).sum(0)
    assert (totals > 0).all()  # the synthetic pairs really produce TP, FP and FN
    on_void, on_crowd = ignore_rule_cases(paths)
    assert on_void > 0 and on_crowd > 0


def test_several_workers_equal_one(tmp_path):
    paths = write_pq_pair(tmp_path, n=6, height=48, width=64, seed=7)
    assert pq_compute(**paths, workers=2) == pq_compute(**paths, workers=1)
    assert pq_compute(**paths, workers=3, decode_threads=0) == pq_compute(**paths, workers=1, decode_threads=0)


def _broken(tmp_path, edit):
    paths = write_pq_pair(tmp_path, n=2, height=24, width=32, seed=3)
    pred = json.loads(paths["pred_json"].read_text())
    edit(paths, pred)
    write_json(paths["pred_json"], pred)
    return paths


@pytest.mark.parametrize("workers", [1, 2])
def test_missing_prediction_png_names_the_file(tmp_path, workers):
    paths = _broken(tmp_path, lambda p, pred: (p["pred_dir"] / pred["annotations"][1]["file_name"]).unlink())
    with pytest.raises(DatasetError, match=r"pred/city_003_000001\.png: label file is missing"):
        pq_compute(**paths, workers=workers)


def test_segment_in_png_but_not_in_json(tmp_path):
    paths = _broken(tmp_path, lambda p, pred: pred["annotations"][0]["segments_info"].pop())
    with pytest.raises(DatasetError, match=r"city_003_000000\.png: segment id\(s\) \[\d+\] are in the PNG but not in"):
        pq_compute(**paths, workers=1)


def test_segment_in_json_but_not_in_png(tmp_path):
    def add(p, pred):
        pred["annotations"][0]["segments_info"].append({"id": 123456, "category_id": ROAD})
    with pytest.raises(DatasetError, match=r"pred\.json: .*\[123456\] are in segments_info but not in"):
        pq_compute(**_broken(tmp_path, add), workers=1)


def test_unknown_category_and_missing_image(tmp_path):
    def bad_cat(p, pred):
        pred["annotations"][0]["segments_info"][0]["category_id"] = 999
    with pytest.raises(DatasetError, match="pred.json: .*unknown category_id 999"):
        pq_compute(**_broken(tmp_path / "a", bad_cat), workers=1)
    with pytest.raises(DatasetError, match="pred.json: no prediction for image 'city_003_000001'"):
        pq_compute(**_broken(tmp_path / "b", lambda p, pred: pred["annotations"].pop()), workers=1)


def test_size_mismatch(tmp_path):
    def shrink(p, pred):
        write_png(p["pred_dir"] / pred["annotations"][0]["file_name"], np.zeros((10, 10, 3), np.uint8))
        pred["annotations"][0]["segments_info"] = []
    with pytest.raises(DatasetError, match=r"city_003_000000\.png: size 10x10 differs from the ground truth 32x24"):
        pq_compute(**_broken(tmp_path, shrink), workers=1)
