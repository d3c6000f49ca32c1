"""Training subsets for learning curves (PanDA paper Sec. 4.3, Fig. 3 and Table 2).

Nested subsets come from ONE seeded permutation: the subset of size n is the first n images of it,
so every 10-image subset lies inside the 100-image one, inside the 1,000-image one... and a
learning curve measures more data, not different data. The COCO 30k subset follows the paper's
rule: "going through a list of the original 118K training set with step size 4" (every 4th image,
starting with the first)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from harness.data.dataset import IMAGES_DIR, PANOPTIC_DIR, PanopticDataset, write_panoptic_json
from harness.errors import DatasetError
from harness.progress import progress_bar


def nested_subsets(image_ids: Sequence[Any], sizes: Sequence[int], seed: int) -> dict[int, list]:
    """{size: image ids}; each subset is a prefix of one seeded permutation (so they nest), listed
    in the order of `image_ids`."""
    for size in sizes:
        if not 0 < size <= len(image_ids):
            raise ValueError(f"subset size {size} is not in 1..{len(image_ids)} (the number of images)")
    order = np.random.default_rng(seed).permutation(len(image_ids))
    return {size: [image_ids[i] for i in np.sort(order[:size])] for size in sizes}


def every_kth(image_ids: Sequence[Any], k: int = 4) -> list:
    """Every k-th image of the list, starting with the first (the paper's COCO 30k rule, k = 4)."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    return list(image_ids[::k])


def link_or_copy(src: Path, dst: Path) -> None:
    """Hard-link (no extra disk; panbench never edits a file in place, it replaces it) or copy
    across file systems; via a temp name so `dst` is never half-written."""
    tmp = dst.with_name(f".{dst.name}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.link(src, tmp)
    except OSError:
        shutil.copy2(src, tmp)
    os.replace(tmp, dst)


def write_subset(src: str | Path | PanopticDataset, out: str | Path, image_ids: Sequence[Any], progress: bool = False,
                 **provenance: Any) -> Path:
    """Write the images `image_ids` of the dataset `src` (a root or a loaded dataset) as a valid dataset at `out` (files
    hard-linked or copied, panoptic.json written last and atomically); return `out`."""
    ds = src if isinstance(src, PanopticDataset) else PanopticDataset.load(src)
    out = Path(out)
    by_id = {image["id"]: image for image in ds.images}
    missing = [i for i in image_ids if i not in by_id]
    if missing:
        raise DatasetError(ds.json_path, f"image {missing[0]!r} requested for a subset is not in images")
    images = [by_id[i] for i in image_ids]
    annotations = [ds.annotation_for(i) for i in image_ids]
    (out / IMAGES_DIR).mkdir(parents=True, exist_ok=True)
    (out / PANOPTIC_DIR).mkdir(parents=True, exist_ok=True)
    with progress_bar(disable=not progress) as bar:
        task = bar.add_task(f"subset of {len(images)} -> {out}", total=len(images))
        for image, ann in zip(images, annotations):
            link_or_copy(ds.image_path(image), out / IMAGES_DIR / image["file_name"])
            link_or_copy(ds.label_path(ann), out / PANOPTIC_DIR / ann["file_name"])
            bar.advance(task)
    extra = {**ds.extra, "subset": {"source": str(ds.root.resolve()), "n": len(images), **provenance}}
    write_panoptic_json(out, images, annotations, ds.categories, **extra)
    PanopticDataset.load(out)  # the result must validate like any dataset
    return out


def subset_command(src: Path, out: Path, sizes: list[int] | None, every: int | None, seed: int) -> int:
    """`panbench data subset`: one dataset per size at OUT/n<size>, or one at OUT for --every."""
    ds = PanopticDataset.load(src)
    ids = [image["id"] for image in ds.images]
    if every is not None:
        if every < 1:
            raise DatasetError(src, f"--every must be at least 1, got {every}")
        chosen = every_kth(ids, every)
        write_subset(ds, out, chosen, progress=True, rule=f"every {every}-th image of the list")
        print(f"wrote {len(chosen)} of {len(ids)} images (every {every}-th) to {out}")
        return 0
    too_big = [s for s in sizes if not 0 < s <= len(ids)]
    if too_big:
        raise DatasetError(ds.json_path, f"has {len(ids)} images; cannot make a subset of {too_big[0]}")
    for size, chosen in nested_subsets(ids, sizes, seed).items():
        write_subset(ds, out / f"n{size}", chosen, progress=True, rule="nested seeded permutation prefix", seed=seed)
        print(f"wrote {size} images to {out / f'n{size}'}")
    return 0
