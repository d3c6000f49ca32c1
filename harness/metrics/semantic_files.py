"""mIoU / pixel accuracy over files: two folders of label PNGs (train ids, 255 ignored), or a panoptic
prediction against a panoptic ground truth, both reduced to semantic maps with class index = position
of the category in the ground-truth `categories` (Cityscapes' order = its train ids)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from harness.data.categories import IGNORE_LABEL, train_ids
from harness.errors import DatasetError
from harness.metrics.panoptic import match_images, load_json, read_id_png
from harness.metrics.semantic import ConfusionMatrix, panoptic_to_semantic
from harness.progress import track


def read_label_png(path: Path) -> np.ndarray:
    if not path.is_file():
        raise DatasetError(path, "label PNG is missing")
    try:
        with Image.open(path) as im:
            if im.mode not in ("L", "P", "I", "I;16"):
                raise DatasetError(path, f"image mode {im.mode}; a label PNG has one channel of class ids")
            return np.asarray(im).astype(np.int64)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise DatasetError(path, f"unreadable or corrupt PNG ({exc})") from None


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
        _add(cm, read_label_png(gt_path), read_label_png(pred_path), pred_path)
    return _summary(cm, list(range(num_classes)))


def evaluate_panoptic_semantic(gt_json: str | Path, gt_dir: str | Path, pred_json: str | Path,
                               pred_dir: str | Path, progress: bool = False) -> dict[str, Any]:
    """mIoU and accuracy of a panoptic prediction, per_class keyed by category id."""
    gt, pred = load_json(gt_json), load_json(pred_json)
    categories = gt.get("categories") or []
    cat_to_train = train_ids(categories)
    cm = ConfusionMatrix(len(categories))
    for gt_ann, pred_ann in track(match_images(gt, pred, str(pred_json)), "mIoU", disable=not progress):
        pred_path = Path(pred_dir) / pred_ann["file_name"]
        gt_sem = panoptic_to_semantic(read_id_png(Path(gt_dir) / gt_ann["file_name"]), gt_ann["segments_info"],
                                      cat_to_train)
        pred_sem = panoptic_to_semantic(read_id_png(pred_path), pred_ann["segments_info"], cat_to_train)
        _add(cm, gt_sem, pred_sem, pred_path)
    return _summary(cm, [int(c["id"]) for c in categories])
