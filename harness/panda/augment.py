"""Any door method (harness/panda/door.py) on PanDA's schedule: offline, `copies` images per source
image written as a COCO-panoptic dataset with `manifest.json` (`panbench augment`, `data.panda: Kx`);
online, a sample replaced inside the data loader (`data.panda: online`).

PanDA's guarantees hold for every method: copy c of image i draws only from
`image_rng(seed, i, c, STEP_STREAM + step)`, and its `pool` draws other samples with that same
generator, so the output is a pure function of (data seed, source image, copy or pass): independent of
the worker count, the order and a resume. Online pass e of an image is offline copy e. Plain `panda`
keeps harness/panda's own generator and transform (its bytes and run ids are those of before the door)."""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, NamedTuple

import numpy as np

from harness.atomic import encode_png, output_folder, write_bytes, write_json
from harness.data.dataset import IMAGES_DIR, PANOPTIC_DIR, PANOPTIC_JSON, PanopticDataset, write_panoptic_json
from harness.data.images import encode_image
from harness.data.panoptic_format import id2rgb
from harness.data.validate import validate_dataset
from harness.errors import ConfigError, DatasetError
from harness.panda.door import STEP_STREAM, Method, Triple, category_table, resolve
from harness.panda.generate import MANIFEST, generate_panda
from harness.panda.online import check_mix, replaced
from harness.panda.seeding import image_rng
from harness.parallel import parallel_map


class Augmented(NamedTuple):
    """One augmented sample as the data loader reads it."""

    image: np.ndarray
    ids: np.ndarray
    segments_info: list[dict]


@functools.lru_cache(maxsize=8)
def _method(name: str, params_key: tuple) -> Method:
    return resolve(name, _unfreeze(params_key))


