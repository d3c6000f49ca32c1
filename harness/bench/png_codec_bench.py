"""PNG encoders and decoders on real PanDA outputs of synthetic street scenes at Cityscapes size
(2048x1024): today's Pillow level 1 (`harness.atomic.encode_png`), Pillow level 1 with zlib's RLE
strategy (`compress_type=3`), and `harness.codecs` (libpng, RLE, SUB/UP filters; libspng to decode).

    .venv/bin/python -m harness.bench.png_codec_bench [--n 3] [--repeat 3]

Per kind (images, labels): median ms per file over interleaved repeats, total size against
Pillow level 1 and the largest per-file ratio, pixels checked identical when read back by Pillow
and by `harness.codecs.decode_png`. Decoding: Pillow against `decode_png` on Pillow's files.
Writes results/bench/png_codec.json."""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from harness import codecs
from harness.atomic import encode_png as pillow_level1
from harness.atomic import write_json
from harness.bench.machine_load import load_average, load_line
from harness.data.panoptic_format import make_segments_info
from harness.data.synth import make_scene
from harness.panda.compose import panda_image
from harness.panda.config import PandaConfig
from harness.panda.decompose import decompose
from harness.panda.seeding import image_rng


def pillow_zrle(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG", compress_level=1, compress_type=3)
    return buf.getvalue()


def pillow_decode(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)))


ENCODERS: dict[str, Callable[[np.ndarray], bytes]] = {
    "pillow_level1": pillow_level1, "pillow_level1_zrle": pillow_zrle, "panbench": codecs.encode_png}
DECODERS: dict[str, Callable[[bytes], np.ndarray]] = {"pillow": pillow_decode, "panbench": codecs.decode_png}


def panda_outputs(n: int, height: int, width: int, seed: int) -> dict[str, list[np.ndarray]]:
    """PanDA 1x images and labels (RGB-encoded ids) of `n` synthetic scenes."""
    rng = np.random.default_rng(seed)
    out: dict[str, list[np.ndarray]] = {"image": [], "label": []}
    for i in range(n):
        image, ids, category_of, iscrowd_of = make_scene(rng, height, width)
        segments = decompose(image, ids, make_segments_info(ids, category_of, iscrowd_of), f"scene {i}")
        sample = panda_image(image_rng(seed, i, 0), segments, (height, width), PandaConfig())
        out["image"].append(sample.image)
        out["label"].append(sample.label_rgb)
    return out


def timed(fn: Callable, items: list) -> tuple[float, list]:
    start = time.perf_counter()
    results = [fn(item) for item in items]
    return (time.perf_counter() - start) / len(items), results


def run(n: int, repeat: int, height: int, width: int, seed: int, out: Path) -> dict:
    load_before = load_average()
    arrays = panda_outputs(n, height, width, seed)
    report: dict = {"images": n, "height": height, "width": width, "encode": {}, "decode": {}}
    for kind, items in arrays.items():
        seconds = {name: [] for name in ENCODERS}
        files: dict[str, list[bytes]] = {}
        for _ in range(repeat):
            for name, encode in ENCODERS.items():
                t, files[name] = timed(encode, items)
                seconds[name].append(t)
        for name, data in files.items():
            for array, blob in zip(items, data):
                if not all(np.array_equal(decode(blob), array) for decode in DECODERS.values()):
                    raise AssertionError(f"{name} does not read back to the same pixels")
        base = [len(b) for b in files["pillow_level1"]]
        base_ms = statistics.median(seconds["pillow_level1"])
        report["encode"][kind] = {name: {
            "ms": round(1000 * statistics.median(s), 1), "speedup": round(base_ms / statistics.median(s), 2),
            "mean_kb": round(sum(len(b) for b in files[name]) / n / 1024, 1),
            "size_vs_pillow_level1": round(sum(len(b) for b in files[name]) / sum(base), 4),
            "largest_file_ratio": round(max(len(b) / a for b, a in zip(files[name], base)), 4),
        } for name, s in seconds.items()}
        decode_seconds = {name: [] for name in DECODERS}
        for _ in range(repeat):
            for name, decode in DECODERS.items():
                decode_seconds[name].append(timed(decode, files["pillow_level1"])[0])
        pillow_ms = statistics.median(decode_seconds["pillow"])
        report["decode"][kind] = {name: {"ms": round(1000 * statistics.median(s), 1),
                                         "speedup": round(pillow_ms / statistics.median(s), 2)}
                                  for name, s in decode_seconds.items()}
    report["load_average_before"], report["load_average_after"] = load_before, load_average()
    report["note"] = (f"medians of {repeat} interleaved repeats, one core, on a possibly shared machine; speedup "
                      "against Pillow level 1 (encode) or Pillow (decode); every file read back identical")
    write_json(out, report)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=3, help="PanDA outputs (image + label each)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--height", type=int, default=1024)
    parser.add_argument("--width", type=int, default=2048)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("results/bench/png_codec.json"))
    args = parser.parse_args(argv)
    r = run(args.n, args.repeat, args.height, args.width, args.seed, args.out)
    for kind in ("image", "label"):
        for name, row in r["encode"][kind].items():
            print(f"encode {kind:5s} {name:20s} {row['ms']:7.1f} ms  x{row['speedup']:.2f}  {row['mean_kb']:8.1f} kB "
                  f"(size x{row['size_vs_pillow_level1']:.3f}, largest file x{row['largest_file_ratio']:.3f})")
        for name, row in r["decode"][kind].items():
            print(f"decode {kind:5s} {name:20s} {row['ms']:7.1f} ms  x{row['speedup']:.2f}")
    print(f"pixels identical; {load_line(r)}; wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
