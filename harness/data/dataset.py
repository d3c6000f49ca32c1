"""A COCO-panoptic dataset on disk (ARCHITECTURE.md, "Dataset layout"), in panbench's layout:

    <root>/images/<name>.{jpg,png}     RGB image
    <root>/panoptic/<name>.png         segment id = R + 256·G + 256²·B, 0 = void
    <root>/panoptic.json               images, annotations, categories

or read in place in COCO's official panoptic layout, one split of a COCO root (no 118k links):

    <root>/<split>/                    images (train2017/000000000009.jpg)
    <root>/annotations/panoptic_<split>/        label PNGs
    <root>/annotations/panoptic_<split>.json    images, annotations, categories

A dataset is named by one path, its *location*: the root folder (panbench's layout) or the split's
JSON (COCO's layout), so the run store, caches and loaders pass one path whichever the layout.

Reading (pure: `load` parses the JSON and nothing else; `harness.data.validate` checks a dataset),
per-sample access with every file name confined to its folder (`harness.data.paths`), and
writing one sample at a time with the JSON last."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from harness.atomic import encode_png, write_bytes, write_json
from harness.data.images import encode_image, read_class_ids, read_ids, read_rgb
from harness.data.label_maps import LABEL_MAPS_KEY, LabelMaps, label_map_path, label_maps_of, read_label_map
from harness.data.panoptic_format import id2rgb, make_segments_info
from harness.data.paths import confined, name_problem
from harness.data.schema import dataset_top_problems, raise_first, read_json
from harness.errors import DatasetError

IMAGES_DIR = "images"
PANOPTIC_DIR = "panoptic"
PANOPTIC_JSON = "panoptic.json"
# side files `panbench data export` adds for detectron2 / mmdetection (harness.data.export)
INSTANCES_JSON = "instances.json"
SEMANTIC_DIR = "semantic"
THINGS_FIRST_JSON = "panoptic_things_first.json"


@dataclass(frozen=True)
class Layout:
    """Where a dataset's JSON, images and label PNGs lie, relative to its root."""

    json: str
    images: str
    panoptic: str


PANBENCH_LAYOUT = Layout(PANOPTIC_JSON, IMAGES_DIR, PANOPTIC_DIR)
COCO_ANNOTATIONS = "annotations"
COCO_JSON_PREFIX = "panoptic_"
COCO_LAYOUT_HELP = ("COCO's official panoptic layout: annotations/panoptic_<split>.json, "
                    "annotations/panoptic_<split>/ and <split>/ under the COCO root")


def coco_layout(split: str) -> Layout:
    """COCO's official layout of one split (`train2017`, `val2017`)."""
    problem = name_problem(split)
    if problem is not None or "/" in split or "\\" in split:
        raise DatasetError(split, f"is not a split name such as train2017 ({problem or 'contains a folder separator'})")
    return Layout(f"{COCO_ANNOTATIONS}/{COCO_JSON_PREFIX}{split}.json", split, f"{COCO_ANNOTATIONS}/{COCO_JSON_PREFIX}{split}")


def dataset_location(root: str | Path, split: str | None = None) -> Path:
    """The one path naming a dataset: `root` (panbench's layout), or with a `split` the split's
    JSON in COCO's official layout."""
    return Path(root) if split is None else Path(root) / coco_layout(split).json


def resolve_location(location: str | Path) -> tuple[Path, Layout]:
    """(root, layout) of a dataset location: a folder is a root in panbench's layout; a JSON file
    must be `<root>/annotations/panoptic_<split>.json` of COCO's official layout."""
    location = Path(location)
    if location.suffix.lower() != ".json":
        return location, PANBENCH_LAYOUT
    stem, parent = location.stem, location.parent
    if parent.name != COCO_ANNOTATIONS or not stem.startswith(COCO_JSON_PREFIX) or stem == COCO_JSON_PREFIX:
        raise DatasetError(location, f"a dataset named by its JSON must be in {COCO_LAYOUT_HELP}")
    return parent.parent, coco_layout(stem[len(COCO_JSON_PREFIX):])


