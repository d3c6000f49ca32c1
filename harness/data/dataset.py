"""A COCO-panoptic dataset on disk (DESIGN.md contract):

    <root>/images/<name>.{jpg,png}     RGB image
    <root>/panoptic/<name>.png         segment id = R + 256·G + 256²·B, 0 = void
    <root>/panoptic.json               images, annotations, categories

Reading, writing and per-sample access; `load` runs the validator unless told not to."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
from PIL import Image, UnidentifiedImageError

from harness.atomic import encode_png, write_bytes, write_json
from harness.data.panoptic_format import id2rgb, make_segments_info, rgb2id
from harness.errors import DatasetError

IMAGES_DIR = "images"
PANOPTIC_DIR = "panoptic"
PANOPTIC_JSON = "panoptic.json"


def read_rgb(path: str | Path, kind: str = "image") -> np.ndarray:
    """Decode an image file to (H, W, 3) uint8, or raise DatasetError naming the file (and `kind`)."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(path, f"{kind} file is missing")
    try:
        with Image.open(path) as im:
            im.load()
            return np.asarray(im.convert("RGB"))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise DatasetError(path, f"unreadable or corrupt {kind} ({exc})") from None


def read_ids(path: str | Path) -> np.ndarray:
    """Decode a panoptic PNG to (H, W) uint32 segment ids."""
    return rgb2id(read_rgb(path, kind="label"))


def read_json(path: str | Path) -> Any:
    """Parse a JSON file, or raise DatasetError naming it (missing, undecodable or invalid)."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(path, "file is missing")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DatasetError(path, f"invalid JSON ({exc})") from None


@dataclass
class PanopticDataset:
    root: Path
    images: list[dict]
    annotations: list[dict]
    categories: list[dict]
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, root: str | Path, validate: bool = True) -> "PanopticDataset":
        root = Path(root)
        json_path = root / PANOPTIC_JSON
        if not json_path.is_file():
            raise DatasetError(json_path, "file is missing (is this a COCO-panoptic dataset root?)")
        data = read_json(json_path)
        for key in ("images", "annotations", "categories"):
            if key not in data:
                raise DatasetError(json_path, f"missing top-level key '{key}'")
        extra = {k: v for k, v in data.items() if k not in ("images", "annotations", "categories")}
        ds = cls(root, data["images"], data["annotations"], data["categories"], extra)
        if validate:
            from harness.data.validate import validate_dataset

            validate_dataset(ds)
        return ds

    # --- lookup -------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.images)

    @property
    def json_path(self) -> Path:
        return self.root / PANOPTIC_JSON

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
        return self.root / IMAGES_DIR / image["file_name"]

    def label_path(self, annotation: dict) -> Path:
        return self.root / PANOPTIC_DIR / annotation["file_name"]

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


def encode_image(image: np.ndarray, image_format: str = "png") -> bytes:
    """(H, W, 3) uint8 -> file bytes: lossless PNG, or JPEG at quality 95 (`jpg`)."""
    if image_format == "png":
        return encode_png(image)
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=95)
    return buf.getvalue()


def write_sample(root: str | Path, name: str, image: np.ndarray, ids: np.ndarray, category_of: dict[int, int],
                 iscrowd_of: dict[int, int] | None = None, image_id: Any = None,
                 image_format: str = "png", **image_fields: Any) -> tuple[dict, dict]:
    """Write one image + panoptic PNG atomically; return its `images` entry and its annotation
    (segments_info with area and bbox recomputed from `ids`)."""
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
