"""The three label spaces a panoptic model juggles, derived once from a dataset's `categories`:

- train id: the category's position in `categories` (semantic-head channel; Cityscapes' 19 train ids
  when `categories` is `CITYSCAPES_CATEGORIES`),
- thing label: 1..K over the thing categories in category order (Mask R-CNN's classes, 0 = background),
- stuff index: 0..S-1 over the stuff categories in category order (UPSNet's stuff channels)."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class LabelSpace:
    category_ids: tuple[int, ...]  # train id -> category id
    isthing: tuple[bool, ...]  # train id -> thing?

    @classmethod
    def from_categories(cls, categories: list[dict]) -> "LabelSpace":
        if not categories:
            raise ValueError("categories is empty: a panoptic model needs at least one category")
        ids = tuple(int(c["id"]) for c in categories)
        if len(set(ids)) != len(ids):
            raise ValueError(f"categories repeat an id: {sorted(ids)}")
        return cls(ids, tuple(bool(c["isthing"]) for c in categories))

    @property
    def num_classes(self) -> int:
        return len(self.category_ids)

    @property
    def thing_train_ids(self) -> list[int]:
        return [t for t, thing in enumerate(self.isthing) if thing]

    @property
    def stuff_train_ids(self) -> list[int]:
        return [t for t, thing in enumerate(self.isthing) if not thing]

    @property
    def num_things(self) -> int:
        return len(self.thing_train_ids)

    def train_id_of(self, category_id: int) -> int:
        return self.category_ids.index(category_id)

    def thing_label_of(self, category_id: int) -> int:
        """1..K; raises ValueError for a stuff or unknown category."""
        return self.thing_train_ids.index(self.train_id_of(category_id)) + 1

    def label_to_train_id(self) -> torch.Tensor:
        """(K+1,) long lookup: thing label -> train id (entry 0, background, maps to -1)."""
        return torch.tensor([-1] + self.thing_train_ids, dtype=torch.long)

    def label_to_category_id(self) -> torch.Tensor:
        return torch.tensor([0] + [self.category_ids[t] for t in self.thing_train_ids], dtype=torch.long)
