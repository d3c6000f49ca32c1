"""Simple Copy-Paste (Ghiasi et al., "Simple Copy-Paste is a Strong Data Augmentation Method for
Instance Segmentation", CVPR 2021) for panoptic labels, a plugin of the augmentation door
(harness/panda/door.py).

Sec. 3 of the paper, followed here: two training images (the sample and `pool(rng)`, a draw of another
training sample), each independently flipped horizontally (p = 0.5) and scale-jittered by a factor
drawn uniformly from `scale_range` (large-scale jitter, LSJ: 0.1-2.0, the default; standard, SSJ:
0.8-1.25) then cropped or padded with void back to the sample's size; a random subset of the other
image's thing instances is pasted on top; destination objects that are fully occluded are removed and
partly occluded ones keep their visible pixels (area and bbox recomputed). Blending is the binary mask
(alpha = mask): the paper found Gaussian-blurred blending brought no gain (Sec. 3).

Choices the paper leaves open, and ours:
- Which instances: k ~ U{0, ..., min(N, max_pasted)} of the N non-crowd thing instances visible after
  jitter, without replacement (mmdetection's CopyPaste draws the same way; max_num_pasted = 100).
- Crowd regions are never pasted (one crowd segment covers several objects the paper would paste one
  by one); a destination crowd region, like stuff, loses the pasted pixels and is never dropped by the
  occlusion thresholds.
- Stuff: for panoptic labels pasted pixels take their area from the stuff underneath; a stuff segment
  left with no pixel is removed. Stuff of the other image is never pasted (the paper pastes objects).
- Partly occluded objects: besides the fully occluded ones (always removed), a destination thing is
  removed when its visible area is at most `mask_occluded_thr` pixels and its bbox moved by more than
  `bbox_occluded_thr` pixels (mmdetection's rule; its defaults 300 and 10). Our default
  `mask_occluded_thr = 0` keeps the paper's rule: only fully occluded objects are removed. A removed
  object's remaining pixels become void.
- Pasted segments get fresh ids above the destination's; the other image's frame is cropped / padded
  at its top left when its size differs from the sample's."""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import numpy as np

from harness.data.jitter import flip, rescale_fixed_size
from harness.data.panoptic_format import segment_stats

LSJ, SSJ = (0.1, 2.0), (0.8, 1.25)

Triple = tuple[np.ndarray, np.ndarray, list[dict]]


def scale_jitter(rng: np.random.Generator, image: np.ndarray, ids: np.ndarray, scale_range: Sequence[float],
                 hflip: float) -> tuple[np.ndarray, np.ndarray]:
    """One image's flip and scale jitter (Sec. 3), draws in a fixed order: flip, scale, offsets."""
    if rng.random() < hflip:
        image, ids = flip(image, ids)
    lo, hi = float(scale_range[0]), float(scale_range[1])
    scale = float(rng.uniform(lo, hi)) if hi > lo else lo
    return rescale_fixed_size(rng, image, ids, scale) if scale != 1.0 else (image, ids)


def fit_frame(image: np.ndarray, ids: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Crop or pad with void (black pixels) at the top left to `shape`."""
    if ids.shape == shape:
        return image, ids
    h, w = min(shape[0], ids.shape[0]), min(shape[1], ids.shape[1])
    out_image, out_ids = np.zeros((*shape, 3), np.uint8), np.zeros(shape, ids.dtype)
    out_image[:h, :w], out_ids[:h, :w] = image[:h, :w], ids[:h, :w]
    return out_image, out_ids


def copy_paste(image: np.ndarray, panoptic: np.ndarray, segments: list[dict], *, rng: np.random.Generator,
               pool: Callable[[np.random.Generator], Triple], categories: Mapping[int, dict],
               scale_range: Sequence[float] = LSJ, hflip: float = 0.5, max_pasted: int = 100,
               mask_occluded_thr: int = 0, bbox_occluded_thr: int = 10) -> Triple:
    """The sample with a random subset of another sample's thing instances pasted on top (module docstring)."""
    other_image, other_ids, other_segments = pool(rng)
    dst_image, dst_ids = scale_jitter(rng, image, panoptic, scale_range, hflip)
    src_image, src_ids = scale_jitter(rng, other_image, other_ids, scale_range, hflip)
    src_image, src_ids = fit_frame(src_image, src_ids, dst_ids.shape)

    src_stats = segment_stats(src_ids)
    candidates = [s for s in other_segments if categories[s["category_id"]].get("isthing")
                  and not s.get("iscrowd", 0) and s["id"] in src_stats]
    k = int(rng.integers(0, min(len(candidates), max_pasted) + 1))
    chosen = [candidates[i] for i in sorted(rng.choice(len(candidates), size=k, replace=False))] if k else []

    before = segment_stats(dst_ids)
    kept = [s for s in segments if s["id"] in before]  # the jitter's crop may remove a segment whole
    out_ids = dst_ids.astype(np.uint32)
    out_image = dst_image.copy()
    next_id = int(max([0, *before, *(s["id"] for s in segments)])) + 1
    pasted_segments = []
    if chosen:
        # Old id -> new id through one lookup over the source map (no per-instance full-image pass).
        table = np.zeros(int(src_ids.max()) + 1, np.uint32)
        for j, seg in enumerate(chosen):
            table[seg["id"]] = next_id + j
            pasted_segments.append({"id": next_id + j, "category_id": seg["category_id"], "iscrowd": 0})
        new_ids = table[src_ids]
        mask = new_ids > 0
        out_ids[mask] = new_ids[mask]
        out_image[mask] = src_image[mask]  # alpha = binary mask (Sec. 3)

    after = segment_stats(out_ids)
    survivors = []
    for seg in kept:
        stats = after.get(seg["id"])
        if stats is None:
            continue  # fully occluded (or a stuff segment left with no pixel): removed
        if _occluded(seg, categories, before[seg["id"]], stats, mask_occluded_thr, bbox_occluded_thr):
            out_ids[out_ids == seg["id"]] = 0
            continue
        survivors.append({k: v for k, v in seg.items() if k not in ("area", "bbox")})
    return out_image, out_ids, survivors + pasted_segments


def _occluded(seg: Mapping[str, Any], categories: Mapping[int, dict], before: tuple[int, list[int]],
              after: tuple[int, list[int]], mask_thr: int, bbox_thr: int) -> bool:
    """A partly occluded thing removed by the thresholds (mmdetection's rule: small and moved box)."""
    if not categories[seg["category_id"]].get("isthing") or seg.get("iscrowd", 0):
        return False
    moved = max(abs(a - b) for a, b in zip(_corners(before[1]), _corners(after[1])))
    return after[0] <= mask_thr and moved > bbox_thr


def _corners(bbox: Sequence[int]) -> tuple[int, int, int, int]:
    x, y, w, h = bbox
    return x, y, x + w, y + h
