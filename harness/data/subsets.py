"""Training subsets for learning curves (PanDA paper Sec. 4.3, Fig. 3 and Table 2).

Nested subsets come from ONE seeded permutation: the subset of size n is the first n images of it,
so every 10-image subset lies inside the 100-image one, inside the 1,000-image one... and a
learning curve measures more data, not different data. The COCO 30k subset follows the paper's
rule: "going through a list of the original 118K training set with step size 4" (every 4th image,
starting with the first)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from harness.atomic import link_or_copy, output_folder
from harness.data.dataset import IMAGES_DIR, PANOPTIC_DIR, PanopticDataset, write_panoptic_json
from harness.data.validate import load_valid, validate_dataset
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


def write_subset(src: str | Path | PanopticDataset, out: str | Path, image_ids: Sequence[Any], progress: bool = False,
                 **provenance: Any) -> Path:
    """Write the images `image_ids` of the dataset `src` (a root, validated here, or a loaded
    dataset) as a valid dataset at `out` (files hard-linked or copied under the names the JSON
    gives, which stay inside `out`; built beside `out` and renamed into place); return `out`."""
    ds = src if isinstance(src, PanopticDataset) else load_valid(src)
    by_id = {image["id"]: image for image in ds.images}
    missing = [i for i in image_ids if i not in by_id]
    if missing:
        raise DatasetError(ds.json_path, f"image {missing[0]!r} requested for a subset is not in images")
    images = [by_id[i] for i in image_ids]
    annotations = [ds.annotation_for(i) for i in image_ids]
    sources = [(ds.image_path(image), ds.label_path(ann)) for image, ann in zip(images, annotations)]
    maps = ds.label_maps  # class-id maps kept beside the labels (Cityscapes --label-ids) travel with them
    with output_folder(out) as staging:
        with progress_bar(disable=not progress) as bar:
            task = bar.add_task(f"subset of {len(images)} -> {out}", total=len(images))
            for (image_src, label_src), image, ann in zip(sources, images, annotations):
                link_or_copy(image_src, staging / IMAGES_DIR / image["file_name"])
                link_or_copy(label_src, staging / PANOPTIC_DIR / ann["file_name"])
                if maps is not None:
                    link_or_copy(ds.label_map_path(ann), staging / maps.dir / ann["file_name"])
                    if maps.instance_dir is not None:
                        link_or_copy(ds.instance_map_path(ann), staging / maps.instance_dir / ann["file_name"])
                bar.advance(task)
        extra = {**ds.extra, "subset": {"source": str(ds.location.resolve()), "n": len(images), **provenance}}
        write_panoptic_json(staging, images, annotations, ds.categories, **extra)
        validate_dataset(PanopticDataset.load(staging))  # the result must validate like any dataset
    return Path(out)


@dataclass(frozen=True)
class Subset:
    root: Path
    n: int  # images in the subset
    of: int  # images in the source
    rule: str


def make_subsets(src: str | Path, out: str | Path, sizes: Sequence[int] | None = None, every: int | None = None,
                 seed: int = 0, allow_outside_links: bool = False, progress: bool = True) -> list[Subset]:
    """`panbench data subset`: one dataset per size at OUT/n<size> (nested, seeded), or one at OUT
    holding every `every`-th image."""
    ds = load_valid(src, allow_outside_links=allow_outside_links)
    ids = [image["id"] for image in ds.images]
    out = Path(out)
    if every is not None:
        if every < 1:
            raise DatasetError(src, f"--every must be at least 1, got {every}")
        chosen = every_kth(ids, every)
        rule = f"every {every}-th image of the list"
        write_subset(ds, out, chosen, progress=progress, rule=rule)
        return [Subset(out, len(chosen), len(ids), rule)]
    too_big = [s for s in sizes or () if not 0 < s <= len(ids)]
    if too_big:
        raise DatasetError(ds.json_path, f"has {len(ids)} images; cannot make a subset of {too_big[0]}")
    written = []
    for size, chosen in nested_subsets(ids, list(sizes or ()), seed).items():
        rule = "nested seeded permutation prefix"
        written.append(Subset(write_subset(ds, out / f"n{size}", chosen, progress=progress, rule=rule, seed=seed),
                              size, len(ids), rule))
    return written
