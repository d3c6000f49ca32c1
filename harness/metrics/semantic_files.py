"""mIoU / pixel accuracy over files: two folders of label PNGs (train ids, 255 ignored), or a panoptic
prediction against a panoptic ground truth, both reduced to semantic maps with class index = position
of the category in the ground-truth `categories` (Cityscapes' order = its train ids)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from harness.data.categories import IGNORE_LABEL, train_ids
from harness.data.images import read_class_ids, read_ids
from harness.data.panoptic_format import semantic_map
from harness.data.schema import read_panoptic_json
from harness.errors import DatasetError
from harness.metrics.panoptic import png_pairs
from harness.metrics.semantic import ConfusionMatrix
from harness.progress import track


def _summary(cm: ConfusionMatrix, class_ids: list) -> dict[str, Any]:
    iou = cm.per_class_iou()
    return {"miou": cm.miou(), "accuracy": cm.accuracy(),
            "per_class": {k: (None if np.isnan(v) else float(v)) for k, v in zip(class_ids, iou)}}


def _add(cm: ConfusionMatrix, gt: np.ndarray, pred: np.ndarray, pred_path: Path) -> None:
    if gt.shape != pred.shape:
        raise DatasetError(pred_path, f"size {pred.shape[1]}x{pred.shape[0]} differs from the ground truth "
                                      f"{gt.shape[1]}x{gt.shape[0]}")
    try:
        cm.update(gt, pred)
    except ValueError as exc:
        raise DatasetError(pred_path, f"ground truth: {exc}") from None


def evaluate_label_dirs(gt_dir: str | Path, pred_dir: str | Path, num_classes: int,
                        ignore_index: int = IGNORE_LABEL, progress: bool = False) -> dict[str, Any]:
    """Every `gt_dir/*.png` against the PNG of the same name in `pred_dir`; per_class keyed by class index."""
    gt_files = sorted(Path(gt_dir).glob("*.png"))
    if not gt_files:
        raise DatasetError(gt_dir, "no label PNGs found")
    cm = ConfusionMatrix(num_classes, ignore_index)
    for gt_path in track(gt_files, "mIoU", disable=not progress):
        pred_path = Path(pred_dir) / gt_path.name
        _add(cm, read_class_ids(gt_path), read_class_ids(pred_path), pred_path)
    return _summary(cm, list(range(num_classes)))


def evaluate_panoptic_semantic(gt_json: str | Path, gt_dir: str | Path, pred_json: str | Path,
                               pred_dir: str | Path, progress: bool = False,
                               allow_outside_links: bool = False) -> dict[str, Any]:
    """mIoU and accuracy of a panoptic prediction, per_class keyed by category id."""
    gt = read_panoptic_json(gt_json, ground_truth=True)
    pred = read_panoptic_json(pred_json, ground_truth=False)
    categories = gt["categories"]
    cat_to_train = train_ids(categories)
    cm = ConfusionMatrix(len(categories))
    pairs = png_pairs(gt, pred, gt_json, gt_dir, pred_json, pred_dir, allow_outside_links)
    for gt_ann, pred_ann, gt_png, pred_png in track(pairs, "mIoU", disable=not progress):
        gt_sem = semantic_map(read_ids(gt_png), gt_ann["segments_info"], cat_to_train, unknown_category="fill")
        pred_sem = semantic_map(read_ids(pred_png), pred_ann["segments_info"], cat_to_train, unknown_category="fill")
        _add(cm, gt_sem, pred_sem, pred_png)
    return _summary(cm, [int(c["id"]) for c in categories])
