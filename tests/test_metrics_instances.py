"""COCO AP through panbench's panoptic -> instance conversion, against pycocotools called directly on
hand-written instance JSON, plus hand-checkable AP values."""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from harness.data.categories import categories_json
from harness.data.dataset import write_panoptic_json, write_sample
from harness.errors import DatasetError
from harness.metrics.instances import det_ap, evaluate_instances, instances_to_predictions

H, W = 40, 60
# per image: (segment id, category, iscrowd, (y0, y1, x0, x1)); things do not overlap, road is stuff
SCENES = {
    "aachen_000000_000019": [(26001, 26, 0, (2, 12, 3, 20)), (26002, 26, 0, (20, 35, 30, 55)),
                             (24001, 24, 0, (5, 18, 40, 46)), (26003, 26, 1, (30, 38, 2, 20))],
    "aachen_000001_000019": [(24001, 24, 0, (1, 9, 1, 5)), (25001, 25, 0, (10, 30, 10, 22)),
                             (33001, 33, 0, (25, 39, 40, 59))],
}


def rect_mask(y0, y1, x0, x1):
    m = np.zeros((H, W), bool)
    m[y0:y1, x0:x1] = True
    return m


def write_dataset(root):
    images, annotations = [], []
    for name, things in SCENES.items():
        ids = np.full((H, W), 7000, np.uint32)  # road
        ids[:, -1] = 0  # void column
        category_of, iscrowd_of = {7000: 7}, {}
        for sid, cat, crowd, (y0, y1, x0, x1) in things:
            ids[y0:y1, x0:x1] = sid
            category_of[sid], iscrowd_of[sid] = cat, crowd
        entry, ann = write_sample(root, name, np.zeros((H, W, 3), np.uint8), ids, category_of, iscrowd_of)
        images.append(entry)
        annotations.append(ann)
    write_panoptic_json(root, images, annotations, categories_json())
    return root / "panoptic.json", root / "panoptic"


def reference_gt():
    """COCO instance GT written by hand from the rectangles (not from the PNGs)."""
    images, anns = [], []
    for k, (name, things) in enumerate(SCENES.items(), start=1):
        images.append({"id": k, "height": H, "width": W})
        for sid, cat, crowd, (y0, y1, x0, x1) in things:
            x1c = min(x1, W - 1)  # the last column is void in the panoptic map
            rle = mask_utils.encode(np.asfortranarray(rect_mask(y0, y1, x0, x1c).astype(np.uint8)))
            anns.append({"id": len(anns) + 1, "image_id": k, "category_id": cat, "iscrowd": crowd,
                         "segmentation": rle, "area": float((y1 - y0) * (x1c - x0)),
                         "bbox": [float(x0), float(y0), float(x1c - x0), float(y1 - y0)]})
    cats = [c for c in categories_json() if c["isthing"]]
    coco = COCO()
    coco.dataset = {"images": images, "annotations": anns, "categories": cats}
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def reference_ap(predictions, kind):
    gt = reference_gt()
    index = {name: k for k, name in enumerate(SCENES, start=1)}
    res = []
    for p in predictions:
        r = {"image_id": index[p["image_id"]], "category_id": p["category_id"], "score": p["score"]}
        r.update({"segmentation": p["segmentation"]} if kind == "segm" else {"bbox": p["bbox"]})
        res.append(r)
    with contextlib.redirect_stdout(io.StringIO()):
        e = COCOeval(gt, gt.loadRes(res), kind)
        e.evaluate(), e.accumulate(), e.summarize()
    return [100 * s for s in e.stats[:3]]


def noisy_predictions(seed):
    rng = np.random.default_rng(seed)
    preds = []
    for name, things in SCENES.items():
        for sid, cat, crowd, (y0, y1, x0, x1) in things:
            d = rng.integers(-2, 3, 4)
            y0, y1 = np.clip([y0 + d[0], y1 + d[1]], 0, H)
            x0, x1 = np.clip([x0 + d[2], x1 + d[3]], 0, W)
            wrong = rng.random() < 0.2
            m = rect_mask(y0, y1, x0, x1)
            preds.append(instances_to_predictions(
                name, np.array([[x0 + rng.normal(), y0, x1, y1 + rng.normal()]]), [rng.uniform(0.3, 1)],
                [24 if wrong else cat], m[None])[0])
        for _ in range(2):  # false positives
            y0, x0 = rng.integers(0, H - 6), rng.integers(0, W - 6)
            preds.append(instances_to_predictions(name, np.array([[x0, y0, x0 + 5, y0 + 5]]), [rng.uniform(0, 1)],
                                                  [26], rect_mask(y0, y0 + 5, x0, x0 + 5)[None])[0])
    return json.loads(json.dumps(preds))  # as read back from a predictions file


