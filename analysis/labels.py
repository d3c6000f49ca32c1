"""Human names for what tables, figures and the dashboard print: column headers (the papers'
notation: PQ, AP box, N orig., DE), PanDA variants ("original", "PanDA 1x") and datasets on disk.

Machine keys stay the keys of CSV files and run records; only what a reader sees is renamed."""

from __future__ import annotations

from pathlib import Path

from harness.metrics.vocabulary import METRICS
from harness.panda.config import OPS

METRIC_LABELS = {**{key: metric.label for key, metric in METRICS.items()}, "iou": "IoU"}
# PanDA Table 3's notation: N = effective training-set size, orig. / aug = without / with PanDA
COLUMN_LABELS = {"images": "# orig. images", "n_orig": "N orig.", "n_aug": "N aug", "de": "DE (%)",
                 "slope": "slope a", "intercept": "intercept b", "r2": "r²", "method": "generator"}
# the synthesis tables' generators (their `method` keys, as the reference CSVs) and the figure's columns
METHOD_LABELS = {"spade": "SPADE", "panoptic-spade": "panoptic SPADE", "+panoptic-conv": "+ panoptic conv",
                 "+panoptic-upsampling": "+ panoptic upsampling", "real images": "real images", "label": "label"}


def method_label(method: str) -> str:
    """What a reader sees for a generator key (unknown keys print as they are)."""
    return METHOD_LABELS.get(method, method)


def column_label(key: str) -> str:
    """The header a reader sees for a table column or metric key (unknown keys, e.g. class names,
    print as they are); `control_m` is m of the compute-matched plain control, `delta_m` PanDA − control;
    `paper_m` the published m, `vs_paper_m` ours − paper, `arm_m` the Δ of an arm to its control row."""
    if key.startswith("vs_paper_"):
        return f"Δ {column_label(key.removeprefix('vs_paper_'))} vs paper"
    if key.startswith("paper_"):
        return f"{column_label(key.removeprefix('paper_'))} paper"
    if key.startswith("arm_"):
        return f"Δ {column_label(key.removeprefix('arm_'))} (arm)"
    if key.startswith("control_"):
        return f"{column_label(key.removeprefix('control_'))} control"
    if key.startswith("delta_"):
        return f"Δ {column_label(key.removeprefix('delta_'))}"
    return COLUMN_LABELS.get(key) or METRIC_LABELS.get(key) or key


def category_names(dataset: object) -> dict[str, str]:
    """{category id: name} of a dataset panbench knows by its `data.dataset` name: synthetic scenes and
    Cityscapes carry Cityscapes' 19 categories, COCO-Stuff its 182; {} for any other (a COCO-panoptic
    folder of the user's: its panoptic runs write the names into their per-class rows)."""
    if dataset in ("synth", "cityscapes"):
        from harness.data.categories import CITYSCAPES_CATEGORIES

        return {str(c.id): c.name for c in CITYSCAPES_CATEGORIES}
    if dataset == "coco_stuff":
        from harness.data.coco_stuff import coco_stuff_categories

        return {str(c["id"]): str(c["name"]) for c in coco_stuff_categories()}
    return {}


def variant_label(copies: int, ops: list[str] | tuple[str, ...] | None = None, hybrid: bool = False) -> str:
    """`PanDA 1x`, `PanDA 2x`; an ablated operation set is named (`PanDA 1x (dropout+resize)`), hybrid
    images (paper Sec. 5) too."""
    label = f"PanDA {copies}x" + (" hybrid" if hybrid else "")
    if ops is not None and set(ops) != set(OPS):
        label += f" ({'+'.join(str(op) for op in ops)})"
    return label


def dataset_label(root: str | Path) -> str:
    """What a dataset folder is, for a legend: its PanDA variant when `panbench panda` wrote it (from its
    manifest), else `original`."""
    from harness.data.schema import read_json
    from harness.panda.generate import MANIFEST

    manifest_path = Path(root) / MANIFEST
    if not manifest_path.is_file():
        return "original"
    manifest = read_json(manifest_path)
    if not isinstance(manifest, dict) or not isinstance(manifest.get("copies"), int):
        return "original"
    ops = manifest.get("ops")
    return variant_label(manifest["copies"], ops if isinstance(ops, list) else None, manifest.get("hybrid") is True)


def dataset_labels(roots: list[str | Path]) -> list[str]:
    """`dataset_label` of each folder; equal labels (two originals) get the folder name to tell them apart."""
    labels = [dataset_label(root) for root in roots]
    if len(set(labels)) < len(labels):
        labels = [f"{label} ({Path(root).name})" for label, root in zip(labels, roots)]
    return labels
