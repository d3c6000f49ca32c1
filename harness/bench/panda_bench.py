"""PanDA speed: time per generated image against plain decode + encode of the same image and label
(the least any tool that rewrites a dataset pays), at Cityscapes size (2048x1024) on synthetic
street scenes, all timed in one process on one core, interleaved so machine load hits all alike.
Two baselines: decode + encode through panbench's own codecs (harness.codecs, which PanDA uses: the
price of PanDA's own work, target ratio <= 1.5) and through Pillow alone, level 1 (what a dataset
rewrite costs with the usual library: PanDA with panbench's codecs costs no more, target <= 1.0).

    .venv/bin/python -m harness.bench.panda_bench [--n 4] [--repeats 3]

Writes results/bench/panda.json (ms per image, ratios, per-stage breakdown)."""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from harness.atomic import encode_png, write_bytes, write_json
from harness.bench.machine_load import machine
from harness.codecs import pillow_png
from harness.data.dataset import IMAGES_DIR, PANOPTIC_DIR, PanopticDataset
from harness.data.images import read_ids, read_rgb
from harness.data.panoptic_format import id2rgb
from harness.data.synth import synthesize_dataset
from harness.panda.compose import panda_image
from harness.panda.config import PandaConfig
from harness.panda.decompose import decompose
from harness.panda.generate import plan_jobs, render
from harness.panda.seeding import image_rng

TARGET_RATIO = 1.5  # PanDA / decode + encode, panbench's codecs in both
TARGET_RATIO_VS_PILLOW = 1.0  # PanDA / decode + encode by Pillow alone


def baseline(src: Path, image_entry: dict, annotation: dict, out: Path) -> None:
    """Decode image and label, encode both again (panbench's codecs), write both."""
    image = read_rgb(src / IMAGES_DIR / image_entry["file_name"])
    ids = read_ids(src / PANOPTIC_DIR / annotation["file_name"])
    write_bytes(out / IMAGES_DIR / image_entry["file_name"], encode_png(image))
    write_bytes(out / PANOPTIC_DIR / annotation["file_name"], encode_png(id2rgb(ids)))


def pillow_baseline(src: Path, image_entry: dict, annotation: dict, out: Path) -> None:
    """The same through Pillow alone (decode; encode at level 1), as panbench did before harness.codecs."""
    for folder, name in ((IMAGES_DIR, image_entry["file_name"]), (PANOPTIC_DIR, annotation["file_name"])):
        with Image.open(src / folder / name) as im:
            pixels = np.asarray(im.convert("RGB"))
        write_bytes(out / folder / name, pillow_png(pixels))


def stage_times(src: Path, image_entry: dict, annotation: dict, seed: int, config: PandaConfig) -> dict[str, float]:
    """Seconds spent in each PanDA stage for one image (decode, decompose, compose, encode)."""
    clock = time.perf_counter
    t0 = clock()
    label_path = src / PANOPTIC_DIR / annotation["file_name"]
    image = read_rgb(src / IMAGES_DIR / image_entry["file_name"])
    ids = read_ids(label_path)
    t1 = clock()
    segments = decompose(image, ids, annotation["segments_info"], label_path)
    t2 = clock()
    sample = panda_image(image_rng(seed, image_entry["id"], 0), segments, image.shape[:2], config)
    t3 = clock()
    encode_png(sample.image), encode_png(sample.label_rgb)
    t4 = clock()
    return {"decode": t1 - t0, "decompose": t2 - t1, "compose": t3 - t2, "encode": t4 - t3}


