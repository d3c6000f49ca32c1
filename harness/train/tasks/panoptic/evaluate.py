"""Evaluation of a trained panoptic model on a validation folder, as in the PanDA tables:
PQ / SQ / RQ (all, things, stuff) from COCO-panoptic predictions written under the run dir,
mIoU and pixel accuracy from a confusion matrix over train ids, and mask / box AP (COCO
0.5:0.95) from the scored instances. Metrics are percentages (0-100), keys of metrics.json."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from harness.atomic import write_json, write_png
from harness.data.categories import train_ids
from harness.data.dataset import PANOPTIC_DIR, PanopticDataset, ground_truth_json
from harness.data.panoptic_format import id2rgb, semantic_map
from harness.data.tensors import image_tensor
from harness.metrics.export import prediction_to_coco
from harness.metrics.vocabulary import INSTANCE_KEYS, PANOPTIC_KEYS, SEMANTIC_KEYS
from harness.progress import progress_bar
from harness.train.task import Evaluation


@torch.no_grad()
def evaluate_model(model: torch.nn.Module, val_root: str | Path, out_dir: str | Path, device: torch.device,
                   max_images: int | None = None, n_samples: int = 4, amp: bool = False,
                   progress: bool = True, cache_dir: str | Path | None = None) -> Evaluation:
    """Run `model` over the validation set, write predictions under `out_dir`, score them (PQ and AP
    by the default engines; `cache_dir`: their ground-truth cache, harness.metrics.engines.gt_cache)."""
    from harness.metrics.instances import evaluate_instances
    from harness.metrics.panoptic import pq_compute
    from harness.metrics.per_image import PER_IMAGE_FILE, image_semantic_counts, stack, write_per_image
    from harness.metrics.pq_image import SegmentTable, pq_counts
    from harness.metrics.semantic import ConfusionMatrix

    ds = PanopticDataset.load(val_root)
    out_dir = Path(out_dir)
    pred_dir = out_dir / PANOPTIC_DIR
    images = ds.images[:max_images] if max_images else ds.images
    cat_to_train = train_ids(ds.categories)
    confusion = ConfusionMatrix(len(ds.categories))
    category_index = {int(c["id"]): k for k, c in enumerate(ds.categories)}
    annotations, instances, samples, image_pq, image_semantic = [], [], [], [], []
    was_training = model.training
    model.eval()
    with progress_bar(disable=not progress, transient=True) as bar:
        for index in bar.track(range(len(images)), description="evaluate"):
            entry = images[index]
            annotation = ds.annotation_for(entry["id"])
            rgb = ds.read_image(index)  # `images` is a prefix of ds.images
            tensor = image_tensor(rgb).to(device)
            with torch.autocast(device_type=device.type, enabled=amp and device.type == "cuda"):
                output = model([tensor])[0]
            ids, pred_annotation, pred_instances = prediction_to_coco(output, entry["id"], annotation["file_name"])
            write_png(pred_dir / pred_annotation["file_name"], id2rgb(ids))
            annotations.append(pred_annotation)
            instances.extend(pred_instances)
            gt_ids = ds.read_ids(index)
            gt_semantic = semantic_map(gt_ids, annotation["segments_info"], cat_to_train, unknown_category="fill")
            pred_semantic = output["semantic"].detach().cpu().numpy()
            image_confusion = ConfusionMatrix(len(ds.categories)).update(gt_semantic, pred_semantic)
            confusion += image_confusion
            image_semantic.append(image_semantic_counts(image_confusion))
            image_pq.append(pq_counts(
                gt_ids, SegmentTable.from_json(annotation["segments_info"], category_index, str(ds.json_path),
                                               entry["id"]),
                ids, SegmentTable.from_json(pred_annotation["segments_info"], category_index, "prediction",
                                            entry["id"]), len(category_index), image_id=entry["id"]))
            if len(samples) < n_samples:
                samples.append({"image": rgb, "prediction": pred_semantic.astype(np.uint8),
                                "ground_truth": gt_semantic.astype(np.uint8), "caption": entry["file_name"]})
    model.train(was_training)

    pred_json = out_dir / "panoptic.json"
    write_json(pred_json, {"images": images, "annotations": annotations, "categories": ds.categories}, indent=None)
    write_json(out_dir / "instances.json", instances, indent=None)
    write_per_image(out_dir / PER_IMAGE_FILE, stack([im["id"] for im in images], ds.categories, image_pq,
                                                    image_semantic))
    gt_json = ground_truth_json(ds, images, out_dir)
    gt_dir = ds.panoptic_dir
    pq = pq_compute(gt_json, gt_dir, pred_json, pred_dir, cache_dir=cache_dir)
    ap = evaluate_instances(gt_json, gt_dir, instances, cache_dir=cache_dir)
    return Evaluation(merge_metrics(ds.categories, pq, confusion, ap), samples)


def _measured(value: Any) -> float | None:
    """A metric as a float, or None when it was not measured (no prediction, no such class)."""
    if value is None:
        return None
    value = float(value)
    return None if np.isnan(value) else value


def merge_metrics(categories: list[dict], pq: dict, confusion: Any, ap: dict) -> dict[str, Any]:
    """Flat metrics.json keys (absent when not measured) + `per_class: {category_id: {name, pq, sq,
    rq, tp, fp, fn, iou, ap, ap_box}}`."""
    semantic = {"miou": confusion.miou(), "accuracy": confusion.accuracy()}
    flat = {**{k: pq.get(k) for k in PANOPTIC_KEYS}, **{k: semantic[k] for k in SEMANTIC_KEYS},
            **{k: ap.get(k) for k in INSTANCE_KEYS}}
    metrics: dict[str, Any] = {k: _measured(v) for k, v in flat.items() if _measured(v) is not None}
    iou = np.asarray(confusion.per_class_iou(), dtype=float)
    pq_rows, ap_rows = pq.get("per_class", {}), ap.get("per_class", {})
    per_class: dict[str, dict] = {}
    for train_id, category in enumerate(categories):
        cid = int(category["id"])
        row: dict[str, Any] = {"name": category["name"], **(pq_rows.get(cid) or pq_rows.get(str(cid)) or {})}
        row["iou"] = _measured(iou[train_id])
        ap_row = ap_rows.get(cid) or ap_rows.get(str(cid)) or {}
        row.update({k: _measured(ap_row.get(k)) for k in INSTANCE_KEYS if k in ap_row})
        per_class[str(cid)] = row
    metrics["per_class"] = per_class
    return metrics
