"""Turning per-pixel decisions into a COCO-panoptic prediction: segment ids, `segments_info`, and
the small-stuff rule both papers apply (stuff regions under `stuff_area_limit` pixels become void:
2048 px in UPSNet's Cityscapes test config, 64x64 in seamseg's)."""

from __future__ import annotations

import torch

VOID = -1
THING_ID_BASE = 1000  # segment id = category_id * 1000 (+ k for the k-th instance), unique per image


def compose_panoptic(instance_map: torch.Tensor, stuff_map: torch.Tensor, stuff_scores: torch.Tensor, *,
                     instance_category_ids: torch.Tensor, instance_scores: torch.Tensor,
                     category_ids: tuple[int, ...], stuff_area_limit: int) -> tuple[torch.Tensor, list[dict]]:
    """instance_map (H, W): instance index or -1; stuff_map (H, W): train id of a stuff class or -1,
    used where instance_map is -1; stuff_scores (H, W): the semantic probability of each pixel's
    stuff class. -> (H, W) long segment ids (0 void) and segments_info with
    {id, category_id, isthing, score} (stuff score: mean probability over the segment)."""
    panoptic = torch.zeros(instance_map.shape, dtype=torch.long, device=instance_map.device)
    segments = []
    stuff_map = torch.where(instance_map >= 0, torch.full_like(stuff_map, VOID), stuff_map)
    num_classes = len(category_ids)
    areas = torch.bincount(stuff_map[stuff_map >= 0], minlength=num_classes)
    score_sums = torch.bincount(stuff_map[stuff_map >= 0], weights=stuff_scores[stuff_map >= 0].float(),
                                minlength=num_classes)
    category_of_train_id = torch.tensor(category_ids, dtype=torch.long, device=panoptic.device)
    keep_class = areas >= max(stuff_area_limit, 1)
    kept_stuff = keep_class[stuff_map.clamp(min=0)] & (stuff_map >= 0)
    panoptic[kept_stuff] = category_of_train_id[stuff_map[kept_stuff]] * THING_ID_BASE
    for train_id in torch.nonzero(keep_class).flatten().tolist():
        segments.append({"id": category_ids[train_id] * THING_ID_BASE, "category_id": category_ids[train_id],
                         "isthing": False, "score": float(score_sums[train_id] / areas[train_id])})
    counts = torch.bincount(instance_map[instance_map >= 0], minlength=len(instance_scores))
    present = torch.nonzero(counts).flatten()
    if len(present) >= THING_ID_BASE:
        raise ValueError(f"{len(present)} instances in one image: segment ids allow at most {THING_ID_BASE - 1}")
    ids_of_instance = torch.zeros(len(instance_scores), dtype=torch.long, device=panoptic.device)
    ids_of_instance[present] = instance_category_ids[present].long() * THING_ID_BASE + torch.arange(
        1, len(present) + 1, device=panoptic.device)
    is_instance = instance_map >= 0
    panoptic[is_instance] = ids_of_instance[instance_map[is_instance]]
    for i in present.tolist():
        segments.append({"id": int(ids_of_instance[i]), "category_id": int(instance_category_ids[i]),
                         "isthing": True, "score": float(instance_scores[i])})
    return panoptic, segments
