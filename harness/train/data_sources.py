"""Turn a recipe's `data:` section into dataset folders on disk: the training pool (synthetic scenes
or a COCO-panoptic root), the subset of `n` images, the PanDA set of K copies generated from that
subset (`data.panda: Kx`; `online` generates nothing: `online_panda` is the transform the data
loader applies instead), and the validation set.

Everything generated is cached under `data.cache/<kind>-<hash>`, the hash taken over the inputs
that determine it (source identity + parameters), so the ten cells of a sweep share one synthetic
pool and each subset's PanDA set is generated once. A cache entry is built in a temporary folder
and renamed into place, so a killed build never leaves a half dataset that looks complete."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from harness.config.paths import DEFAULT_RUNS_ROOT
from harness.config.recipe_schema import DataConfig, RecipeConfig, SynthConfig
from harness.config.run_spec import door_params
from harness.data.dataset import PANOPTIC_JSON, PanopticDataset, dataset_location, resolve_location
from harness.data.validate import load_valid
from harness.errors import ConfigError, DatasetError
from harness.panda.augment import OnlineAugment, generate_augmented, method_of, online_augment
from harness.panda.online import OnlinePanda, epoch_samples
from harness.seeding import stable_digest

VAL_SEED_OFFSET = 1_000_003  # the synthetic val set never shares a seed with a training pool
KEY_FILE = "cache_key.json"


@dataclass(frozen=True)
class PreparedData:
    train_roots: tuple[Path, ...]  # the original subset first, then its PanDA set(s)
    val_root: Path
    n_original: int  # original training images (the n of the paper's tables)
    n_train: int  # all training images on disk, PanDA sets included
    categories: list[dict]
    samples_per_epoch: float  # what one epoch counts (sets the iteration count): n_train, online n / (1 - mix)
    panda_set: dict | None = None  # the PanDA set's generator ("render") and realism, from its manifest


def cached(cache_root: Path, kind: str, key: dict, build: Callable[[Path], Any]) -> Path:
    """`cache_root/<kind>-<digest(key)>`, built by `build(tmp_dir)` when missing, then renamed."""
    out = cache_root / f"{kind}-{stable_digest(key)}"
    if (out / PANOPTIC_JSON).is_file():
        return out
    tmp = cache_root / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        build(tmp)
        (tmp / KEY_FILE).write_text(json.dumps(key, indent=2, sort_keys=True, default=str))
        os.rename(tmp, out)
    except OSError:
        if not (out / PANOPTIC_JSON).is_file():  # not a lost race with another builder
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def source_identity(root: Path) -> dict:
    """A user dataset is identified by its location (a root, or a COCO split's JSON) and its JSON's
    size and mtime."""
    folder, layout = resolve_location(root)
    json_path = folder / layout.json
    if not json_path.is_file():
        raise DatasetError(json_path, "file is missing (is this a COCO-panoptic dataset root?)")
    stat = json_path.stat()
    return {"root": str(root.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _synth_pool(cache: Path, synth: SynthConfig, count: int, seed: int, workers: int,
                progress: bool) -> tuple[Path, dict]:
    from harness.data.synth import synthesize_dataset

    key = {"kind": "synth", "count": count, "seed": seed, "width": synth.width, "height": synth.height}
    root = cached(cache, "synth", key, lambda out: synthesize_dataset(
        out, count, seed, width=synth.width, height=synth.height, workers=workers, progress=progress))
    return root, key


def _user_root(path: str, split: str | None) -> tuple[Path, dict]:
    """The location of a user dataset: a root, or with `split` the split of a COCO root read in place."""
    try:
        root = dataset_location(path, split)
    except DatasetError as exc:
        raise ConfigError(f"data.split / data.val_split {exc.path!r} {exc.problem}") from None
    return root, {"kind": "folder", **source_identity(root)}


def choose_subset(image_ids: list, data: DataConfig, source: Path) -> list:
    """The `n` training images of the pool `source`: nested random subsets (Table 2's Cityscapes
    sizes) or the first `n` of every k-th image (the COCO 30k subset: every 4th image of train2017).
    An `n` larger than the pool is an error naming both numbers, never a silent smaller run."""
    from harness.data.subsets import every_kth, nested_subsets

    pool = every_kth(image_ids, k=data.every_k) if data.subset == "every_kth" else list(image_ids)
    if data.n is None:
        return pool
    if data.n > len(pool):
        rule = f"images (1 in {data.every_k} of {len(image_ids)})" if data.subset == "every_kth" else "images"
        raise ConfigError(f"data.n={data.n} is larger than the training pool: {source} holds {len(pool)} {rule}")
    if data.subset == "every_kth":
        return pool[: data.n]
    return list(nested_subsets(image_ids, [data.n], seed=data.seed)[data.n])


def prepare_data(recipe: RecipeConfig, progress: bool = True,
                 runs_root: str | Path = DEFAULT_RUNS_ROOT) -> PreparedData:
    """Build (or find in the cache) every folder the run trains and evaluates on; a PanDA set on a
    generator canvas is rendered by the finished synthesis run `panda.generator` names (in `runs_root`)."""
    from harness.data.subsets import write_subset
    from harness.panda.generate import MANIFEST, generate_panda
    from harness.train.tasks.synthesis.generator_runs import panda_renderer

    data = recipe.data
    cache = Path(data.cache)
    workers = max(1, data.workers)  # 0 DataLoader workers = generate in this process too
    if data.dataset == "synth":
        pool, pool_key = _synth_pool(cache, data.synth, data.synth.count, data.seed, workers, progress)
        val_root, _ = _synth_pool(cache, data.synth, data.synth.val_count, data.seed + VAL_SEED_OFFSET,
                                  workers, progress)
    else:
        pool, pool_key = _user_root(data.root, data.split)
        val_root, _ = _user_root(data.val_root, data.val_split)

    pool_ds = load_valid(pool)  # a broken user dataset fails here, naming the file
    all_ids = [image["id"] for image in pool_ds.images]
    chosen = choose_subset(all_ids, data, pool_ds.json_path)
    if len(chosen) == len(all_ids):
        subset, subset_key = pool, pool_key
    else:
        subset_key = {"kind": "subset", "pool": pool_key, "image_ids": chosen}
        subset = cached(cache, "subset", subset_key, lambda out: write_subset(pool, out, chosen))

    roots, mode, panda_set = [subset], data.mode, None
    if mode.copies and mode.method != "panda":
        params = door_params(recipe)
        described = method_of(mode.method, params).describe()
        augment_key = {"kind": "augment", "source": subset_key, "copies": mode.copies, "seed": data.seed,
                       "method": described}
        roots.append(cached(cache, "augment", augment_key, lambda out: generate_augmented(
            subset, out, mode.method, mode.copies, data.seed, params=params, workers=workers,
            progress=progress)))
    elif mode.copies:
        render, render_record = panda_renderer(recipe.panda, pool_ds.categories, len(chosen), runs_root)
        panda_key = {"kind": "panda", "source": subset_key, "copies": mode.copies, "seed": data.seed,
                     "config": recipe.panda.to_dict()} | ({"generator_run": render_record["run_id"]} if render else {})
        panda_root = cached(cache, "panda", panda_key, lambda out: generate_panda(
            subset, out, mode.copies, data.seed, config=recipe.panda, workers=workers, progress=progress,
            renderer=render, render_record=render_record))
        roots.append(panda_root)
        render_record = json.loads((panda_root / MANIFEST).read_text()).get("render")
        realism = set_realism_of(panda_root, subset, getattr(recipe.eval, "fid_weights", None)) \
            if data.realism else None
        panda_set = ({"render": render_record} if render_record else {}) | ({"realism": realism} if realism else {})

    categories = pool_ds.categories
    val_ds = load_valid(val_root)
    if [c["id"] for c in val_ds.categories] != [c["id"] for c in categories]:
        raise DatasetError(val_ds.json_path, f"categories differ from the training set's ({pool_ds.json_path})")
    n_train = sum(len(PanopticDataset.load(r)) for r in roots)
    per_epoch = epoch_samples(n_train, mode.mix) if mode.online else float(n_train)
    return PreparedData(tuple(roots), val_root, len(chosen), n_train, categories, per_epoch, panda_set)


def set_realism_of(panda_root: Path, source: Path, fid_weights: str | None) -> dict:
    """The realism of a PanDA set (FID / KID against its source images), measured once and kept in
    the set's folder as `realism.json` beside its manifest (the manifest of a noise set stays as it
    always was, and sets cached before this measure get it when a run first asks)."""
    from harness.atomic import write_json
    from harness.metrics.realism import REALISM_JSON, set_realism

    path = panda_root / REALISM_JSON
    if not path.is_file():
        write_json(path, set_realism(panda_root, source, fid_weights=fid_weights))
    return json.loads(path.read_text())


def online_panda(recipe: RecipeConfig) -> OnlinePanda | OnlineAugment | None:
    """The data loader's transform of `data.panda: online` (PanDA with the recipe's `panda:` parameters, or
    the door's `data.augment` method; `data.panda_mix`, keyed on the data seed as a generated set is)."""
    mode = recipe.data.mode
    if not mode.online:
        return None
    if mode.method != "panda":
        return online_augment(mode.method, door_params(recipe), mode.mix, recipe.data.seed)
    return OnlinePanda(recipe.panda, mode.mix, recipe.data.seed)



def describe(prepared: PreparedData) -> dict:
    return {"train_roots": [str(r) for r in prepared.train_roots], "val_root": str(prepared.val_root),
            "n_original": prepared.n_original, "n_train": prepared.n_train,
            "samples_per_epoch": prepared.samples_per_epoch,
            **({"panda_set": prepared.panda_set} if prepared.panda_set else {})}