def _freeze(value: Any) -> Any:
    """A hashable, order-free form of nested parameters (the cache key of `_method`)."""
    if isinstance(value, Mapping):
        return tuple(sorted((str(k), _freeze(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return ("__list__", tuple(_freeze(v) for v in value))
    return value


def _unfreeze(value: Any) -> Any:
    if isinstance(value, tuple) and value[:1] == ("__list__",):
        return [_unfreeze(v) for v in value[1]]
    if isinstance(value, tuple):
        return {k: _unfreeze(v) for k, v in value}
    return value


def method_of(name: str, params: Mapping[str, Any] | None = None) -> Method:
    """`resolve` once per process for each (name, parameters)."""
    return _method(name, _freeze(dict(params or {})))


def draw(ds: PanopticDataset, method: Method, index: int, copy_index: int, seed: int,
         image: np.ndarray | None = None, ids: np.ndarray | None = None) -> Triple:
    """Copy `copy_index` of image `index` of `ds` under `method`; `pool` draws from `ds`."""
    entry = ds.images[index]
    image = ds.read_image(index) if image is None else image
    ids = ds.read_ids(index) if ids is None else ids
    segments = copy.deepcopy(ds.annotation_for(entry["id"])["segments_info"])

    def pool(rng: np.random.Generator) -> Triple:
        k = int(rng.integers(len(ds)))
        return ds.read_image(k), ds.read_ids(k), copy.deepcopy(ds.annotation_for(ds.images[k]["id"])["segments_info"])

    return method(image, ids, segments, rng_of=lambda j: image_rng(seed, entry["id"], copy_index, STEP_STREAM + j),
                  pool=pool, categories=category_table(ds.categories),
                  where=f"image {entry['id']!r} ({entry['file_name']}), copy {copy_index}")


@dataclass(frozen=True)
class Job:
    src: str
    allow_outside_links: bool
    out_root: Path
    index: int
    copy_index: int
    seed: int
    method: str
    params: tuple


@functools.lru_cache(maxsize=2)
def _dataset(src: str, allow_outside_links: bool) -> PanopticDataset:
    return PanopticDataset.load(src, allow_outside_links=allow_outside_links)


def render(job: Job) -> tuple[dict, dict]:
    """Draw, write and describe one augmented image; returns its `images` entry and annotation."""
    ds = _dataset(job.src, job.allow_outside_links)
    method = _method(job.method, job.params)
    image, ids, segments = draw(ds, method, job.index, job.copy_index, job.seed)
    primary = ds.images[job.index]
    name = f"{Path(primary['file_name']).stem}_{method.slug}{job.copy_index}"
    write_bytes(job.out_root / IMAGES_DIR / f"{name}.png", encode_image(image, "png"))
    write_bytes(job.out_root / PANOPTIC_DIR / f"{name}.png", encode_png(id2rgb(ids)))
    image_id = f"{primary['id']}_{method.slug}{job.copy_index}"
    entry = {"id": image_id, "file_name": f"{name}.png", "height": int(ids.shape[0]), "width": int(ids.shape[1]),
             "source_image_id": primary["id"], "copy_index": job.copy_index}
    return entry, {"image_id": image_id, "file_name": f"{name}.png", "segments_info": segments}


def generate_augmented(src: str | Path, out: str | Path, method: str, copies: int, seed: int,
                       params: Mapping[str, Any] | None = None, workers: int | None = None, progress: bool = True,
                       allow_outside_links: bool = False) -> Path:
    """Write `copies` images per image of the dataset at `src`, drawn by `method`, as a new dataset at
    `out` (PanDA's generator for plain `panda`); nothing is left at `out` on failure."""
    resolved = method_of(method, params)
    if resolved.is_panda:
        from harness.panda.config import PandaConfig

        config = PandaConfig.from_config(dict(params or {}), prefix="panda.")
        return generate_panda(src, out, copies, seed, config=config, workers=workers, progress=progress,
                              allow_outside_links=allow_outside_links)
    if copies < 1:
        raise ConfigError(f"copies must be >= 1, got {copies}")
    src, out = Path(src), Path(out)
    if src.resolve() == out.resolve():
        raise ConfigError(f"--out {out} is the source dataset; choose another folder")
    if (out / PANOPTIC_JSON).exists() or (out / MANIFEST).exists():
        raise ConfigError(f"{out} already holds a dataset; remove it or choose another --out")
    ds = PanopticDataset.load(src, allow_outside_links=allow_outside_links)
    validate_dataset(ds, pixel_budget=0)
    stems = [Path(image["file_name"]).stem for image in ds.images]
    if len(set(stems)) != len(stems):
        raise DatasetError(ds.json_path, "two images share a file name stem; generated names would collide")
    key = _freeze(dict(params or {}))
    with output_folder(out) as staging:
        jobs = [Job(str(src), allow_outside_links, staging, i, c, seed, method, key)
                for i in range(len(ds)) for c in range(copies)]
        results = parallel_map(render, jobs, workers=workers, description=resolved.name, progress=progress)
        images = [entry for entry, _ in results]
        write_json(staging / MANIFEST, {
            "generator": "panbench augment", "source": str(src), "seed": seed, "copies": copies,
            "method": resolved.describe(),
            "images": [{k: e[k] for k in ("id", "file_name", "source_image_id", "copy_index")} for e in images]})
        write_panoptic_json(staging, images, [a for _, a in results], ds.categories)
    return out


@dataclass(frozen=True)
class OnlineAugment:
    """A door method replacing each sample with probability `mix` in the data loader, keyed on the data
    `seed` (pass e of image i is offline copy e)."""

    method: str
    params: tuple  # _freeze(parameters)
    mix: float
    seed: int

    def __post_init__(self) -> None:
        check_mix(self.mix)

    def replaces(self, image_id: object, epoch: int) -> bool:
        return replaced(self.seed, image_id, epoch, self.mix)

    def sample(self, ds: PanopticDataset, i: int, epoch: int, image: np.ndarray | None = None,
               ids: np.ndarray | None = None) -> Augmented:
        return Augmented(*draw(ds, _method(self.method, self.params), i, epoch, self.seed, image, ids))


def online_augment(method: str, params: Mapping[str, Any] | None, mix: float, seed: int) -> OnlineAugment:
    method_of(method, params)  # resolve now: a bad name fails before training starts
    return OnlineAugment(method, _freeze(dict(params or {})), mix, seed)
