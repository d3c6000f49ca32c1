"""Dataset validator: every way a COCO-panoptic dataset can disagree with itself, each reported as
`<file>: <problem>` (a DatasetError), first problem first.

Two levels, because decoding every PNG of Cityscapes (2,975 images of 2 Mpx) takes minutes:

- structure (always, cheap): the JSON (duplicate image / annotation / segment / category ids,
  unknown category_id, annotation of an unknown image, image without annotation, zero sizes,
  malformed area / bbox) and, per image, the files (present, non-empty, a PNG/JPEG header that
  opens, image and label of the same size as each other and as the JSON says, an RGB label);
- pixels (decode every label, one vectorised `segment_stats` pass per image): the ids in the PNG
  equal the ids in `segments_info`, and each segment's area and bbox match its pixels.

`PanopticDataset.load` checks the structure of every image and the pixels of an evenly spread
sample worth `LOAD_PIXEL_BUDGET` pixels (all images of a small dataset; a few seconds at most);
`panbench data check` checks the pixels of every image, over several processes."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

import numpy as np
from PIL import Image, UnidentifiedImageError

from harness.data.dataset import IMAGES_DIR, PANOPTIC_DIR, PanopticDataset, read_ids, read_rgb
from harness.data.panoptic_format import segment_stats
from harness.errors import DatasetError

LOAD_PIXEL_BUDGET = 16 * 2**20  # label pixels decoded by `load` (about 128 images of 256x512)

Problem = tuple[str, str]  # (path, problem): `data check --all` collects every one, not just the first


def validate_dataset(ds: PanopticDataset, pixel_budget: int | None = LOAD_PIXEL_BUDGET) -> None:
    """Raise a DatasetError for the first problem of `ds`. `pixel_budget=None` checks every PNG's pixels,
    0 none (the structure only: JSON, files and their headers)."""
    for path, problem in iter_problems(ds, pixel_images=_pixel_sample(ds, pixel_budget)):
        raise DatasetError(path, problem)


def find_problems(ds: PanopticDataset, workers: int | None = None, progress: bool = False) -> list[Problem]:
    """Every problem of `ds`, with the pixels of every image checked (`workers` processes)."""
    problems = list(iter_problems(ds, pixel_images=[]))
    structurally_sound = _structurally_sound(ds, problems)
    from harness.data.parallel import parallel_map

    jobs = [(str(ds.root), image, ann) for image, ann in structurally_sound]
    if workers is None and len(jobs) < 64:
        workers = 1  # starting processes costs more than checking a few images
    for found in parallel_map(_pixel_job, jobs, workers=workers, description="checking pixels", progress=progress):
        problems.extend(found)
    return problems


def check_dataset_cli(root: str | Path, list_all: bool = False, workers: int | None = None) -> int:
    """`panbench data check`: full check with a progress bar; exit 2 on a problem."""
    ds = PanopticDataset.load(root, validate=False)
    problems = find_problems(ds, workers=workers, progress=True)
    if problems and not list_all:
        raise DatasetError(*problems[0])
    for path, problem in problems:
        print(f"{path}: {problem}", file=sys.stderr)
    if problems:
        print(f"panbench: error: {len(problems)} problem(s) in {ds.root}", file=sys.stderr)
        return 2
    n_segments = sum(len(a.get("segments_info", [])) for a in ds.annotations)
    print(f"ok: {ds.root}: {len(ds.images)} images, {n_segments} segments, every PNG checked")
    return 0


# --- structure ----------------------------------------------------------------------------------
def iter_problems(ds: PanopticDataset, pixel_images: list[Any]) -> Iterator[Problem]:
    """Problems in the order a reader meets them: JSON, then per image its files and (for the
    image ids in `pixel_images`) its pixels."""
    json_path = str(ds.json_path)
    yield from _json_problems(ds, json_path)
    pixel_ids = set(pixel_images)
    annotations = _annotations_by_image(ds)
    for image in ds.images:
        ann = annotations.get(image.get("id"))
        if ann is None or "file_name" not in image or "file_name" not in ann:
            continue
        file_problems = list(_file_problems(ds, image, ann))
        yield from file_problems
        if not file_problems and image["id"] in pixel_ids:
            yield from _pixel_problems(ds.root, image, ann)


def _annotations_by_image(ds: PanopticDataset) -> dict[Any, dict]:
    by_image: dict[Any, dict] = {}
    for ann in ds.annotations:
        by_image.setdefault(ann.get("image_id"), ann)
    return by_image


def _json_problems(ds: PanopticDataset, json_path: str) -> Iterator[Problem]:
    categories = Counter(c.get("id") for c in ds.categories)
    for cat_id, count in categories.items():
        if count > 1:
            yield json_path, f"category id {cat_id!r} appears {count} times in categories"
    for entry in ds.images:
        for field in ("id", "file_name"):
            if field not in entry:
                yield json_path, f"an images entry has no '{field}': {entry!r}"
        if "height" in entry or "width" in entry:
            h, w = entry.get("height", 0), entry.get("width", 0)
            if not (isinstance(h, int) and isinstance(w, int) and h > 0 and w > 0):
                yield json_path, f"image {entry.get('id')!r} has zero or invalid size (height {h!r}, width {w!r})"
    image_ids = Counter(e.get("id") for e in ds.images)
    for image_id, count in image_ids.items():
        if count > 1:
            yield json_path, f"image id {image_id!r} appears {count} times in images"
    annotated = Counter(a.get("image_id") for a in ds.annotations)
    for ann in ds.annotations:
        for field in ("image_id", "file_name", "segments_info"):
            if field not in ann:
                yield json_path, f"an annotation has no '{field}': {ann.get('file_name', ann.get('image_id'))!r}"
        image_id = ann.get("image_id")
        if image_id not in image_ids:
            yield json_path, f"annotation {ann.get('file_name')!r} refers to image {image_id!r}, which is not in images"
    for image_id, count in annotated.items():
        if count > 1:
            yield json_path, f"image {image_id!r} has {count} annotations"
    for entry in ds.images:
        if entry.get("id") not in annotated:
            yield json_path, f"image {entry.get('id')!r} ({entry.get('file_name')}) has no annotation"
    for ann in ds.annotations:
        yield from _segments_info_problems(ds, ann, set(categories))


def _segments_info_problems(ds: PanopticDataset, ann: dict, category_ids: set) -> Iterator[Problem]:
    label = str(ds.root / PANOPTIC_DIR / str(ann.get("file_name")))
    counts = Counter(s.get("id") for s in ann.get("segments_info", []))
    for sid, count in counts.items():
        if count > 1:
            yield label, f"segment {sid} is listed {count} times in panoptic.json"
    for seg in ann.get("segments_info", []):
        sid = seg.get("id")
        if not isinstance(sid, int) or not 0 < sid < 2**24:
            yield label, f"segment id {sid!r} in panoptic.json is not an integer in 1..2^24-1 (0 is void)"
        if seg.get("category_id") not in category_ids:
            yield label, f"segment {sid} has category_id {seg.get('category_id')!r}, which is not in categories"
        bbox = seg.get("bbox")
        if not (isinstance(bbox, list) and len(bbox) == 4 and all(isinstance(v, (int, float)) for v in bbox)):
            yield label, f"segment {sid} has a malformed bbox {bbox!r} (expected [x, y, w, h])"
        elif not (isinstance(seg.get("area"), (int, float)) and 0 < seg["area"] <= bbox[2] * bbox[3]):
            yield label, f"segment {sid} has area {seg.get('area')!r}, inconsistent with its bbox {bbox}"
        if seg.get("iscrowd", 0) not in (0, 1):
            yield label, f"segment {sid} has iscrowd {seg.get('iscrowd')!r} (expected 0 or 1)"


def _file_problems(ds: PanopticDataset, image: dict, ann: dict) -> Iterator[Problem]:
    """Files present, headers readable, sizes consistent; no pixel is decoded."""
    image_path = ds.root / IMAGES_DIR / image["file_name"]
    label_path = ds.root / PANOPTIC_DIR / ann["file_name"]
    sizes = {}
    for path, kind in ((image_path, "image"), (label_path, "label")):
        if not path.is_file():
            yield str(path), f"{kind} file is missing"
            return
        if path.stat().st_size == 0:
            yield str(path), f"{kind} file is empty (0 bytes)"
            return
        try:
            with Image.open(path) as im:
                sizes[kind] = im.size
                mode = im.mode
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            yield str(path), f"unreadable or corrupt {kind} ({exc})"
            return
        if kind == "label" and mode != "RGB":
            yield str(path), f"label PNG has mode {mode}, expected RGB (segment id = R + 256·G + 256²·B)"
    (iw, ih), (lw, lh) = sizes["image"], sizes["label"]
    if (iw, ih) != (lw, lh):
        yield str(label_path), f"label is {lw}x{lh} (WxH) but image {image_path.name} is {iw}x{ih}"
    elif "height" in image and "width" in image and (image["width"], image["height"]) != (iw, ih):
        yield str(image_path), (f"image is {iw}x{ih} (WxH) but panoptic.json says "
                                f"width {image['width']}, height {image['height']}")
    else:
        for seg in ann.get("segments_info", []):
            bbox = seg.get("bbox")
            if not (isinstance(bbox, list) and len(bbox) == 4):
                continue  # reported by the JSON check
            x, y, w, h = bbox
            if x < 0 or y < 0 or x + w > iw or y + h > ih:
                yield str(label_path), f"segment {seg.get('id')} has bbox {seg.get('bbox')} outside the {iw}x{ih} image"


def _structurally_sound(ds: PanopticDataset, problems: list[Problem]) -> list[tuple[dict, dict]]:
    """(image, annotation) pairs whose files raised no problem: only these get a pixel check."""
    bad_paths = {path for path, _ in problems}
    annotations = _annotations_by_image(ds)
    pairs = []
    for image in ds.images:
        ann = annotations.get(image.get("id"))
        if ann is None or "file_name" not in image or "file_name" not in ann:
            continue
        paths = {str(ds.root / IMAGES_DIR / image["file_name"]), str(ds.root / PANOPTIC_DIR / ann["file_name"])}
        if not paths & bad_paths:
            pairs.append((image, ann))
    return pairs


def _pixel_sample(ds: PanopticDataset, pixel_budget: int | None) -> list[Any]:
    """Image ids whose pixels `load` checks: all within budget, else evenly spread (first and last included)."""
    ids = [e.get("id") for e in ds.images]
    if pixel_budget is None or not ids:
        return ids
    if pixel_budget <= 0:
        return []
    pixels = [int(e.get("height", 1024)) * int(e.get("width", 2048)) for e in ds.images]
    if sum(pixels) <= pixel_budget:
        return ids
    k = max(1, int(pixel_budget // max(np.mean(pixels), 1)))
    return [ids[i] for i in np.unique(np.linspace(0, len(ids) - 1, k).round().astype(int))]


# --- pixels -------------------------------------------------------------------------------------
def _pixel_job(job: tuple[str, dict, dict]) -> list[Problem]:
    root, image, ann = job
    return list(_pixel_problems(Path(root), image, ann))


def _pixel_problems(root: Path, image: dict, ann: dict) -> Iterator[Problem]:
    """Decode image and label; the label's ids, areas and boxes must equal segments_info."""
    label_path = root / PANOPTIC_DIR / ann["file_name"]
    try:
        read_rgb(root / IMAGES_DIR / image["file_name"])
        stats = segment_stats(read_ids(label_path))
    except DatasetError as exc:
        yield exc.path, exc.problem
        return
    listed = {seg.get("id"): seg for seg in ann.get("segments_info", [])}
    for sid, seg in listed.items():
        if sid not in stats:
            yield str(label_path), f"segment {sid} is in panoptic.json but not in the PNG"
            continue
        area, bbox = stats[sid]
        if seg.get("area") != area:
            yield str(label_path), f"segment {sid} has area {seg.get('area')} in panoptic.json but {area} pixels in the PNG"
        if [round(v) for v in seg.get("bbox", [])] != bbox:
            yield str(label_path), f"segment {sid} has bbox {seg.get('bbox')} in panoptic.json but {bbox} in the PNG"
    for sid in sorted(set(stats) - set(listed)):
        yield str(label_path), f"id {sid} is in the PNG ({stats[sid][0]} pixels) but not in panoptic.json"
