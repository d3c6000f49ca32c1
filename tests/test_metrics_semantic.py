"""mIoU / accuracy on a hand-computed confusion matrix; panoptic -> semantic on a tiny map."""

from __future__ import annotations

import numpy as np
import pytest

from harness.atomic import write_png
from references.pq_pairs import write_pq_pair
from harness.errors import DatasetError
from harness.data.panoptic_format import semantic_map
from harness.metrics.semantic import ConfusionMatrix
from harness.metrics.semantic_files import evaluate_label_dirs, evaluate_panoptic_semantic

GT = np.array([[0, 0, 0, 1], [1, 2, 255, 2]])
PRED = np.array([[0, 1, 0, 1], [255, 2, 0, 0]])


def test_confusion_matrix_by_hand():
    cm = ConfusionMatrix(4).update(GT, PRED)
    # rows = gt 0..3, columns = pred 0..3 + "outside"; the ignored pixel is not counted
    expected = np.array([[2, 1, 0, 0, 0],
                         [0, 1, 0, 0, 1],
                         [1, 0, 1, 0, 0],
                         [0, 0, 0, 0, 0]])
    np.testing.assert_array_equal(cm.matrix, expected)
    # class 0: TP 2, FP 1 (gt 2 -> 0), FN 1 -> 2/4;  class 1: TP 1, FP 1, FN 1 -> 1/3;
    # class 2: TP 1, FP 0, FN 1 -> 1/2;  class 3: absent everywhere -> NaN, not averaged
    iou = cm.per_class_iou()
    np.testing.assert_allclose(iou[:3], [50.0, 100 / 3, 50.0])
    assert np.isnan(iou[3])
    assert cm.miou() == pytest.approx((50 + 100 / 3 + 50) / 3)
    assert cm.accuracy() == pytest.approx(100 * 4 / 7)


def test_accumulation_over_images_equals_one_big_image():
    rng = np.random.default_rng(0)
    gts, preds = rng.integers(0, 5, (3, 20, 30)), rng.integers(0, 5, (3, 20, 30))
    gts[0, :4] = 255
    one = ConfusionMatrix(5)
    for g, p in zip(gts, preds):
        one += ConfusionMatrix(5).update(g, p)
    np.testing.assert_array_equal(one.matrix, ConfusionMatrix(5).update(gts, preds).matrix)
    # independent reference: IoU from boolean masks
    valid = gts != 255
    for c in range(5):
        inter = ((gts == c) & (preds == c) & valid).sum()
        union = (((gts == c) | (preds == c)) & valid).sum()
        assert one.per_class_iou()[c] == pytest.approx(100 * inter / union)


def test_ground_truth_outside_the_classes_is_rejected():
    with pytest.raises(ValueError, match="ground-truth label 7"):
        ConfusionMatrix(3).update(np.array([7]), np.array([0]))


def test_semantic_map_of_panoptic_ids():
    ids = np.array([[0, 1000, 1000], [26001, 26001, 99]])
    segments = [{"id": 1000, "category_id": 23}, {"id": 26001, "category_id": 26}, {"id": 99, "category_id": 5}]
    sem = semantic_map(ids, segments, {23: 10, 26: 13}, unknown_category="fill")
    np.testing.assert_array_equal(sem, [[255, 10, 10], [13, 13, 255]])
    assert sem.dtype == np.uint8


def test_label_dirs_and_panoptic_datasets(tmp_path):
    write_png(tmp_path / "gt" / "a.png", GT.astype(np.uint8))
    write_png(tmp_path / "pred" / "a.png", PRED.astype(np.uint8))
    r = evaluate_label_dirs(tmp_path / "gt", tmp_path / "pred", num_classes=4)
    assert r["miou"] == pytest.approx((50 + 100 / 3 + 50) / 3) and r["per_class"][3] is None
    (tmp_path / "pred" / "a.png").unlink()
    with pytest.raises(DatasetError, match=r"pred/a\.png: label PNG file is missing"):
        evaluate_label_dirs(tmp_path / "gt", tmp_path / "pred", num_classes=4)

    paths = write_pq_pair(tmp_path / "pan", n=2, height=24, width=40, seed=5)
    r = evaluate_panoptic_semantic(**paths)
    assert 0 < r["miou"] < 100 and 0 < r["accuracy"] < 100
    same = evaluate_panoptic_semantic(paths["gt_json"], paths["gt_dir"], paths["gt_json"], paths["gt_dir"])
    assert same["accuracy"] == 100.0 and same["miou"] == 100.0


def test_miou_equals_cityscapes_evaluator(tmp_path):
    """Cityscapes' own per-pair confusion matrix and IoU functions on label-id PNGs (its pixel
    accuracy is not used: its `nbCorrectPixels` counts the erroneous pixels)."""
    import contextlib
    import io

    from cityscapesscripts.evaluation import evalPixelLevelSemanticLabeling as cs
    from cityscapesscripts.helpers.labels import id2label

    from harness.data.categories import CITYSCAPES_CATEGORIES

    rng = np.random.default_rng(0)
    present = [c.id for c in CITYSCAPES_CATEGORIES][:15]  # 4 eval classes absent everywhere -> NaN
    label_ids = np.array(present + [0, 1, 4])  # plus ignored labels
    to_train = np.full(256, 255, np.int64)
    for c in CITYSCAPES_CATEGORIES:
        to_train[c.id] = c.train_id
    args = cs.args
    args.evalInstLevelScore, args.evalPixelAccuracy, args.quiet = False, False, True
    matrix = cs.generateMatrix(args)
    ours = ConfusionMatrix(19)
    for k in range(3):
        gt = rng.choice(label_ids, (30, 40)).astype(np.uint8)
        pred = np.where(rng.random((30, 40)) < 0.6, gt, rng.choice(label_ids, (30, 40))).astype(np.uint8)
        write_png(tmp_path / f"gt{k}.png", gt)
        write_png(tmp_path / f"pred{k}.png", pred)
        with contextlib.redirect_stdout(io.StringIO()):
            # fills `matrix` in place, as cityscapes' own evaluateImgLists relies on
            cs.evaluatePair(str(tmp_path / f"pred{k}.png"), str(tmp_path / f"gt{k}.png"), matrix, {}, {}, args)
        ours.update(to_train[gt], to_train[pred])
    assert matrix.sum() == 3 * 30 * 40
    scores = {id2label[i].name: cs.getIouScoreForLabel(i, matrix, args) for i in args.evalLabels}
    assert ours.miou() == pytest.approx(100 * cs.getScoreAverage(scores, args), abs=1e-9)
    for c in CITYSCAPES_CATEGORIES:
        expected = 100 * scores[c.name]
        got = ours.per_class_iou()[c.train_id]
        assert (np.isnan(got) and np.isnan(expected)) or got == pytest.approx(expected, abs=1e-9), c.name
