"""COCO-Stuff -> COCO panoptic: the synthesis paper's second dataset (Sec. 4: 182 classes), as a
panbench dataset the synthesis models train on and the PanDA models read like any other.

Inputs, as the cocostuff repository distributes them and COCO 2017 ships its instances:

- `stuffthingmaps_trainval2017/<split>/<stem>.png`: one-channel maps of COCO-Stuff's class indices.
  The cocostuff README: "thing+stuff labels cover indices 0-181 and 255 indicates the 'unlabeled'
  or void class"; its labels.txt numbers the classes 1..182 (0 = unlabeled), so a value v is
  COCO category id v + 1 (things 1..91, COCO's own ids; stuff 92..182) and 255 is void;
- COCO's `instances_<split>.json`: the thing instances (polygons, RLE; `iscrowd` kept);
- the images folder (`<split>/`), linked (hard links) or copied into images/.

Each pixel's panoptic segment: a stuff class of the map (92..182) is one segment per class, id =
the category id; thing pixels come from the instance masks painted over the map, each instance a
segment `category_id * 1000 + k` (k = 1, 2, ... per category and image). COCO's instance masks
overlap, so the painting order decides: crowd regions first, then the other instances from the
largest mask to the smallest (ties: annotation id), each over the previous ones, so a small object
lying on a larger one stays visible; an instance left without pixels is dropped. A pixel the map
calls a thing that no instance mask covers is void (0): it has no instance. (SPADE's own COCO
instance maps paint polygons in file order and skip crowd RLEs; area order is independent of the
file's order.) Categories: all 182, thing ids 1..91 including the 11 COCO never annotated."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import numpy as np
from pycocotools import mask as mask_utils

from harness.atomic import link_or_copy, output_folder, write_png
from harness.data.dataset import IMAGES_DIR, PANOPTIC_DIR, PanopticDataset, write_panoptic_json
from harness.data.images import image_size, read_class_ids
from harness.data.panoptic_format import id2rgb, make_segments_info
from harness.data.paths import confined
from harness.data.schema import FILE, ID, INT, Key, entry_problems, kind, raise_first, read_json
from harness.data.validate import validate_dataset
from harness.errors import DatasetError
from harness.parallel import parallel_map

# cocostuff labels.txt, ids 1..182 (0 is "unlabeled")
COCO_STUFF_NAMES: tuple[str, ...] = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "street sign", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse",
    "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "hat", "backpack", "umbrella", "shoe",
    "eye glasses", "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
    "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle", "plate",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange", "broccoli",
    "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant", "bed", "mirror",
    "dining table", "window", "desk", "toilet", "door", "tv", "laptop", "mouse", "remote", "keyboard",
    "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator", "blender", "book", "clock", "vase",
    "scissors", "teddy bear", "hair drier", "toothbrush", "hair brush", "banner", "blanket", "branch",
    "bridge", "building-other", "bush", "cabinet", "cage", "cardboard", "carpet", "ceiling-other",
    "ceiling-tile", "cloth", "clothes", "clouds", "counter", "cupboard", "curtain", "desk-stuff", "dirt",
    "door-stuff", "fence", "floor-marble", "floor-other", "floor-stone", "floor-tile", "floor-wood", "flower",
    "fog", "food-other", "fruit", "furniture-other", "grass", "gravel", "ground-other", "hill", "house",
    "leaves", "light", "mat", "metal", "mirror-stuff", "moss", "mountain", "mud", "napkin", "net", "paper",
    "pavement", "pillow", "plant-other", "plastic", "platform", "playingfield", "railing", "railroad", "river",
    "road", "rock", "roof", "rug", "salad", "sand", "sea", "shelf", "sky-other", "skyscraper", "snow",
    "solid-other", "stairs", "stone", "straw", "structural-other", "table", "tent", "textile-other", "towel",
    "tree", "vegetable", "wall-brick", "wall-concrete", "wall-other", "wall-panel", "wall-stone", "wall-tile",
    "wall-wood", "water-other", "waterdrops", "window-blind", "window-other", "wood",
)
NUM_THING_IDS = 91  # COCO's thing ids 1..91 (80 annotated); stuff is 92..182
UNLABELED = 255
INSTANCE_STRIDE = 1000  # thing segment id = category_id * 1000 + k
INSTANCES_IMAGE = (Key("id", INT), Key("file_name", FILE), Key("height", INT), Key("width", INT))
SEGMENTATION = kind("polygons or a COCO RLE", lambda v: isinstance(v, (list, dict)))
INSTANCES_ANNOTATION = (Key("id", ID), Key("image_id", INT), Key("category_id", INT), Key("segmentation", SEGMENTATION))


def coco_stuff_categories() -> list[dict]:
    """The 182 COCO-Stuff categories in id order, COCO-panoptic style (a fixed colour each)."""
    colors = np.random.default_rng(182).integers(0, 256, (len(COCO_STUFF_NAMES), 3))
    return [{"id": k, "name": name, "supercategory": "thing" if k <= NUM_THING_IDS else "stuff",
             "isthing": int(k <= NUM_THING_IDS), "color": colors[k - 1].tolist()}
            for k, name in enumerate(COCO_STUFF_NAMES, start=1)]


def stuff_classes(values: np.ndarray, source: str | Path) -> np.ndarray:
    """(H, W) category ids (0 = void) of a stuffthingmap: value v -> v + 1, 255 -> 0."""
    bad = np.unique(values[(values >= len(COCO_STUFF_NAMES)) & (values != UNLABELED)])
    if bad.size:
        raise DatasetError(source, f"stuffthingmap holds value(s) {bad[:5].tolist()}, outside 0..181 and 255 "
                                   "(COCO-Stuff class index = category id - 1, 255 unlabeled)")
    return np.where(values == UNLABELED, 0, values + 1).astype(np.int64)


def annotation_mask(segmentation: list | dict, height: int, width: int, source: str | Path, entry: str) -> np.ndarray:
    """Boolean (H, W) mask of a COCO segmentation: polygons, uncompressed RLE or compressed RLE
    (what pycocotools' `COCO.annToRLE` accepts)."""
    try:
        if isinstance(segmentation, list):
            rle = mask_utils.merge(mask_utils.frPyObjects(segmentation, height, width))
        elif isinstance(segmentation.get("counts"), list):
            rle = mask_utils.frPyObjects(segmentation, height, width)
        else:
            rle = segmentation
        mask = mask_utils.decode(rle)
    except (TypeError, ValueError, KeyError, IndexError) as exc:
        raise DatasetError(source, f"{entry}: segmentation cannot be decoded ({exc})") from None
    if mask.shape != (height, width):
        raise DatasetError(source, f"{entry}: mask is {mask.shape[1]}x{mask.shape[0]}, its image {width}x{height}")
    return mask.astype(bool)


def painting_order(annotations: Iterable[dict], areas: dict[Any, int]) -> list[dict]:
    """Crowd regions first, then the instances from the largest mask to the smallest (ties:
    annotation id): painted in this order, a smaller instance ends up over a larger one."""
    return sorted(annotations, key=lambda a: (not a.get("iscrowd", 0), -areas[a["id"]], str(a["id"])))


def panoptic_ids(classes: np.ndarray, instances: list[dict], masks: dict[Any, np.ndarray]
                 ) -> tuple[np.ndarray, dict[int, int], dict[int, int]]:
    """(ids, category_of, iscrowd_of) of one image: stuff classes as segments, instances painted
    over them in `painting_order` (see the module docstring)."""
    ids = np.where(classes > NUM_THING_IDS, classes, 0).astype(np.uint32)
    category_of = {int(c): int(c) for c in np.unique(ids) if c}
    iscrowd_of: dict[int, int] = {}
    counts: dict[int, int] = {}
    areas = {a["id"]: int(masks[a["id"]].sum()) for a in instances}
    for ann in painting_order(instances, areas):
        category = int(ann["category_id"])
        counts[category] = counts.get(category, 0) + 1
        if counts[category] >= INSTANCE_STRIDE:
            raise ValueError(f"{INSTANCE_STRIDE} or more instances of category {category} in one image")
        segment = category * INSTANCE_STRIDE + counts[category]
        ids[masks[ann["id"]]] = segment
        category_of[segment] = category
        iscrowd_of[segment] = int(bool(ann.get("iscrowd", 0)))
    return ids, category_of, iscrowd_of


@dataclass(frozen=True)
class _Job:
    image: dict
    annotations: list[dict]
    image_path: str
    map_path: str
    instances_json: str
    out: str


def _convert_image(job: _Job) -> dict:
    """Write one panoptic PNG and link its image; return its annotation."""
    height, width = job.image["height"], job.image["width"]
    (map_w, map_h), _ = image_size(job.map_path, "stuffthingmap")
    if (map_w, map_h) != (width, height):
        raise DatasetError(job.map_path, f"stuffthingmap is {map_w}x{map_h} (WxH) but image {job.image['id']} is "
                                         f"{width}x{height} in {Path(job.instances_json).name}")
    classes = stuff_classes(read_class_ids(job.map_path, "stuffthingmap"), job.map_path)
    masks = {a["id"]: annotation_mask(a["segmentation"], height, width, job.instances_json,
                                      f"annotation {a['id']!r} (image {job.image['id']})") for a in job.annotations}
    try:
        ids, category_of, iscrowd_of = panoptic_ids(classes, job.annotations, masks)
    except ValueError as exc:
        raise DatasetError(job.instances_json, f"image {job.image['id']}: {exc}") from None
    stem = Path(job.image["file_name"]).stem
    out = Path(job.out)
    write_png(out / PANOPTIC_DIR / f"{stem}.png", id2rgb(ids))
    link_or_copy(job.image_path, out / IMAGES_DIR / job.image["file_name"])
    return {"image_id": job.image["id"], "file_name": f"{stem}.png",
            "segments_info": make_segments_info(ids, category_of, iscrowd_of)}


def _read_instances(path: Path) -> dict:
    """COCO's instances JSON, checked for what the conversion reads."""
    data = read_json(path)
    if not isinstance(data, dict) or not all(isinstance(data.get(k), list) for k in ("images", "annotations", "categories")):
        raise DatasetError(path, "expected COCO's instances JSON (an object with the lists images, annotations, categories)")
    for i, image in enumerate(data["images"]):
        raise_first((str(path), p) for p in entry_problems(image, INSTANCES_IMAGE, f"images[{i}]"))
    for i, ann in enumerate(data["annotations"]):
        raise_first((str(path), p) for p in entry_problems(ann, INSTANCES_ANNOTATION, f"annotations[{i}]"))
        if not 1 <= ann["category_id"] <= NUM_THING_IDS:
            raise DatasetError(path, f"annotations[{i}]: category_id {ann['category_id']} is not a COCO thing id (1..91)")
    for category in data["categories"]:
        cid = category.get("id") if isinstance(category, dict) else None
        if not (isinstance(cid, int) and 1 <= cid <= NUM_THING_IDS and category.get("name") == COCO_STUFF_NAMES[cid - 1]):
            raise DatasetError(path, f"category {category!r} is not one of COCO's thing categories (ids 1..91 with "
                                     "COCO's names): is this COCO's instances_<split>.json?")
    return data


def convert_coco_stuff(images: str | Path, stuffthingmaps: str | Path, instances: str | Path, out: str | Path,
                       workers: int | None = None, progress: bool = True) -> Path:
    """Convert one split of COCO-Stuff (the split's images folder, its stuffthingmaps folder and
    COCO's instances JSON of the split) into a COCO-panoptic dataset at `out` with the 182
    COCO-Stuff categories; built beside `out` and renamed into place; return `out`. Images keep
    the instances JSON's order and integer ids."""
    images, maps, instances = Path(images), Path(stuffthingmaps), Path(instances)
    for folder in (images, maps):
        if not folder.is_dir():
            raise DatasetError(folder, "folder is missing")
    data = _read_instances(instances)
    by_image: dict[int, list[dict]] = {}
    for ann in data["annotations"]:
        by_image.setdefault(ann["image_id"], []).append(ann)
    known = {image["id"] for image in data["images"]}
    orphan = next((i for i in by_image if i not in known), None)
    if orphan is not None:
        raise DatasetError(instances, f"annotations refer to image {orphan}, which is not in images")
    with output_folder(out) as staging:
        jobs = []
        for image in data["images"]:
            entry = f"image {image['id']}"
            image_path = confined(images, image["file_name"], source=instances, entry=entry)
            map_path = confined(maps, f"{Path(image['file_name']).stem}.png", source=instances, entry=entry)
            for path, kind in ((image_path, "image"), (map_path, "stuffthingmap")):
                if not path.is_file():
                    raise DatasetError(path, f"{kind} file is missing (named by {entry} of {instances.name})")
            jobs.append(_Job(image, by_image.get(image["id"], []), str(image_path), str(map_path), str(instances),
                             str(staging)))
        annotations = parallel_map(_convert_image, jobs, workers=workers, description="COCO-Stuff", progress=progress)
        entries = [{k: image[k] for k in ("id", "file_name", "height", "width")} for image in data["images"]]
        write_panoptic_json(staging, entries, annotations, coco_stuff_categories(),
                            info={"description": f"COCO-Stuff ({maps.name}) in COCO panoptic format: stuff from the "
                                                 "stuffthingmaps, things from COCO's instance annotations"})
        validate_dataset(PanopticDataset.load(staging))
    return Path(out)
