"""Dataset validator: every way a COCO-panoptic dataset can disagree with itself, each reported as
`<file>: <problem>` (a DatasetError), first problem first. Validation is a step of its own:
`PanopticDataset.load` only parses; `load_valid` loads and validates.

Two levels, because decoding every PNG of Cityscapes (2,975 images of 2 Mpx) takes minutes:

- structure (always, cheap): the JSON's schema (`harness.data.schema`), then what ties it together
  (duplicate image / annotation / segment / category ids, unknown category_id, annotation of an
  unknown image, image without annotation, no image at all, zero sizes, area / bbox that cannot
  be) and, per image, the files: named inside their folder (`harness.data.paths`), present,
  non-empty, a header that opens within the pixel limit, image and label of one size and of the
  size the JSON says, an RGB label, bboxes inside the frame, and the class-id label map when the
  dataset keeps them (`label_maps`: one 8-bit channel, the image's size; `harness.data.label_maps`);
- pixels (decode every label, one vectorised `segment_stats` pass per image): the ids in the PNG
  equal the ids in `segments_info`, and each segment's area and bbox match its pixels; every label
  map value is below `num_classes` or 255.

`load_valid` checks the structure of every image and the pixels of an evenly spread sample worth
`LOAD_PIXEL_BUDGET` pixels (all images of a small dataset; a few seconds at most). `check_dataset`
(`panbench data check`) checks the pixels of every image, over several processes, one image per
process at a time (memory bounded by the largest image, itself bounded by the pixel limit), and
flags files in images/ and panoptic/ that no JSON entry names."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from harness.data import label_maps
from harness.data.dataset import PanopticDataset
from harness.data.images import image_size, label_mode_problem, read_ids, read_rgb
from harness.data.panoptic_format import segment_stats
from harness.data.schema import Problem, dataset_problems
from harness.errors import DatasetError
from harness.parallel import parallel_map

LOAD_PIXEL_BUDGET = 16 * 2**20  # label pixels decoded by `load_valid` (about 128 images of 256x512)


def validate_dataset(ds: PanopticDataset, pixel_budget: int | None = LOAD_PIXEL_BUDGET) -> None:
    """Raise a DatasetError for the first problem of `ds`. `pixel_budget=None` checks every PNG's pixels,
    0 none (the structure only: JSON, files and their headers)."""
    for path, problem in iter_problems(ds, pixel_images=_pixel_sample(ds, pixel_budget)):
        raise DatasetError(path, problem)


def load_valid(root: str | Path, pixel_budget: int | None = LOAD_PIXEL_BUDGET,
               allow_outside_links: bool = False, split: str | None = None) -> PanopticDataset:
    """`PanopticDataset.load(root)` (a dataset location, or a COCO root with `split`) followed by
    `validate_dataset`."""
    ds = PanopticDataset.load(root, allow_outside_links=allow_outside_links, split=split)
    validate_dataset(ds, pixel_budget)
    return ds


def find_problems(ds: PanopticDataset, workers: int | None = None, progress: bool = False) -> list[Problem]:
    """Every problem of `ds`: schema, structure, the pixels of every image (`workers` processes),
    and files no entry names."""
    problems = list(dataset_problems(ds.to_json(), ds.json_path))
    if problems:  # the entries cannot be trusted to name files
        return problems
    problems = list(structure_problems(ds))
    jobs = _pixel_jobs(ds, problems)
    if workers is None and len(jobs) < 64:
        workers = 1  # starting processes costs more than checking a few images
    for found in parallel_map(_pixel_job, jobs, workers=workers, description="checking pixels", progress=progress):
        problems.extend(found)
    problems.extend(unnamed_files(ds))
    return problems


@dataclass(frozen=True)
class CheckReport:
    root: Path
    n_images: int
    n_segments: int
    problems: list[Problem]


def check_dataset(root: str | Path, workers: int | None = None, progress: bool = True,
                  allow_outside_links: bool = False, split: str | None = None) -> CheckReport:
    """`panbench data check`: the full check of the dataset at `root` (with `split`: one split of a
    COCO root in COCO's official layout)."""
    ds = PanopticDataset.load(root, allow_outside_links=allow_outside_links, split=split)
    problems = find_problems(ds, workers=workers, progress=progress)
    n_segments = sum(len(a.get("segments_info", [])) for a in ds.annotations if isinstance(a, dict))
    return CheckReport(ds.root, len(ds.images), n_segments, problems)


# --- structure ----------------------------------------------------------------------------------
def iter_problems(ds: PanopticDataset, pixel_images: list[Any]) -> Iterator[Problem]:
    """Problems in the order a reader meets them: the JSON's schema, then (when it holds) the
    structure and, for the image ids in `pixel_images`, the pixels."""
    schema = list(dataset_problems(ds.to_json(), ds.json_path))
    if schema:  # what follows reads the keys the schema requires
        yield from schema
        return
    yield from structure_problems(ds, set(pixel_images))


def structure_problems(ds: PanopticDataset, pixel_ids: set = frozenset()) -> Iterator[Problem]:
    """The JSON's consistency, then per image its files and (for `pixel_ids`) its pixels; the
    schema is assumed to hold."""
    yield from _json_problems(ds, str(ds.json_path))
    try:
        maps = ds.label_maps
    except DatasetError as exc:
        yield exc.path, exc.problem
        return
    annotations = _annotations_by_image(ds)
    for image in ds.images:
        ann = annotations.get(image["id"])
        if ann is None:
            continue
        file_problems = list(_file_problems(ds, image, ann))
        yield from file_problems
        if file_problems:
            continue
        map_problems = list(_label_map_problems(ds, image, ann)) if maps is not None else []
        yield from map_problems
        if image["id"] in pixel_ids:
            yield from _pixel_problems(ds.image_path(image), ds.label_path(ann), ann)
            if maps is not None and not map_problems:
                yield from label_maps.value_problems(ds.label_map_path(ann), maps.num_classes)


def _label_map_problems(ds: PanopticDataset, image: dict, ann: dict) -> Iterator[Problem]:
    """The image's label map: named inside its folder, present, one 8-bit channel, the image's size."""
    try:
        path = ds.label_map_path(ann)
        size, _ = image_size(ds.image_path(image))
    except DatasetError as exc:
        yield exc.path, exc.problem
        return
    yield from label_maps.header_problems(path, size)
    if ds.label_maps.instance_dir is not None:
        try:
            path = ds.instance_map_path(ann)
        except DatasetError as exc:
            yield exc.path, exc.problem
            return
        yield from label_maps.header_problems(path, size, instances=True)


def _annotations_by_image(ds: PanopticDataset) -> dict[Any, dict]:
    by_image: dict[Any, dict] = {}
    for ann in ds.annotations:
        by_image.setdefault(ann["image_id"], ann)
    return by_image


def _json_problems(ds: PanopticDataset, json_path: str) -> Iterator[Problem]:
    if not ds.images:
        yield json_path, "the dataset holds no images"
    categories = Counter(c["id"] for c in ds.categories)
    for cat_id, count in categories.items():
        if count > 1:
            yield json_path, f"category id {cat_id!r} appears {count} times in categories"
    for entry in ds.images:
        if "height" in entry or "width" in entry:
            h, w = entry.get("height", 0), entry.get("width", 0)
            if not (isinstance(h, int) and isinstance(w, int) and h > 0 and w > 0):
                yield json_path, f"image {entry['id']!r} has zero or invalid size (height {h!r}, width {w!r})"
    image_ids = Counter(e["id"] for e in ds.images)
    for image_id, count in image_ids.items():
        if count > 1:
            yield json_path, f"image id {image_id!r} appears {count} times in images"
    annotated = Counter(a["image_id"] for a in ds.annotations)
    for ann in ds.annotations:
        if ann["image_id"] not in image_ids:
            yield json_path, (f"annotation {ann['file_name']!r} refers to image {ann['image_id']!r}, "
                              "which is not in images")
    for image_id, count in annotated.items():
        if count > 1:
            yield json_path, f"image {image_id!r} has {count} annotations"
    for entry in ds.images:
        if entry["id"] not in annotated:
            yield json_path, f"image {entry['id']!r} ({entry['file_name']}) has no annotation"
    for ann in ds.annotations:
        yield from _segments_info_problems(ds, ann, set(categories))


def _segments_info_problems(ds: PanopticDataset, ann: dict, category_ids: set) -> Iterator[Problem]:
    label = str(ds.panoptic_dir / ann["file_name"])
    counts = Counter(s["id"] for s in ann["segments_info"])
    for sid, count in counts.items():
        if count > 1:
            yield label, f"segment {sid} is listed {count} times in panoptic.json"
    for seg in ann["segments_info"]:
        sid, bbox = seg["id"], seg["bbox"]
        if not 0 < sid < 2**24:
            yield label, f"segment id {sid!r} in panoptic.json is not an integer in 1..2^24-1 (0 is void)"
        if seg["category_id"] not in category_ids:
            yield label, f"segment {sid} has category_id {seg['category_id']!r}, which is not in categories"
        if not 0 < seg["area"] <= bbox[2] * bbox[3]:
            yield label, f"segment {sid} has area {seg['area']!r}, inconsistent with its bbox {bbox}"


def _file_problems(ds: PanopticDataset, image: dict, ann: dict) -> Iterator[Problem]:
    """Files named inside their folders, present, headers readable, sizes consistent; no pixel is decoded."""
    sizes = {}
    try:
        image_path, label_path = ds.image_path(image), ds.label_path(ann)
        for path, kind in ((image_path, "image"), (label_path, "label")):
            sizes[kind], mode = image_size(path, kind)
            if kind == "label" and label_mode_problem(mode):
                yield str(path), label_mode_problem(mode)
                return
    except DatasetError as exc:
        yield exc.path, exc.problem
        return
    (iw, ih), (lw, lh) = sizes["image"], sizes["label"]
    if (iw, ih) != (lw, lh):
        yield str(label_path), f"label is {lw}x{lh} (WxH) but image {image_path.name} is {iw}x{ih}"
    elif "height" in image and "width" in image and (image["width"], image["height"]) != (iw, ih):
        yield str(image_path), (f"image is {iw}x{ih} (WxH) but panoptic.json says "
                                f"width {image['width']}, height {image['height']}")
    else:
        for seg in ann["segments_info"]:
            x, y, w, h = seg["bbox"]
            if x < 0 or y < 0 or x + w > iw or y + h > ih:
                yield str(label_path), f"segment {seg['id']} has bbox {seg['bbox']} outside the {iw}x{ih} image"


def _pixel_jobs(ds: PanopticDataset, problems: list[Problem]) -> list[tuple]:
    """(image path, label path, annotation, label map path or None, num_classes) of every image
    whose files raised no problem (a label map with a problem of its own is not decoded)."""
    bad_paths = {path for path, _ in problems}
    annotations = _annotations_by_image(ds)
    try:
        maps = ds.label_maps
    except DatasetError:  # reported by the structure check
        return []
    jobs = []
    for image in ds.images:
        ann = annotations.get(image["id"])
        if ann is None:
            continue
        try:
            paths = (str(ds.image_path(image)), str(ds.label_path(ann)))
            map_path = str(ds.label_map_path(ann)) if maps is not None else None
        except DatasetError:  # a file name that leaves its folder: reported by the structure check
            continue
        if not set(paths) & bad_paths:
            jobs.append((*paths, ann, None if map_path in bad_paths else map_path, maps.num_classes if maps else 0))
    return jobs


def _pixel_sample(ds: PanopticDataset, pixel_budget: int | None) -> list[Any]:
    """Image ids whose pixels `load_valid` checks: all within budget, else evenly spread (first and last included)."""
    ids = [e.get("id") for e in ds.images if isinstance(e, dict)]
    if pixel_budget is None or not ids:
        return ids
    if pixel_budget <= 0:
        return []
    pixels = [_int(e.get("height"), 1024) * _int(e.get("width"), 2048) for e in ds.images]
    if sum(pixels) <= pixel_budget:
        return ids
    k = max(1, int(pixel_budget // max(np.mean(pixels), 1)))
    return [ids[i] for i in np.unique(np.linspace(0, len(ids) - 1, k).round().astype(int))]


def _int(value: Any, default: int) -> int:
    return value if isinstance(value, int) and value > 0 else default


# --- pixels -------------------------------------------------------------------------------------
def _pixel_job(job: tuple) -> list[Problem]:
    image_path, label_path, ann, map_path, num_classes = job
    found = list(_pixel_problems(Path(image_path), Path(label_path), ann))
    if map_path is not None:
        found.extend(label_maps.value_problems(Path(map_path), num_classes))
    return found


def _pixel_problems(image_path: Path, label_path: Path, ann: dict) -> Iterator[Problem]:
    """Decode image and label; the label's ids, areas and boxes must equal segments_info."""
    try:
        read_rgb(image_path)
        stats = segment_stats(read_ids(label_path))
    except DatasetError as exc:
        yield exc.path, exc.problem
        return
    listed = {seg["id"]: seg for seg in ann["segments_info"]}
    for sid, seg in listed.items():
        if sid not in stats:
            yield str(label_path), f"segment {sid} is in panoptic.json but not in the PNG"
            continue
        area, bbox = stats[sid]
        if seg["area"] != area:
            yield str(label_path), f"segment {sid} has area {seg['area']} in panoptic.json but {area} pixels in the PNG"
        if [round(v) for v in seg["bbox"]] != bbox:
            yield str(label_path), f"segment {sid} has bbox {seg['bbox']} in panoptic.json but {bbox} in the PNG"
    for sid in sorted(set(stats) - set(listed)):
        yield str(label_path), f"id {sid} is in the PNG ({stats[sid][0]} pixels) but not in panoptic.json"


# --- left-over files ------------------------------------------------------------------------------
def unnamed_files(ds: PanopticDataset) -> Iterator[Problem]:
    """Files in images/, panoptic/ (and the label maps' folder) that no entry of panoptic.json names
    (an earlier run's left-overs would otherwise pass for part of the dataset)."""
    labels = {os.path.normpath(a["file_name"]) for a in ds.annotations}
    named = {ds.images_dir: {os.path.normpath(e["file_name"]) for e in ds.images}, ds.panoptic_dir: labels}
    try:
        maps = ds.label_maps
    except DatasetError:  # reported by the structure check
        maps = None
    if maps is not None:
        named[ds.root / maps.dir] = labels
    for top, names in named.items():
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames.sort()
            for filename in sorted(filenames):
                path = Path(dirpath) / filename
                if os.path.normpath(path.relative_to(top)) not in names:
                    yield str(path), f"no entry of {ds.json_path.name} names this file (left over from an earlier run?)"
