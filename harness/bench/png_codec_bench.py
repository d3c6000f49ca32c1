"""PNG encoders and decoders on real PanDA outputs of synthetic street scenes at Cityscapes size
(2048x1024): Pillow level 1 (panbench's encoder before `harness.codecs`), Pillow level 1 with
zlib's RLE strategy (`compress_type=3`), and `harness.codecs` (its own Sub/Up scanlines deflated by
ISA-L, or zlib-ng for label maps; its own decoder for its files, libspng for others).

    .venv/bin/python -m harness.bench.png_codec_bench [--n 3] [--repeat 3]

Per kind (images, labels): median ms per file over interleaved repeats, total size against
Pillow level 1 and the largest per-file ratio, pixels checked identical when read back by Pillow
and by `harness.codecs.decode_png`. Decoding: Pillow against `decode_png` on the files of both
encoders. Reading, as panbench's readers return them (harness.data.images, the files written by
`harness.codecs`): an image as RGB (`read_rgb`) and a label as RGBX words (`read_id_words`), each
by panbench (`harness.codecs`) and by Pillow alone; for labels also libspng's RGB made words the plain way,
through a padded copy (what `harness.codecs.decode_rgb_ids` avoids).
Writes results/bench/png_codec.json."""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from harness import codecs
from harness.atomic import write_json
from harness.codecs import pillow_png as pillow_level1  # the baseline: panbench's encoder before harness.codecs
from harness.bench.machine_load import load_average, load_line
from harness.data.images import read_id_words, read_rgb
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


def pillow_rgb(path: Path) -> np.ndarray:
    """An image file as RGB by Pillow alone (panbench's `read_rgb` before libspng)."""
    with Image.open(path) as im:
        im.load()
        return np.asarray(im.convert("RGB"))


def pillow_words(path: Path) -> np.ndarray:
    """A label file as RGBX words by Pillow alone (panbench's `read_id_words` before libspng)."""
    with Image.open(path) as im:
        width, height = im.size
        return np.frombuffer(im.tobytes("raw", "RGBX"), "<u4").reshape(height, width)


def libspng_padded_words(path: Path) -> np.ndarray:
    """A label file as RGBX words through libspng the plain way: RGB samples, then a padded copy."""
    rgb = codecs.decode_png(path.read_bytes())
    words = np.empty(rgb.shape[:2] + (4,), np.uint8)
    words[..., :3] = rgb
    words[..., 3] = 255
    return words.view("<u4")[..., 0]


READERS: dict[str, dict[str, Callable[[Path], np.ndarray]]] = {  # kind: {name: reader}; panbench's first
    "image": {"panbench_read_rgb": read_rgb, "pillow": pillow_rgb},
    "label": {"panbench_read_id_words": read_id_words, "pillow": pillow_words, "libspng_padded": libspng_padded_words},
}


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


def time_readers(kind: str, blobs: list[bytes], repeat: int) -> dict:
    """Median ms per file of each reader of `kind` on these files (written to a temporary folder),
    results checked equal (labels: the 24-bit ids)."""
    readers = READERS[kind]
    with tempfile.TemporaryDirectory(prefix="png_codec_bench_") as tmp:
        paths = [Path(tmp) / f"{k}.png" for k in range(len(blobs))]
        for path, blob in zip(paths, blobs):
            path.write_bytes(blob)
        seconds: dict[str, list[float]] = {name: [] for name in readers}
        results: dict[str, list] = {}
        for _ in range(repeat):
            for name, read in readers.items():
                t, results[name] = timed(read, paths)
                seconds[name].append(t)
    mask = np.uint32(0xFFFFFF) if kind == "label" else np.uint8(0xFF)
    first = next(iter(results.values()))
    if not all(np.array_equal(a & mask, b & mask) for out in results.values() for a, b in zip(out, first)):
        raise AssertionError(f"the {kind} readers disagree")
    ours = statistics.median(seconds[next(iter(readers))])
    return {name: {"ms": round(1000 * statistics.median(s), 1), "ratio_to_panbench": round(statistics.median(s) / ours, 2)}
            for name, s in seconds.items()}


def run(n: int, repeat: int, height: int, width: int, seed: int, out: Path) -> dict:
    load_before = load_average()
    arrays = panda_outputs(n, height, width, seed)
    report: dict = {"images": n, "height": height, "width": width, "encode": {}, "decode": {}, "read": {}}
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
        report["decode"][kind] = {}
        for encoder in ("pillow_level1", "panbench"):
            decode_seconds = {name: [] for name in DECODERS}
            for _ in range(repeat):
                for name, decode in DECODERS.items():
                    decode_seconds[name].append(timed(decode, files[encoder])[0])
            pillow_ms = statistics.median(decode_seconds["pillow"])
            report["decode"][kind][f"files_of_{encoder}"] = {
                name: {"ms": round(1000 * statistics.median(s), 1), "speedup": round(pillow_ms / statistics.median(s), 2)}
                for name, s in decode_seconds.items()}
        report["read"][kind] = time_readers(kind, files["panbench"], repeat)
    report["load_average_before"], report["load_average_after"] = load_before, load_average()
    report["note"] = (f"medians of {repeat} interleaved repeats, one core, on a possibly shared machine; speedup "
                      "against Pillow level 1 (encode) or Pillow (decode); every file read back identical; 'read' "
                      "times panbench's readers on the files harness.codecs writes")
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
        for files, rows in r["decode"][kind].items():
            for name, row in rows.items():
                print(f"decode {kind:5s} {name:9s} ({files:22s}) {row['ms']:7.1f} ms  x{row['speedup']:.2f}")
        for name, row in r["read"][kind].items():
            print(f"read   {kind:5s} {name:22s} {row['ms']:7.1f} ms  x{row['ratio_to_panbench']:.2f} of panbench's")
    print(f"pixels identical; {load_line(r)}; wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
