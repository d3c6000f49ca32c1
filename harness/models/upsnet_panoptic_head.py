"""UPSNet's parameter-free panoptic head (Xiong et al., CVPR 2019), as pure tensor functions.

Panoptic logits of one image: the S stuff channels of the semantic logits X, one channel per
instance i, Z_i = Y_i + X_mask_i (Y_i: the semantic logits of i's class inside its box, zero
outside; X_mask_i: i's mask logits pasted into its box), and optionally an "unknown" channel
max_c X_thing,c - max_i Y_i, which wins where the semantic head sees a thing no instance explains
(its "unknown prediction"). A softmax over the channels lets stuff and instances compete
per pixel; the panoptic cross-entropy trains all heads through it."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torchvision.ops import nms

from harness.models.paste import box_masks


def panoptic_logits(semantic_logits: torch.Tensor, mask_logits: torch.Tensor, boxes: torch.Tensor,
                    instance_train_ids: torch.Tensor, stuff_train_ids: torch.Tensor, thing_train_ids: torch.Tensor,
                    *, with_unknown: bool, stride: int = 1) -> torch.Tensor:
    """semantic_logits (C, H, W) on a grid of `stride` image pixels; mask_logits (N, H, W) pasted on
    that grid (zero outside boxes); boxes (N, 4) in image pixels; instance_train_ids (N,) the
    semantic channel of each instance's class -> (S + N [+ 1], H, W) logits: stuff channels,
    instance channels, [unknown]."""
    height, width = semantic_logits.shape[-2:]
    inside = box_masks(boxes, height, width, stride)
    instance_semantic = semantic_logits[instance_train_ids] * inside  # Y_i, (N, H, W)
    parts = [semantic_logits[stuff_train_ids], instance_semantic + mask_logits]
    if with_unknown:
        max_thing = semantic_logits[thing_train_ids].amax(dim=0)
        # outside every box Y_i = 0, so with no instance at all max_i Y_i is 0 too
        max_instance = instance_semantic.amax(dim=0) if len(instance_semantic) else torch.zeros_like(max_thing)
        parts.append((max_thing - max_instance)[None])
    return torch.cat(parts, dim=0)


def panoptic_training_target(panoptic_target: torch.Tensor, keep: torch.Tensor, *, num_stuff: int,
                             num_instances: int) -> torch.Tensor:
    """Re-index a `panoptic_target` (stuff 0..S-1, instance S+i for i < `num_instances`, 255 ignore)
    for the kept instances `keep`: instance `keep[j]` -> S + j, a dropped instance -> S + len(keep),
    the unknown class. UPSNet trains "unknown" by hiding a random 30 % of the ground-truth boxes from
    the panoptic head (`panoptic_box_keep_fraction` = 0.7 in its Cityscapes config)."""
    lut = torch.arange(num_stuff + num_instances + 1, device=panoptic_target.device)
    lut[num_stuff:num_stuff + num_instances] = num_stuff + len(keep)
    lut[num_stuff + keep] = num_stuff + torch.arange(len(keep), device=lut.device)
    lut[-1] = 255
    void = panoptic_target == 255
    return lut[torch.where(void, torch.full_like(panoptic_target, len(lut) - 1), panoptic_target)]


def select_instances(boxes: torch.Tensor, scores: torch.Tensor, labels: torch.Tensor, masks: torch.Tensor, *,
                     score_thresh: float, nms_thresh: float = 0.5, max_overlap: float = 0.3) -> torch.Tensor:
    """Indices of the detections UPSNet hands to its panoptic head at test time: score above
    `score_thresh`, class-agnostic NMS at `nms_thresh`, then (UPSNet's MaskRemoval) greedily by
    score, drop an instance whose mask (`masks` (N, H, W) bool) lies more than `max_overlap` inside
    already kept instances of its own class. Loops over instances only."""
    candidates = torch.nonzero(scores >= score_thresh).flatten()
    candidates = candidates[nms(boxes[candidates], scores[candidates], nms_thresh)]  # sorted by score
    occupied: dict[int, torch.Tensor] = {}
    kept = []
    for i in candidates.tolist():
        area = masks[i].sum()
        label = int(labels[i])
        taken = occupied.get(label)
        overlap = (masks[i] & taken).sum() if taken is not None else 0
        if area == 0 or overlap > max_overlap * area:
            continue
        kept.append(i)
        occupied[label] = masks[i] if taken is None else taken | masks[i]
    return torch.tensor(kept, dtype=torch.long, device=boxes.device)


def resolve_semantic_conflicts(instance_map: torch.Tensor, stuff_map: torch.Tensor, semantic: torch.Tensor,
                               instance_train_ids: torch.Tensor, stuff_train_ids: torch.Tensor, *,
                               num_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """UPSNet's last test-time step (`get_unified_pan_result`): an instance whose pixels the
    semantic head (`semantic`, (H, W) train ids < `num_classes`) gives mostly (at least half) to
    one *stuff* class other than its own becomes that stuff; every other instance stays.
    instance_map indexes `instance_train_ids`. Vectorised: one (instance, class) histogram."""
    num_instances = len(instance_train_ids)
    owned = instance_map >= 0
    if num_instances == 0 or not owned.any():
        return instance_map, stuff_map
    counts = torch.bincount(instance_map[owned] * num_classes + semantic[owned],
                            minlength=num_instances * num_classes).view(num_instances, num_classes)
    share, majority = counts.max(dim=1)
    is_stuff = torch.zeros(num_classes, dtype=torch.bool, device=semantic.device)
    is_stuff[stuff_train_ids] = True
    to_stuff = (majority != instance_train_ids) & is_stuff[majority] & (2 * share >= counts.sum(dim=1))
    index = instance_map.clamp(min=0)
    relabel = owned & to_stuff[index]
    return (torch.where(relabel, torch.full_like(instance_map, -1), instance_map),
            torch.where(relabel, majority[index], stuff_map))


@dataclass(frozen=True)
class UPSNetFusion:
    """UPSNet's panoptic head as a fusion rule, with its Cityscapes defaults (`loss_weight` 0.5,
    `box_keep_fraction` 0.7, MaskRemoval overlap 0.3, class-agnostic NMS 0.5)."""

    score_thresh: float = 0.5
    nms_thresh: float = 0.5
    max_overlap: float = 0.3
    box_keep_fraction: float = 0.7
    loss_weight: float = 0.5
    with_unknown: bool = True

    trains_panoptic = True

    def assign(self, semantic_logits: torch.Tensor, boxes: torch.Tensor, scores: torch.Tensor, labels: torch.Tensor,
               mask_logits: torch.Tensor, *, label_to_train_id: torch.Tensor, stuff_train_ids: torch.Tensor,
               thing_train_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One image at output resolution -> (instance index map, stuff train-id map), -1 = none.
        Pixels won by the unknown channel are void in both."""
        keep = select_instances(boxes, scores, labels, mask_logits > 0, score_thresh=self.score_thresh,
                                nms_thresh=self.nms_thresh, max_overlap=self.max_overlap)
        logits = panoptic_logits(semantic_logits, mask_logits[keep], boxes[keep], label_to_train_id[labels[keep]],
                                 stuff_train_ids, thing_train_ids, with_unknown=self.with_unknown)
        choice = logits.argmax(dim=0)
        num_stuff, none = len(stuff_train_ids), torch.full_like(choice, -1)
        is_instance = (choice >= num_stuff) & (choice < num_stuff + len(keep))
        instance_map = none
        if len(keep):
            instance_map = torch.where(is_instance, keep[(choice - num_stuff).clamp(0, len(keep) - 1)], none)
        stuff_map = torch.where(choice < num_stuff, stuff_train_ids[choice.clamp(max=num_stuff - 1)], none)
        return resolve_semantic_conflicts(instance_map, stuff_map, semantic_logits.argmax(dim=0),
                                          label_to_train_id[labels], stuff_train_ids,
                                          num_classes=semantic_logits.shape[0])