@dataclass
class PanopticDataset:
    root: Path
    images: list[dict]
    annotations: list[dict]
    categories: list[dict]
    extra: dict[str, Any] = field(default_factory=dict)
    allow_outside_links: bool = False  # follow symlinks in images/ and panoptic/ that lead out of them
    layout: Layout = PANBENCH_LAYOUT

    @classmethod
    def load(cls, location: str | Path, allow_outside_links: bool = False, split: str | None = None
             ) -> "PanopticDataset":
        """Parse the dataset's JSON (an object holding the lists images, annotations and
        categories); no other file is opened and no entry is checked. `location`: a root in
        panbench's layout, a split JSON in COCO's, or a COCO root with `split`."""
        root, layout = resolve_location(dataset_location(location, split))
        json_path = root / layout.json
        if not json_path.is_file():
            hint = "is this a COCO-panoptic dataset root?" if layout == PANBENCH_LAYOUT else f"expected {COCO_LAYOUT_HELP}"
            raise DatasetError(json_path, f"file is missing ({hint})")
        data = read_json(json_path)
        raise_first(dataset_top_problems(data, json_path))
        extra = {k: v for k, v in data.items() if k not in ("images", "annotations", "categories")}
        return cls(root, data["images"], data["annotations"], data["categories"], extra, allow_outside_links, layout)

    # --- lookup -------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.images)

    @property
    def json_path(self) -> Path:
        return self.root / self.layout.json

    @property
    def images_dir(self) -> Path:
        return self.root / self.layout.images

    @property
    def panoptic_dir(self) -> Path:
        return self.root / self.layout.panoptic

    @property
    def location(self) -> Path:
        """The path `load` takes back: the root, or the split JSON of COCO's layout."""
        return self.root if self.layout == PANBENCH_LAYOUT else self.json_path

    def annotation_for(self, image_id: Any) -> dict:
        if not hasattr(self, "_ann_by_id"):
            self._ann_by_id = {a["image_id"]: a for a in self.annotations}
        try:
            return self._ann_by_id[image_id]
        except KeyError:
            raise DatasetError(self.json_path, f"image {image_id!r} has no annotation") from None

    def category_map(self) -> dict[int, dict]:
        return {int(c["id"]): c for c in self.categories}

    def image_path(self, image: dict) -> Path:
        """`images/<file_name>` (COCO: `<split>/<file_name>`), confined to that folder (a
        DatasetError naming the JSON otherwise)."""
        return confined(self.images_dir, image.get("file_name"), source=self.json_path,
                        entry=f"image {image.get('id')!r}", allow_outside_links=self.allow_outside_links)

    def label_path(self, annotation: dict) -> Path:
        """`panoptic/<file_name>` (COCO: `annotations/panoptic_<split>/<file_name>`), confined to it."""
        return confined(self.panoptic_dir, annotation.get("file_name"), source=self.json_path,
                        entry=f"annotation of image {annotation.get('image_id')!r}",
                        allow_outside_links=self.allow_outside_links)

    @property
    def label_maps(self) -> LabelMaps | None:
        """The class-id maps kept beside the panoptic PNGs (`label_maps` in the JSON), if any."""
        return label_maps_of(self.extra, self.json_path)

    def label_map_path(self, annotation: dict) -> Path:
        """`<root>/<label_maps.dir>/<file_name>`, confined to the root (harness.data.label_maps)."""
        maps = self.label_maps
        if maps is None:
            raise DatasetError(self.json_path, f"has no {LABEL_MAPS_KEY} (e.g. `panbench data cityscapes --label-ids`)")
        return label_map_path(self.root, maps, annotation, self.json_path, self.allow_outside_links)

    def read_label_map(self, index: int) -> np.ndarray:
        """(H, W) int64 class ids of image `index`'s label map (e.g. Cityscapes' 35 label ids), each
        below the declared `num_classes` or 255 (no label)."""
        annotation = self.annotation_for(self.images[index]["id"])
        return read_label_map(self.label_map_path(annotation), self.label_maps.num_classes)

    def instance_map_path(self, annotation: dict) -> Path:
        """`<root>/<label_maps.instance_dir>/<file_name>`, confined to the root."""
        maps = self.label_maps
        if maps is None or maps.instance_dir is None:
            raise DatasetError(self.json_path, f"has no {LABEL_MAPS_KEY}.instance_dir "
                                               "(`panbench data cityscapes --label-ids` keeps Cityscapes' instanceIds)")
        return label_map_path(self.root, maps, annotation, self.json_path, self.allow_outside_links, instances=True)

    def read_instance_map(self, index: int) -> np.ndarray | None:
        """(H, W) int64 instance ids of image `index` (SPADE's instance map), None when none are kept."""
        maps = self.label_maps
        if maps is None or maps.instance_dir is None:
            return None
        return read_class_ids(self.instance_map_path(self.annotation_for(self.images[index]["id"])), "instance map")

    def read_image(self, index: int) -> np.ndarray:
        return read_rgb(self.image_path(self.images[index]))

    def read_ids(self, index: int) -> np.ndarray:
        return read_ids(self.label_path(self.annotation_for(self.images[index]["id"])))

    def samples(self) -> Iterator[tuple[dict, dict]]:
        """(image entry, annotation) pairs in the order of `images`."""
        for image in self.images:
            yield image, self.annotation_for(image["id"])

    def to_json(self) -> dict:
        return {**self.extra, "images": self.images, "annotations": self.annotations, "categories": self.categories}

    def save_json(self) -> None:
        write_json(self.json_path, self.to_json(), indent=None)


