"""Class-id label maps kept beside a dataset's panoptic PNGs: the source dataset's own label ids,
which a COCO-panoptic label cannot hold (its categories are the evaluation classes only).

On Cityscapes, SPADE and the synthesis paper feed the generator all 35 label ids of
`*_gtFine_labelIds.png` (`label_nc` 35; Sec. 4), while panoptic.json keeps the 19 evaluation
categories. `panbench data cityscapes --label-ids` therefore writes

    <root>/label_ids/<the annotation's panoptic file_name>   one-channel uint8, Cityscapes label ids 0..33,
                                                             255 = no label
    <root>/instance_ids/<the same file_name>                 Cityscapes' `*_gtFine_instanceIds.png`: 16-bit,
                                                             label id per stuff / void pixel, label id *
                                                             1000 + k per instance (SPADE's instance map)
    panoptic.json: "label_maps": {"dir": "label_ids", "num_classes": 35, "instance_dir": "instance_ids"}

The instance maps are what SPADE draws its boundary channel from (`get_edges`): every void class and
every instance of a class outside the 19 evaluation classes (caravan, trailer) keeps its own id, which
the panoptic PNG (void = 0) cannot say. `instance_dir` is optional; without it the boundary channel
comes from the panoptic segment ids.

The folder is named inside a user file, so it is confined to the root like every file name; a map
must be one-channel 8-bit, of its image's size, every value < num_classes or 255."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from harness.data.images import image_size, read_class_ids
from harness.data.paths import confined, name_problem
from harness.data.schema import Problem
from harness.errors import DatasetError

LABEL_MAPS_KEY = "label_maps"
NO_LABEL = 255
MAP_MODES = ("L", "P")  # one channel, 8 bits
INSTANCE_MODES = ("I;16", "I", "L")  # one channel of ids (Cityscapes' instanceIds: 16 bits)


@dataclass(frozen=True)
class LabelMaps:
    dir: str
    num_classes: int
    instance_dir: str | None = None

    def to_json(self) -> dict:
        return {"dir": self.dir, "num_classes": self.num_classes,
                **({"instance_dir": self.instance_dir} if self.instance_dir else {})}


def label_maps_of(extra: dict[str, Any], json_path: str | Path) -> LabelMaps | None:
    """The dataset's `label_maps` entry (None when it has none), or a DatasetError naming the JSON."""
    entry = extra.get(LABEL_MAPS_KEY)
    if entry is None:
        return None
    if not isinstance(entry, dict) or not {"dir", "num_classes"} <= set(entry) <= {"dir", "num_classes", "instance_dir"}:
        raise DatasetError(json_path, f"{LABEL_MAPS_KEY} must be {{\"dir\": FOLDER, \"num_classes\": K}} "
                                      f"(and optionally \"instance_dir\": FOLDER), got {entry!r}")
    folder, classes, instances = entry["dir"], entry["num_classes"], entry.get("instance_dir")
    for key, value in (("dir", folder), ("instance_dir", instances)):
        problem = name_problem(value) if key == "dir" or value is not None else None
        if problem is not None:
            raise DatasetError(json_path, f"{LABEL_MAPS_KEY}.{key} {value!r} {problem}")
    if not isinstance(classes, int) or isinstance(classes, bool) or not 1 <= classes <= NO_LABEL:
        raise DatasetError(json_path, f"{LABEL_MAPS_KEY}.num_classes must be an integer in 1..{NO_LABEL}, got {classes!r}")
    return LabelMaps(folder, classes, instances)


def label_map_path(root: Path, maps: LabelMaps, annotation: dict, json_path: str | Path,
                   allow_outside_links: bool = False, instances: bool = False) -> Path:
    """`<root>/<dir>/<annotation file_name>` (`instances`: `<instance_dir>/...`), the folder and the
    file confined to the root."""
    what = "instance map" if instances else "label map"
    folder = confined(root, maps.instance_dir if instances else maps.dir, source=json_path, entry=LABEL_MAPS_KEY,
                      allow_outside_links=allow_outside_links)
    return confined(folder, annotation.get("file_name"), source=json_path,
                    entry=f"{what} of image {annotation.get('image_id')!r}", allow_outside_links=allow_outside_links)


def read_label_map(path: str | Path, num_classes: int | None = None) -> np.ndarray:
    """(H, W) int64 label ids of a one-channel 8-bit map; with `num_classes`, an id neither below it
    nor NO_LABEL is a DatasetError naming the file."""
    ids = read_class_ids(path, "label map")
    if num_classes is not None:
        problem = _values_problem(np.unique(ids), num_classes)
        if problem is not None:
            raise DatasetError(path, problem)
    return ids


def _values_problem(values: np.ndarray, num_classes: int) -> str | None:
    bad = values[(values >= num_classes) & (values != NO_LABEL)]
    if not bad.size:
        return None
    return (f"label map holds id(s) {', '.join(map(str, bad[:5].tolist()))}, not below "
            f"num_classes {num_classes} nor {NO_LABEL} (no label)")


def header_problems(path: Path, image_wh: tuple[int, int], instances: bool = False) -> Iterator[Problem]:
    """Present, one channel (8-bit; an instance map: 8 or 16 bits), of the image's size; nothing decoded."""
    what, modes = ("instance map", INSTANCE_MODES) if instances else ("label map", MAP_MODES)
    try:
        (width, height), mode = image_size(path, what)
    except DatasetError as exc:
        yield exc.path, exc.problem
        return
    if mode not in modes:
        yield str(path), f"{what} has mode {mode}, expected one channel ({', '.join(modes)})"
    elif (width, height) != tuple(image_wh):
        yield str(path), f"{what} is {width}x{height} (WxH) but its image is {image_wh[0]}x{image_wh[1]}"


def value_problems(path: Path, num_classes: int) -> Iterator[Problem]:
    """Every value < num_classes or NO_LABEL (the whole map decoded, one vectorised pass)."""
    try:
        read_label_map(path, num_classes)
    except DatasetError as exc:
        yield exc.path, exc.problem
