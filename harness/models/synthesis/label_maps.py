"""The generator's and discriminator's label input, derived from a batch's semantic and panoptic
maps as NVlabs/SPADE's `pix2pix_model.preprocess_input` does: a one-hot semantic map (with its
"dontcare" channel for the ignore label) plus the instance-boundary channel, and the nearest
resizing every scale of the generator uses. Pure torch and vectorised, so the data loader can call
the same functions on the CPU."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from harness.data.categories import IGNORE_LABEL


def one_hot_semantic(semantic: torch.Tensor, num_classes: int, dontcare_label: bool = True) -> torch.Tensor:
    """(N, H, W) class indices -> (N, num_classes [+ 1], H, W) float one-hot. With `dontcare_label`
    (SPADE's `--contain_dontcare_label`, set for COCO-Stuff) the ignore label `IGNORE_LABEL` goes to
    one extra channel, as SPADE maps 255 to `label_nc`; without it the map must hold classes only."""
    semantic = semantic.long()
    valid = (semantic >= 0) & (semantic < num_classes)
    if dontcare_label:
        semantic = torch.where(semantic == IGNORE_LABEL, num_classes, semantic)
        valid |= semantic == num_classes
    if not bool(valid.all()):
        bad = sorted(set(semantic[~valid].unique().tolist()))[:5]
        fix = "" if dontcare_label else f" (use dontcare_label=true for the ignore label {IGNORE_LABEL})"
        raise ValueError(f"semantic map holds labels {bad} outside 0..{num_classes - 1}{fix}")
    channels = num_classes + int(dontcare_label)
    return F.one_hot(semantic, channels).permute(0, 3, 1, 2).float()


def instance_edges(panoptic: torch.Tensor) -> torch.Tensor:
    """SPADE's boundary map (`get_edges`): (N, H, W) ids -> (N, 1, H, W) float, 1 where any
    4-neighbour has another id (paper §2: 'set to 1 if its object identity is different from any
    of its 4 neighbors'); both pixels of each differing pair are marked. SPADE's ids are an instance
    map in which every non-instance pixel carries its label id (Cityscapes' instanceIds)."""
    edge = torch.zeros_like(panoptic, dtype=torch.bool)
    horizontal = panoptic[:, :, 1:] != panoptic[:, :, :-1]
    vertical = panoptic[:, 1:, :] != panoptic[:, :-1, :]
    edge[:, :, 1:] |= horizontal
    edge[:, :, :-1] |= horizontal
    edge[:, 1:, :] |= vertical
    edge[:, :-1, :] |= vertical
    return edge.unsqueeze(1).float()


def label_input(semantic: torch.Tensor, instances: torch.Tensor, num_classes: int, *, dontcare_label: bool = True,
                edges: bool = True) -> torch.Tensor:
    """The label channels SPADE feeds its generator and discriminator: one-hot semantic map, then
    (with `edges`) the boundary channel of the instance map (or the panoptic ids). (N, C, H, W) float."""
    onehot = one_hot_semantic(semantic, num_classes, dontcare_label)
    return torch.cat([onehot, instance_edges(instances)], dim=1) if edges else onehot


def label_channels(num_classes: int, *, dontcare_label: bool = True, edges: bool = True) -> int:
    return num_classes + int(dontcare_label) + int(edges)


def nearest_indices(in_size: int, out_size: int, device: torch.device | None = None) -> torch.Tensor:
    """The source index of every output position of torch's 'nearest' resize (floor(i * in / out),
    in float32 as ATen computes it), so id maps resize exactly as F.interpolate resizes the float
    label map (F.interpolate itself refuses integer tensors)."""
    scale = in_size / out_size
    return (torch.arange(out_size, device=device, dtype=torch.float32) * scale).floor().long().clamp(max=in_size - 1)


def resize_nearest(t: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Nearest resize of (N, H, W) id maps or (N, C, H, W) maps to `size`, any dtype, with
    F.interpolate(mode='nearest')'s choice of source pixels."""
    h, w = t.shape[-2:]
    if (h, w) == tuple(size):
        return t
    rows = nearest_indices(h, size[0], t.device)
    cols = nearest_indices(w, size[1], t.device)
    return t.index_select(-2, rows).index_select(-1, cols)
