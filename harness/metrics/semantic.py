"""Semantic-segmentation metrics (PanDA Tables 1-2 mIoU; synthesis paper Sec. 4 mIoU and overall
pixel accuracy) from a confusion matrix accumulated with one `np.bincount` per image.

Conventions, as cityscapesscripts' `evalPixelLevelSemanticLabeling`:
- ground-truth pixels labelled `ignore_index` are not counted at all;
- a prediction outside 0..num_classes-1 (e.g. 255 = "no prediction") on a labelled pixel is wrong:
  a false negative of the ground-truth class, a false positive of no class;
- IoU_c = TP / (TP + FP + FN); mIoU averages the classes whose TP + FP + FN > 0 (Cityscapes returns
  NaN for the others and skips them);
- pixel accuracy = correct pixels / labelled ground-truth pixels."""

from __future__ import annotations

import numpy as np

from harness.data.categories import IGNORE_LABEL


class ConfusionMatrix:
    """`matrix[g, p]` counts pixels of ground-truth class g predicted as p; column `num_classes`
    collects predictions outside the class range."""

    def __init__(self, num_classes: int, ignore_index: int = IGNORE_LABEL):
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.matrix = np.zeros((num_classes, num_classes + 1), np.int64)

    def update(self, gt: np.ndarray, pred: np.ndarray) -> "ConfusionMatrix":
        gt = np.asarray(gt).reshape(-1).astype(np.int64)
        pred = np.asarray(pred).reshape(-1).astype(np.int64)
        if gt.shape != pred.shape:
            raise ValueError(f"ground truth has {gt.size} pixels, prediction {pred.size}")
        labelled = gt != self.ignore_index
        gt, pred = gt[labelled], pred[labelled]
        if gt.size and (gt.min() < 0 or gt.max() >= self.num_classes):
            raise ValueError(f"ground-truth label {int(gt.max() if gt.max() >= self.num_classes else gt.min())} "
                             f"outside 0..{self.num_classes - 1} and not the ignore label {self.ignore_index}")
        pred = np.where((pred >= 0) & (pred < self.num_classes), pred, self.num_classes)
        self.matrix += np.bincount(gt * (self.num_classes + 1) + pred,
                                   minlength=self.num_classes * (self.num_classes + 1)).reshape(self.matrix.shape)
        return self

    def __iadd__(self, other: "ConfusionMatrix") -> "ConfusionMatrix":
        self.matrix += other.matrix
        return self

    def _tp_union(self) -> tuple[np.ndarray, np.ndarray]:
        tp = np.diag(self.matrix[:, : self.num_classes]).astype(np.float64)
        union = self.matrix.sum(1) + self.matrix[:, : self.num_classes].sum(0) - tp
        return tp, union

    def per_class_iou(self) -> np.ndarray:
        """IoU of every class in percent; NaN for a class that is in neither ground truth nor prediction."""
        tp, union = self._tp_union()
        return np.where(union > 0, 100.0 * tp / np.maximum(union, 1), np.nan)

    def miou(self) -> float:
        """Mean IoU (percent) over classes with TP + FP + FN > 0; NaN when there is none."""
        iou = self.per_class_iou()
        return float(np.nanmean(iou)) if np.isfinite(iou).any() else float("nan")

    def accuracy(self) -> float:
        """Overall pixel accuracy (percent) over labelled ground-truth pixels."""
        total = self.matrix.sum()
        return 100.0 * float(np.trace(self.matrix[:, : self.num_classes])) / total if total else float("nan")
