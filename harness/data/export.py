"""Export a COCO-panoptic dataset (a PanDA output, a synthetic set, converted Cityscapes) into the
side files that detectron2's and mmdetection's PanopticFPN read next to the panoptic ones, so a
user trains those frameworks on panbench data through their own COCO-panoptic registration:

- a COCO *instances* JSON of the thing segments (RLE masks, bbox, area, `iscrowd` kept, thing
  categories with their original ids), for detectron2's `register_coco_panoptic_separated(...,
  instances_json)` and mmdetection's instance branch;
- semantic PNGs in detectron2's PanopticFPN convention, that of
  `separate_coco_semantic_from_panoptic` in facebookresearch/detectron2
  `datasets/prepare_panoptic_fpn.py`: every thing category is 0, stuff categories are 1..K in the
  order of the category list, and every pixel no listed segment covers (void) is 255; uint8, one
  per image, named like the panoptic PNG (detectron2's `load_sem_seg` pairs them by name);
- the panoptic JSON with thing categories listed first and annotations in image order: mmdetection
  3.x numbers labels in the JSON's category order (`CocoDataset.load_data_list`: pycocotools'
  `getCatIds(catNms=classes)` keeps the JSON's order), its PanopticFPN head treats labels below
  `num_things_classes` as things; panbench's Cityscapes categories list stuff first (ids 7-23).

Both JSONs give the frameworks integer image ids: detectron2's `load_coco_panoptic_json` passes
every id to `int()`, and its `COCOPanopticEvaluator` matches the ground truth's ids with the
instances JSON's. A dataset whose ids are all integers keeps them; otherwise (Cityscapes' frame
names, PanDA's and the synthetic sets' names) images are numbered 1..N in the dataset's order and
each image entry keeps its own id as `original_id` (its file name is unchanged). Every label must be
named like its image (mmdetection reads `<seg_prefix>/<image file_name with jpg -> png>`,
detectron2's `load_sem_seg` pairs files by stem): a dataset that breaks this is refused, naming the
pair."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.atomic import output_folder, write_json, write_png
from harness.data.coco_instances import thing_annotations
from harness.data.dataset import INSTANCES_JSON, SEMANTIC_DIR, THINGS_FIRST_JSON
from harness.data.images import read_ids
from harness.data.panoptic_format import semantic_map
from harness.data.validate import load_valid
from harness.errors import DatasetError
from harness.parallel import parallel_map

THING_LABEL = 0
VOID_LABEL = 255
MAX_STUFF = 254  # labels 1..254: 0 is "thing", 255 is void


@dataclass(frozen=True)
class ExportedFiles:
    instances_json: Path
    semantic_dir: Path
    things_first_json: Path
    n_images: int
    n_instances: int


def panoptic_fpn_labels(categories: list[dict], source: str | Path) -> dict[int, int]:
    """{category id: semantic label}: things -> 0, stuff -> 1..K in category-list order."""
    stuff = [c for c in categories if not int(c["isthing"])]
    if len(stuff) > MAX_STUFF:
        raise DatasetError(source, f"{len(stuff)} stuff categories; a uint8 semantic PNG holds at most {MAX_STUFF}")
    labels = {int(c["id"]): THING_LABEL for c in categories if int(c["isthing"])}
    labels.update({int(c["id"]): k for k, c in enumerate(stuff, start=1)})
    return labels


def _export_image(job: tuple) -> tuple[list[dict], tuple[int, int]]:
    """Write one semantic PNG, return the image's thing annotations (under its exported id) and its
    (height, width)."""
    label_path, semantic_path, image, segments_info, labels, thing_ids, image_id = job
    ids = read_ids(label_path)
    if "height" in image and ids.shape != (int(image["height"]), int(image["width"])):
        raise DatasetError(label_path, f"is {ids.shape[1]}x{ids.shape[0]} but its image entry says "
                                       f"{image['width']}x{image['height']}")
    write_png(semantic_path, semantic_map(ids, segments_info, labels, fill=VOID_LABEL, source=label_path))
    return thing_annotations(ids, segments_info, thing_ids, image_id), ids.shape


def export_image_ids(images: list[dict]) -> list[int]:
    """The integer id each image gets in the exported JSONs: its own when every id is an integer,
    else 1..N in image order."""
    ids = [image["id"] for image in images]
    if all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        return ids
    return list(range(1, len(ids) + 1))


def mmdet_label_name(image_file_name: str) -> str:
    """The label file mmdetection 3.x reads for an image (`COCOPanoptic.createIndex` and
    `CocoPanopticDataset.parse_data_info`: the image's file name with 'jpg' replaced by 'png')."""
    return image_file_name.replace("jpg", "png")


def stem_problem(image: dict, ann: dict) -> str | None:
    """Why the frameworks would not find this image's label from its name (None when they would)."""
    image_name, label_name = image["file_name"], ann["file_name"]
    if Path(image_name).with_suffix("") != Path(label_name).with_suffix("") or mmdet_label_name(image_name) != label_name:
        return (f"image {image['id']!r}: label {label_name!r} is not named like its image {image_name!r} "
                f"(mmdetection reads the label {mmdet_label_name(image_name)!r}, detectron2 pairs files by stem); "
                f"give each label its image's name (Cityscapes: convert again with `panbench data cityscapes`)")
    return None


def _exported(entry: dict, key: str, new_id: int) -> dict:
    """`entry` with its image id (under `key`) replaced by the exported one; the old one kept."""
    renamed = {**entry, key: new_id}
    if entry[key] != new_id:
        renamed["original_id"] = entry[key]
    return renamed


def previous_export(folder: Path) -> bool:
    """True when `folder` holds PNGs only, as an earlier export left it (so a re-export may replace it)."""
    return all(name.endswith(".png") for _, _, names in os.walk(folder) for name in names)


def export_dataset(src: str | Path, instances_json: str | Path | None = None, semantic_dir: str | Path | None = None,
                   things_first_json: str | Path | None = None, workers: int | None = None,
                   progress: bool = True, allow_outside_links: bool = False) -> ExportedFiles:
    """Write the instances JSON, the semantic PNGs and the things-first panoptic JSON of the dataset
    at `src` (defaults: `src/instances.json`, `src/semantic/`, `src/panoptic_things_first.json`).

    The semantic PNGs are built in a folder beside `semantic_dir` and renamed into place (an
    earlier export's folder of PNGs is replaced, any other non-empty folder refused); the JSONs,
    computed first, are written atomically after it, so a failed export changes nothing."""
    ds = load_valid(src, allow_outside_links=allow_outside_links)
    root = ds.root
    instances_json = Path(instances_json) if instances_json else root / INSTANCES_JSON
    semantic_dir = Path(semantic_dir) if semantic_dir else root / SEMANTIC_DIR
    things_first_json = Path(things_first_json) if things_first_json else root / THINGS_FIRST_JSON
    labels = panoptic_fpn_labels(ds.categories, ds.json_path)
    things = [c for c in ds.categories if int(c["isthing"])]
    stuff = [c for c in ds.categories if not int(c["isthing"])]
    thing_ids = {int(c["id"]) for c in things}

    pairs = list(ds.samples())
    for image, ann in pairs:
        problem = stem_problem(image, ann)
        if problem is not None:
            raise DatasetError(ds.json_path, problem)
    new_ids = export_image_ids([image for image, _ in pairs])
    annotations: list[dict[str, Any]] = []
    images = []
    with output_folder(semantic_dir, replace=previous_export) as staging:
        jobs = [(str(ds.label_path(ann)), str(staging / ann["file_name"]), image, ann["segments_info"], labels,
                 thing_ids, new_id) for (image, ann), new_id in zip(pairs, new_ids)]
        results = parallel_map(_export_image, jobs, workers=workers, description="export", progress=progress)
        for (image, _), new_id, (instances, (height, width)) in zip(pairs, new_ids, results):
            first_id = len(annotations) + 1
            annotations.extend({"id": first_id + k, **a} for k, a in enumerate(instances))
            images.append(_exported({"id": image["id"], "file_name": image["file_name"], "height": int(height),
                                     "width": int(width)}, "id", new_id))
    write_json(instances_json, {"images": images, "annotations": annotations, "categories": things}, indent=None)
    write_json(things_first_json, {**ds.extra,
                                   "images": [_exported(image, "id", i) for (image, _), i in zip(pairs, new_ids)],
                                   "annotations": [_exported(ann, "image_id", i) for (_, ann), i in zip(pairs, new_ids)],
                                   "categories": things + stuff},
               indent=None)
    return ExportedFiles(instances_json, semantic_dir, things_first_json, len(pairs), len(annotations))
