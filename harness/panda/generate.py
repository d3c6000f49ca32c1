"""Generate a PanDA dataset from a COCO-panoptic dataset: `copies` synthetic images per source image
(PanDA Kx; 1x / 2x in paper Table 1), in the same format, plus `manifest.json` with the parameters, the
seed and the source of every generated image.

Images are rendered in parallel processes; each depends only on (seed, source image, copy index),
and the JSON files are written last, in source order, so the output bytes are the same for any
number of workers. The dataset is built in a folder beside `--out` and renamed into place at the
end: a failed or killed run leaves nothing that looks like a dataset, and a re-run starts clean.
A generator canvas (canvas.py) gets its `renderer` from the caller, which also says which run it is
(`render_record`, kept in the manifest)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.atomic import encode_png, output_folder, write_bytes, write_json
from harness.data.dataset import IMAGES_DIR, PANOPTIC_DIR, PANOPTIC_JSON, PanopticDataset, write_panoptic_json
from harness.data.images import encode_image, read_ids, read_rgb
from harness.data.validate import validate_dataset
from harness.errors import ConfigError, DatasetError
from harness.panda.canvas import Renderer
from harness.panda.config import PandaConfig
from harness.panda.door import source_sha256
from harness.panda.sample import Source, hybrid_partners, panda_sample
from harness.parallel import parallel_map

MANIFEST = "manifest.json"


@dataclass(frozen=True)
class Job:
    """One generated image: its sources (primary first; more than one in hybrid mode) and copy."""
    out_root: Path
    sources: tuple[tuple[dict, dict], ...]  # (images entry, annotation) per source
    files: tuple[tuple[Path, Path], ...]  # (image, label) per source, confined to the source dataset
    copy_index: int
    seed: int
    config: PandaConfig
    renderer: Renderer | None = None  # fills the canvas when config.canvas is not noise

    @property
    def primary(self) -> dict:
        return self.sources[0][0]

    @property
    def name(self) -> str:
        kind = "hybrid" if self.config.hybrid else "panda"
        return f"{Path(self.primary['file_name']).stem}_{kind}{self.copy_index}"


def render(job: Job) -> tuple[dict, dict]:
    """Render, write and describe one generated image; returns its `images` entry and annotation."""
    primary_id = job.primary["id"]
    sources = [Source(read_rgb(image_path), read_ids(label_path), annotation["segments_info"], label_path)
               for (image_path, label_path), (_, annotation) in zip(job.files, job.sources)]
    sample = panda_sample(sources, job.seed, primary_id, job.copy_index, job.config, job.renderer)
    height, width = sample.layer.shape
    image_file = f"{job.name}.{job.config.image_format}"
    write_bytes(job.out_root / IMAGES_DIR / image_file, encode_image(sample.image, job.config.image_format))
    write_bytes(job.out_root / PANOPTIC_DIR / f"{job.name}.png", encode_png(sample.label_rgb))
    image_id = f"{primary_id}_{job.name.rsplit('_', 1)[1]}"
    sources_ids = [entry["id"] for entry, _ in job.sources]
    entry = {"id": image_id, "file_name": image_file, "height": int(height), "width": int(width),
             "source_image_id": sources_ids if job.config.hybrid else sources_ids[0], "copy_index": job.copy_index}
    return entry, {"image_id": image_id, "file_name": f"{job.name}.png", "segments_info": sample.segments_info}


def plan_jobs(ds: PanopticDataset, out: Path, copies: int, seed: int, config: PandaConfig,
              renderer: Renderer | None = None) -> list[Job]:
    """Jobs in output order: for each source image, copies 0 .. copies-1."""
    by_id = {image["id"]: (image, ds.annotation_for(image["id"])) for image in ds.images}
    if len(by_id) != len(ds.images):
        raise DatasetError(ds.json_path, "duplicate image ids in 'images'")
    image_ids = list(by_id)
    names = [Path(image["file_name"]).stem for image in ds.images]
    if len(set(names)) != len(names):
        raise DatasetError(ds.json_path, "two images share a file name stem; generated names would collide")
    jobs = []
    for image_id in image_ids:
        for copy_index in range(copies):
            ids = [image_id]
            if config.hybrid:
                ids = hybrid_partners(seed, image_ids, image_id, copy_index, config.hybrid_sources)
            sources = tuple(by_id[i] for i in ids)
            files = tuple((ds.image_path(image), ds.label_path(ann)) for image, ann in sources)
            jobs.append(Job(out, sources, files, copy_index, seed, config, renderer))
    return jobs


def source_and_target(src: Path, out: Path, copies: int, allow_outside_links: bool) -> PanopticDataset:
    """The source dataset of a generated set, its structure validated, once `copies` and the output
    folder are known to be usable (never the source, never an existing dataset: stale images would
    otherwise mix with the new ones)."""
    if copies < 1:
        raise ConfigError(f"copies must be >= 1, got {copies}")
    if src.resolve() == out.resolve():
        raise ConfigError(f"--out {out} is the source dataset; choose another folder")
    if (out / PANOPTIC_JSON).exists() or (out / MANIFEST).exists():
        raise ConfigError(f"{out} already holds a dataset; remove it or choose another --out "
                          "(stale images would otherwise mix with the new ones)")
    ds = PanopticDataset.load(src, allow_outside_links=allow_outside_links)
    validate_dataset(ds, pixel_budget=0)  # the structure; each label's pixels are checked as it is read
    return ds


def generate_panda(src: str | Path, out: str | Path, copies: int, seed: int, config: PandaConfig | None = None,
                   workers: int | None = None, progress: bool = True, allow_outside_links: bool = False,
                   renderer: Renderer | None = None, render_record: dict | None = None) -> Path:
    """Write `copies` PanDA images per image of the dataset at `src` as a new dataset at `out`
    (an existing dataset there is an error, not overwritten)."""
    config = config or PandaConfig()
    src, out = Path(src), Path(out)
    ds = source_and_target(src, out, copies, allow_outside_links)
    with output_folder(out) as staging:
        jobs = plan_jobs(ds, staging, copies, seed, config, renderer)
        results = parallel_map(render, jobs, workers=workers, description="PanDA", progress=progress)
        images = [entry for entry, _ in results]
        annotations = [annotation for _, annotation in results]
        extra = {"render": render_record} if render_record else {}  # a noise set's manifest as it always was
        write_json(staging / MANIFEST, manifest(src, seed, copies, config, images) | extra)
        write_panoptic_json(staging, images, annotations, ds.categories)
    return out


def manifest(src: Path, seed: int, copies: int, config: PandaConfig, images: list[dict]) -> dict[str, Any]:
    """What made this dataset: enough to regenerate it byte for byte; `method` as every door method records it
    (harness/panda/door.py; the sha256 of sample.py, PanDA's one sample function)."""
    return {
        "generator": "panbench panda",
        "source": str(src),
        "seed": seed,
        "copies": copies,
        "ops": list(config.ops),
        "hybrid": config.hybrid,
        "config": config.to_dict(),
        "method": {"name": "panda", "parameters": config.to_dict(), "sha256": source_sha256(panda_sample)},
        "images": [{"id": e["id"], "file_name": e["file_name"], "source_image_id": e["source_image_id"],
                    "copy_index": e["copy_index"]} for e in images],
    }
