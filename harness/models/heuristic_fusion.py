"""Seamless Scene Segmentation's panoptic fusion (Porzi et al., CVPR 2019; seamseg's
PanopticPreprocessing): instances by decreasing score, each dropped when more than
`overlap_thresh` of its mask is already taken, otherwise it claims its free pixels; the rest of the
image takes the semantic prediction (stuff only; a thing class there is void)."""

from __future__ import annotations

from dataclasses import dataclass

import torch


def fuse_instances(masks: torch.Tensor, scores: torch.Tensor, *, score_thresh: float = 0.5,
                   overlap_thresh: float = 0.5) -> torch.Tensor:
    """masks (N, H, W) bool, scores (N,) -> (H, W) long: index of the instance owning each pixel,
    -1 where none does. Loops over instances only."""
    owner = torch.full(masks.shape[-2:], -1, dtype=torch.long, device=masks.device)
    for i in torch.argsort(scores, descending=True).tolist():
        if scores[i] < score_thresh:
            break
        area = masks[i].sum()
        free = masks[i] & (owner < 0)
        if area == 0 or (area - free.sum()) > overlap_thresh * area:
            continue
        owner[free] = i
    return owner


@dataclass(frozen=True)
class HeuristicFusion:
    """seamseg's test-time defaults: score 0.5, overlap 0.5 (its `--min_area` is `stuff_area_limit`)."""

    score_thresh: float = 0.5
    overlap_thresh: float = 0.5

    trains_panoptic = False

    def assign(self, semantic_logits: torch.Tensor, boxes: torch.Tensor, scores: torch.Tensor, labels: torch.Tensor,
               mask_logits: torch.Tensor, *, label_to_train_id: torch.Tensor, stuff_train_ids: torch.Tensor,
               thing_train_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Same contract as `UPSNetFusion.assign`: (instance index map, stuff train-id map), -1 = none."""
        instance_map = fuse_instances(mask_logits > 0, scores, score_thresh=self.score_thresh,
                                      overlap_thresh=self.overlap_thresh)
        semantic = semantic_logits.argmax(dim=0)
        is_stuff = torch.isin(semantic, stuff_train_ids)
        return instance_map, torch.where(is_stuff, semantic, torch.full_like(semantic, -1))
