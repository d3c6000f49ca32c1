"""Synthetic (ground truth, prediction) pairs in COCO-panoptic format for checking and timing PQ.

The ground truth has stuff bands, overlapping thing instances with random 24-bit ids, crowd
regions and void; the prediction is the ground truth with jittered boundaries, relabelled, merged,
dropped and hallucinated segments, blobs on void and on crowd (to exercise panopticapi's ignore
rule), string image ids and `area` left out of some predicted segments. Both PNG sets are written
with panbench's atomic writers so the files are what any evaluator reads."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from harness.atomic import write_json, write_png
from harness.data.categories import CITYSCAPES_CATEGORIES, categories_json
from harness.data.panoptic_format import id2rgb, make_segments_info

STUFF = [c.id for c in CITYSCAPES_CATEGORIES if not c.isthing]
THINGS = [c.id for c in CITYSCAPES_CATEGORIES if c.isthing]


def _fresh_ids(rng: np.random.Generator, n: int, taken: set[int]) -> list[int]:
    out: list[int] = []
    while len(out) < n:
        for v in rng.integers(1, 1 << 24, n).tolist():
            if v not in taken and len(out) < n:
                taken.add(v)
                out.append(v)
    return out


def _ellipse(h: int, w: int) -> np.ndarray:
    yy, xx = np.ogrid[:h, :w]
    return ((yy - (h - 1) / 2) / (h / 2)) ** 2 + ((xx - (w - 1) / 2) / (w / 2)) ** 2 <= 1.0


def make_ground_truth(rng: np.random.Generator, height: int, width: int, n_things: int = 24
                      ) -> tuple[np.ndarray, dict[int, int], dict[int, int]]:
    """ids (H, W) uint32, category_of, iscrowd_of."""
    taken: set[int] = {0}
    n_bands = int(rng.integers(3, 7))
    cats = rng.choice(STUFF, n_bands, replace=False)
    band_ids = _fresh_ids(rng, n_bands, taken)
    x = np.arange(width)
    edges = np.sort(rng.uniform(0, 1, n_bands - 1))[:, None] * height + 6 * np.sin(x / rng.uniform(5, 30))[None]
    band = (np.arange(height)[None, :, None] > edges[:, None, :]).sum(0)  # (H, W) band index
    ids = np.asarray(band_ids, np.uint32)[band]
    category_of = dict(zip(band_ids, map(int, cats)))
    iscrowd_of: dict[int, int] = {}
    for sid in _fresh_ids(rng, n_things, taken):
        h = int(rng.integers(max(2, height // 40), max(3, height // 3)))
        w = int(rng.integers(max(2, width // 60), max(3, width // 5)))
        y, x0 = int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1))
        shape = _ellipse(h, w) if rng.random() < 0.6 else np.ones((h, w), bool)
        ids[y:y + h, x0:x0 + w][shape] = sid
        category_of[sid] = int(rng.choice(THINGS))
        iscrowd_of[sid] = int(rng.random() < 0.15)
    for _ in range(int(rng.integers(1, 4))):  # void rectangles and a void border
        h, w = int(rng.integers(1, height // 4)), int(rng.integers(1, width // 4))
        y, x0 = int(rng.integers(0, height - h)), int(rng.integers(0, width - w))
        ids[y:y + h, x0:x0 + w] = 0
    ids[:, : int(rng.integers(0, 3))] = 0
    present = set(np.unique(ids).tolist())
    return ids, {k: v for k, v in category_of.items() if k in present}, \
        {k: v for k, v in iscrowd_of.items() if k in present}


def perturb(rng: np.random.Generator, gt: np.ndarray, category_of: dict[int, int], iscrowd_of: dict[int, int]
            ) -> tuple[np.ndarray, dict[int, int]]:
    """A plausible imperfect prediction of `gt`: (ids, category_of)."""
    height, width = gt.shape
    k = int(rng.integers(0, 4))  # boundary jitter: sample gt at a blocky random offset
    block = 8
    dy = np.repeat(np.repeat(rng.integers(-k, k + 1, (height // block + 1, width // block + 1)), block, 0), block, 1)
    dx = np.repeat(np.repeat(rng.integers(-k, k + 1, (height // block + 1, width // block + 1)), block, 0), block, 1)
    yy = np.clip(np.arange(height)[:, None] + dy[:height, :width], 0, height - 1)
    xx = np.clip(np.arange(width)[None, :] + dx[:height, :width], 0, width - 1)
    src = gt[yy, xx]
    gt_ids = sorted(category_of)
    taken = set(gt_ids) | {0}
    new_ids = _fresh_ids(rng, len(gt_ids), taken)
    mapping, pred_category = {0: 0}, {}
    for sid, nid in zip(gt_ids, new_ids):
        r = rng.random()
        if r < 0.08:
            mapping[sid] = 0  # dropped -> void
            continue
        if r < 0.16 and len(pred_category):
            mapping[sid] = int(rng.choice(list(pred_category)))  # merged into an earlier segment
            continue
        mapping[sid] = nid
        cat = category_of[sid]
        if rng.random() < 0.1:
            cat = int(rng.choice(THINGS if cat in THINGS else STUFF))  # wrong class
        pred_category[nid] = cat
    keys = np.array(sorted(mapping), np.int64)
    values = np.array([mapping[v] for v in keys.tolist()], np.uint32)
    pred = values[np.searchsorted(keys, src.astype(np.int64))]
    # hallucinated blobs, some placed on void and on crowd regions
    void = np.argwhere(gt == 0)
    crowds = [np.argwhere(gt == s) for s, c in iscrowd_of.items() if c]
    for sid in _fresh_ids(rng, int(rng.integers(2, 8)), taken):
        r = rng.random()
        pool = void if r < 0.35 else crowds[int(rng.integers(0, len(crowds)))] if r < 0.7 and crowds \
            else np.empty((0, 2))
        size = max(3, min(height, width) // 12) if len(pool) else max(3, min(height, width) // 6)
        h, w = int(rng.integers(2, size)), int(rng.integers(2, size))
        if len(pool):
            cy, cx = pool[int(rng.integers(0, len(pool)))]
            y, x0 = int(np.clip(cy - h // 2, 0, height - h)), int(np.clip(cx - w // 2, 0, width - w))
        else:
            y, x0 = int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1))
        pred[y:y + h, x0:x0 + w] = sid
        under = gt[y + h // 2, x0 + w // 2]
        pred_category[sid] = category_of[int(under)] if int(under) in category_of and rng.random() < 0.7 \
            else int(rng.choice(THINGS))
    present = set(np.unique(pred).tolist())
    return pred, {k: v for k, v in pred_category.items() if k in present}


def write_pq_pair(root: str | Path, n: int, height: int, width: int, seed: int, n_things: int = 24
                  ) -> dict[str, Path]:
    """Write `root/{gt,pred}/*.png` and `root/{gt,pred}.json`; return their paths."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    gt_anns, pred_anns, images = [], [], []
    for i in range(n):
        image_id = f"city_{seed:03d}_{i:06d}"  # string ids, as Cityscapes uses
        gt, category_of, iscrowd_of = make_ground_truth(rng, height, width, n_things)
        pred, pred_category = perturb(rng, gt, category_of, iscrowd_of)
        write_png(root / "gt" / f"{image_id}.png", id2rgb(gt))
        write_png(root / "pred" / f"{image_id}.png", id2rgb(pred))
        images.append({"id": image_id, "file_name": f"{image_id}.png", "height": height, "width": width})
        gt_anns.append({"image_id": image_id, "file_name": f"{image_id}.png",
                        "segments_info": make_segments_info(gt, category_of, iscrowd_of)})
        segments = [{"id": s["id"], "category_id": s["category_id"]} | ({"area": s["area"]} if rng.random() < 0.5 else {})
                    for s in make_segments_info(pred, pred_category)]
        pred_anns.append({"image_id": image_id, "file_name": f"{image_id}.png", "segments_info": segments})
    write_json(root / "gt.json", {"images": images, "annotations": gt_anns, "categories": categories_json()}, indent=None)
    write_json(root / "pred.json", {"images": images, "annotations": pred_anns}, indent=None)
    return {"gt_json": root / "gt.json", "gt_dir": root / "gt", "pred_json": root / "pred.json", "pred_dir": root / "pred"}
