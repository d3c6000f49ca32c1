"""Class-id label maps beside a COCO-panoptic dataset: the semantic input of a synthesis model when
it is finer than the panoptic categories (SPADE and the synthesis paper, Sec. 4, feed Cityscapes'
generator all 35 label ids; the evaluation keeps the 19 categories of the panoptic annotation).

A dataset declares them at the top of its panoptic.json,

    "label_maps": {"dir": "label_ids", "num_classes": 35}

and holds `<root>/<dir>/<the annotation's panoptic file_name>` for every annotation: one-channel
PNGs of class ids 0 .. num_classes - 1 (Cityscapes label ids 0..33), 255 = no label. The folder and
every file stay inside the dataset (harness.data.paths)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.data.categories import IGNORE_LABEL
from harness.data.dataset import PanopticDataset
from harness.data.images import read_class_ids
from harness.data.paths import confined
from harness.errors import DatasetError

LABEL_MAPS_KEY = "label_maps"
KIND = "label-id map"


@dataclass(frozen=True)
class LabelMaps:
    """The declared label maps of one dataset."""

    root: Path
    dir: str  # relative to the dataset root
    num_classes: int
    source: Path  # the panoptic.json that declares them
    allow_outside_links: bool = False

    @classmethod
    def of(cls, ds: PanopticDataset) -> "LabelMaps | None":
        """The dataset's label maps, None when it declares none; a malformed declaration is one
        DatasetError naming the JSON."""
        declared = ds.extra.get(LABEL_MAPS_KEY)
        if declared is None:
            return None
        where = f"{LABEL_MAPS_KEY}: "
        if not isinstance(declared, dict) or set(declared) != {"dir", "num_classes"}:
            raise DatasetError(ds.json_path, where + 'expected {"dir": FOLDER, "num_classes": K}, got '
                                                     f"{declared!r}")
        count = declared["num_classes"]
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= IGNORE_LABEL:
            raise DatasetError(ds.json_path, where + f"num_classes must be an integer in 1..{IGNORE_LABEL}, "
                                                     f"got {count!r}")
        confined(ds.root, declared["dir"], source=ds.json_path, entry=f"{LABEL_MAPS_KEY}.dir",
                 allow_outside_links=ds.allow_outside_links)
        return cls(ds.root, declared["dir"], count, ds.json_path, ds.allow_outside_links)

    @property
    def folder(self) -> Path:
        return self.root / self.dir

    def path(self, annotation: dict) -> Path:
        """`<dir>/<the annotation's file_name>`, confined to that folder."""
        return confined(self.folder, annotation.get("file_name"), source=self.source,
                        entry=f"label map of image {annotation.get('image_id')!r}",
                        allow_outside_links=self.allow_outside_links)

    def read(self, annotation: dict) -> np.ndarray:
        """(H, W) int64 class ids of the annotation's map; ids outside 0..K-1 other than 255 are a
        DatasetError naming the file."""
        path = self.path(annotation)
        ids = read_class_ids(path, kind=KIND)
        bad = np.unique(ids[(ids >= self.num_classes) & (ids != IGNORE_LABEL)])
        if bad.size:
            raise DatasetError(path, f"{KIND} holds class ids {bad[:5].tolist()} outside 0..{self.num_classes - 1} "
                                     f"(num_classes {self.num_classes} in {self.source.name}; "
                                     f"{IGNORE_LABEL} = no label)")
        return ids