def write_sample(root: str | Path, name: str, image: np.ndarray, ids: np.ndarray, category_of: dict[int, int],
                 iscrowd_of: dict[int, int] | None = None, image_id: Any = None,
                 image_format: str = "png", **image_fields: Any) -> tuple[dict, dict]:
    """Write one image + panoptic PNG atomically under `root` (names derived from `name`); return
    its `images` entry and its annotation (segments_info with area and bbox recomputed from `ids`)."""
    root = Path(root)
    image_id = name if image_id is None else image_id
    image_file = f"{name}.{image_format}"
    write_bytes(root / IMAGES_DIR / image_file, encode_image(image, image_format))
    write_bytes(root / PANOPTIC_DIR / f"{name}.png", encode_png(id2rgb(ids)))
    height, width = ids.shape
    entry = {"id": image_id, "file_name": image_file, "height": int(height), "width": int(width), **image_fields}
    annotation = {"image_id": image_id, "file_name": f"{name}.png",
                  "segments_info": make_segments_info(ids, category_of, iscrowd_of)}
    return entry, annotation


def write_panoptic_json(root: str | Path, images: list[dict], annotations: list[dict], categories: list[dict],
                        **extra: Any) -> Path:
    """Write `<root>/panoptic.json` atomically (last, so a dataset with a JSON is complete)."""
    path = Path(root) / PANOPTIC_JSON
    write_json(path, {**extra, "images": images, "annotations": annotations, "categories": categories}, indent=None)
    return path


def ground_truth_json(ds: PanopticDataset, images: list[dict], out_dir: Path) -> Path:
    """The ground-truth JSON an evaluation of `images` reads: the dataset's own when it is all of
    them, else a copy restricted to them in `out_dir` (gt_subset.json)."""
    if len(images) == len(ds.images):
        return ds.json_path
    keep = {im["id"] for im in images}
    path = out_dir / "gt_subset.json"
    write_json(path, {**ds.to_json(), "images": images,
                      "annotations": [a for a in ds.annotations if a["image_id"] in keep]}, indent=None)
    return path