def run(n: int = 4, repeats: int = 3, width: int = 2048, height: int = 1024, seed: int = 0,
        out_json: Path = Path("results/bench/panda.json")) -> dict:
    import torch

    torch.set_num_threads(1)  # PanDA's resize runs on torch: one core, as the baselines
    config = PandaConfig()
    with tempfile.TemporaryDirectory(prefix="panda_bench_") as tmp:
        tmp = Path(tmp)
        src = synthesize_dataset(tmp / "src", n, seed, width=width, height=height, workers=1, progress=False)
        ds = PanopticDataset.load(src)
        jobs = plan_jobs(ds, tmp / "panda", copies=1, seed=seed, config=config)
        base_s, panda_s, pillow_s, base_cpu, panda_cpu, stages = [], [], [], [], [], []
        for _ in range(repeats):
            for job, (image_entry, annotation) in zip(jobs, ds.samples()):
                t0, c0 = time.perf_counter(), time.process_time()
                baseline(src, image_entry, annotation, tmp / "copy")
                t1, c1 = time.perf_counter(), time.process_time()
                render(job)
                t2, c2 = time.perf_counter(), time.process_time()
                pillow_baseline(src, image_entry, annotation, tmp / "pillow")
                t3 = time.perf_counter()
                base_s.append(t1 - t0)
                panda_s.append(t2 - t1)
                pillow_s.append(t3 - t2)
                base_cpu.append(c1 - c0)
                panda_cpu.append(c2 - c1)
                stages.append(stage_times(src, image_entry, annotation, seed, config))
    base_ms = 1000 * statistics.median(base_s)
    panda_ms = 1000 * statistics.median(panda_s)
    pillow_ms = 1000 * statistics.median(pillow_s)
    result = {
        "benchmark": "panda",
        "image_size": [height, width],
        "n_images": n,
        "repeats": repeats,
        "baseline": "decode + encode (panbench's codecs, harness.codecs) + write of image and label",
        "baseline_ms_per_image": round(base_ms, 1),
        "panda_ms_per_image": round(panda_ms, 1),
        "ratio": round(panda_ms / base_ms, 3),
        "pillow_baseline": "decode + encode by Pillow alone (compress_level=1) + write of image and label",
        "pillow_baseline_ms_per_image": round(pillow_ms, 1),
        "ratio_vs_pillow": round(panda_ms / pillow_ms, 3),
        "target_ratio_vs_pillow": TARGET_RATIO_VS_PILLOW,
        # CPU time of this process: less sensitive to other processes competing for the cores
        "baseline_cpu_ms_per_image": round(1000 * statistics.median(base_cpu), 1),
        "panda_cpu_ms_per_image": round(1000 * statistics.median(panda_cpu), 1),
        "cpu_ratio": round(statistics.median(panda_cpu) / statistics.median(base_cpu), 3),
        "target_ratio": TARGET_RATIO,
        "panda_stage_ms": {k: round(1000 * statistics.median(s[k] for s in stages), 1) for k in stages[0]},
        "config": config.to_dict(),
        "machine": machine(),
        "note": "one process, single core, median over images x repeats, the three interleaved; shared machines "
                "add noise",
    }
    write_json(out_json, result)
    return result


def print_table(result: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    h, w = result["image_size"]
    table = Table(title=f"PanDA speed at {w}x{h} ({result['n_images']} images x {result['repeats']} repeats, median)")
    table.add_column("what")
    table.add_column("ms / image (wall)", justify="right")
    table.add_column("ms / image (CPU)", justify="right")
    table.add_row("decode + encode, panbench's codecs (baseline)", f"{result['baseline_ms_per_image']:.1f}",
                  f"{result['baseline_cpu_ms_per_image']:.1f}")
    table.add_row("decode + encode, Pillow alone", f"{result['pillow_baseline_ms_per_image']:.1f}", "")
    table.add_row("PanDA", f"{result['panda_ms_per_image']:.1f}", f"{result['panda_cpu_ms_per_image']:.1f}")
    for stage, ms in result["panda_stage_ms"].items():
        table.add_row(f"  {stage}", f"{ms:.1f}", "")
    ok = result["ratio"] <= result["target_ratio"]
    table.add_row(f"ratio PanDA / baseline (<= {result['target_ratio']})",
                  f"[{'green' if ok else 'red'}]{result['ratio']:.2f}[/]", f"{result['cpu_ratio']:.2f}")
    ok = result["ratio_vs_pillow"] <= result["target_ratio_vs_pillow"]
    table.add_row(f"ratio PanDA / Pillow's decode + encode (<= {result['target_ratio_vs_pillow']})",
                  f"[{'green' if ok else 'red'}]{result['ratio_vs_pillow']:.2f}[/]", "")
    Console().print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4, help="synthetic images")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("results/bench/panda.json"))
    args = parser.parse_args(argv)
    result = run(args.n, args.repeats, out_json=args.out)
    print_table(result)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
