"""A dataset of synthetic scenes on disk, scene i drawn from `keyed_rng(seed, i)`: the same whatever
n and however many workers."""

from __future__ import annotations

from pathlib import Path

from harness.atomic import output_folder
from harness.data.categories import categories_json
from harness.data.dataset import write_panoptic_json, write_sample
from harness.data.synth.scene import MIN_SIDE, make_scene
from harness.errors import PanbenchError
from harness.parallel import parallel_map
from harness.seeding import keyed_rng


def _write_scene(job: tuple[str, int, int, int, int]) -> tuple[dict, dict]:
    root, seed, index, height, width = job
    image, ids, category_of, iscrowd_of = make_scene(keyed_rng(seed, index), height, width)
    return write_sample(root, f"synth_{index:06d}", image, ids, category_of, iscrowd_of, image_id=index)


def synthesize_dataset(out: str | Path, n: int, seed: int, width: int = 512, height: int = 256,
                       workers: int | None = None, progress: bool = True) -> Path:
    """Write `n` scenes as a COCO-panoptic dataset at `out` (image ids 0..n-1, names synth_000000...),
    built beside it and renamed into place."""
    if n < 1 or height < MIN_SIDE or width < MIN_SIDE:
        raise PanbenchError(f"synthetic dataset {out}: need n >= 1 and scenes of at least {MIN_SIDE}x{MIN_SIDE} "
                            f"pixels, got n={n}, {width}x{height} (WxH)")
    with output_folder(out) as staging:
        jobs = [(str(staging), seed, i, height, width) for i in range(n)]
        results = parallel_map(_write_scene, jobs, workers=workers, description=f"synth {n} scenes", progress=progress)
        images = [entry for entry, _ in results]
        annotations = [ann for _, ann in results]
        write_panoptic_json(staging, images, annotations, categories_json(),
                            info={"description": "panbench synthetic street scenes", "seed": seed,
                                  "height": height, "width": width})
    return Path(out)