@pytest.mark.parametrize("seed", [0, 1])
def test_equal_to_pycocotools_on_hand_written_instances(tmp_path, seed):
    gt_json, gt_dir = write_dataset(tmp_path)
    preds = noisy_predictions(seed)
    r = evaluate_instances(gt_json, gt_dir, preds)
    assert [r["ap"], r["ap50"], r["ap75"]] == pytest.approx(reference_ap(preds, "segm"), abs=1e-9)
    assert [r["ap_box"], r["ap_box50"], r["ap_box75"]] == pytest.approx(reference_ap(preds, "bbox"), abs=1e-9)
    assert 0 < r["ap"] < 100 and 0 < r["ap_box"] < 100


def perfect(with_crowd=False):
    preds = []
    for name, things in SCENES.items():
        for sid, cat, crowd, (y0, y1, x0, x1) in things:
            if crowd and not with_crowd:
                continue
            x1 = min(x1, W - 1)
            preds += instances_to_predictions(name, np.array([[x0, y0, x1, y1]]), [0.9], [cat],
                                              rect_mask(y0, y1, x0, x1)[None])
    return preds


def test_perfect_predictions_score_100(tmp_path):
    r = evaluate_instances(*write_dataset(tmp_path), perfect())
    assert (r["ap"], r["ap50"], r["ap75"], r["ap_box"]) == (100.0, 100.0, 100.0, 100.0)
    assert r["per_class"][26] == {"ap": 100.0, "ap_box": 100.0}
    assert r["per_class"][28] == {"ap": None, "ap_box": None}  # bus: no ground truth
    # a detection on the crowd region is ignored, not a false positive
    assert evaluate_instances(*write_dataset(tmp_path), perfect(with_crowd=True))["ap"] == 100.0


def test_false_positive_above_the_true_positive_halves_ap(tmp_path):
    gt_json, gt_dir = write_dataset(tmp_path)
    # bicycle (33) has one GT instance; a higher-scored FP then the TP: precision 1/2 at every recall
    tp = instances_to_predictions("aachen_000001_000019", np.array([[40, 25, 59, 39]]), [0.5], [33],
                                  rect_mask(25, 39, 40, 59)[None])
    fp = instances_to_predictions("aachen_000001_000019", np.array([[0, 0, 8, 8]]), [0.9], [33],
                                  rect_mask(0, 8, 0, 8)[None])
    r = evaluate_instances(gt_json, gt_dir, tp + fp)
    assert r["per_class"][33] == {"ap": 50.0, "ap_box": 50.0}
    assert r["per_class"][26]["ap"] == 0.0  # cars exist but were not predicted


def test_det_ap_counts_iou_thresholds(tmp_path):
    gt_json, gt_dir = write_dataset(tmp_path)
    # bicycle box 19 x 14 = 266 px; a box of height 11.48 inside it has IoU 0.82: matched at
    # thresholds .50 ... .80 (7 of 10), so AP = 70 for that class
    det = [{"image_id": "aachen_000001_000019", "category_id": 33, "score": 1.0, "bbox": [40, 25, 19, 11.48]}]
    dets = det + [{k: v for k, v in p.items() if k != "segmentation"} for p in perfect() if p["category_id"] != 33]
    ap = det_ap(gt_json, gt_dir, dets)
    per_class = {24: 100, 25: 100, 26: 100, 33: 70}
    assert ap == pytest.approx(sum(per_class.values()) / 4)
    assert det_ap(gt_json, gt_dir, []) == 0.0


def test_prediction_for_unknown_image(tmp_path):
    with pytest.raises(DatasetError, match="preds.json: prediction for image 'nowhere'"):
        det_ap(*write_dataset(tmp_path), [{"image_id": "nowhere", "category_id": 26, "score": 1, "bbox": [0, 0, 1, 1]}],
               source="preds.json")
