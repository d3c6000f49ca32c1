"""Cityscapes' 19 evaluation categories in COCO-panoptic form (Cityscapes label ids, colours and
train ids, as in cityscapesscripts' `labels.py`), used by synthetic scenes and the CPU models."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Category:
    id: int
    name: str
    isthing: bool
    color: tuple[int, int, int]
    train_id: int

    def to_json(self) -> dict:
        return {"id": self.id, "name": self.name, "supercategory": "thing" if self.isthing else "stuff",
                "isthing": int(self.isthing), "color": list(self.color)}


CITYSCAPES_CATEGORIES: tuple[Category, ...] = (
    Category(7, "road", False, (128, 64, 128), 0),
    Category(8, "sidewalk", False, (244, 35, 232), 1),
    Category(11, "building", False, (70, 70, 70), 2),
    Category(12, "wall", False, (102, 102, 156), 3),
    Category(13, "fence", False, (190, 153, 153), 4),
    Category(17, "pole", False, (153, 153, 153), 5),
    Category(19, "traffic light", False, (250, 170, 30), 6),
    Category(20, "traffic sign", False, (220, 220, 0), 7),
    Category(21, "vegetation", False, (107, 142, 35), 8),
    Category(22, "terrain", False, (152, 251, 152), 9),
    Category(23, "sky", False, (70, 130, 180), 10),
    Category(24, "person", True, (220, 20, 60), 11),
    Category(25, "rider", True, (255, 0, 0), 12),
    Category(26, "car", True, (0, 0, 142), 13),
    Category(27, "truck", True, (0, 0, 70), 14),
    Category(28, "bus", True, (0, 60, 100), 15),
    Category(31, "train", True, (0, 80, 100), 16),
    Category(32, "motorcycle", True, (0, 0, 230), 17),
    Category(33, "bicycle", True, (119, 11, 32), 18),
)

IGNORE_LABEL = 255


def categories_json(categories=CITYSCAPES_CATEGORIES) -> list[dict]:
    return [c.to_json() for c in categories]


def train_ids(categories: list[dict]) -> dict[int, int]:
    """category id -> train id = its position in `categories` (the semantic class index every model and
    metric uses; Cityscapes' own train ids for `categories_json()`)."""
    return {int(c["id"]): k for k, c in enumerate(categories)}
