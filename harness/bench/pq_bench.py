"""PQ evaluation speed: panbench's own evaluator (`pq_compute_reference`, the `panbench` engine)
against cityscapesscripts' PQ evaluation (the panopticapi algorithm) on the same files, same
numbers asserted (hotcoco, the default engine, against both: engines_bench.py).

    .venv/bin/python -m harness.bench.pq_bench [--n 50] [--height 1024] [--width 2048]

Writes results/bench/pq.json: ms per image single-process, single-thread (both) and the ratio;
panbench in one process with its PNGs decoded ahead on 2 threads (`decode_threads=2`, its default
for one worker) against the same single-thread cityscapesscripts; both with PNG decoding replaced
by a lookup of the already decoded arrays; Pillow's decoding of the two PNGs alone (a floor both
share, timed one image at a time as the evaluators stream them); and parallel (panbench's
`workers` threads vs cityscapesscripts' `cpu_count()` process pool). Each timing is the best of `--repeat` rounds in which the evaluators take turns, since the machine may be shared."""

from __future__ import annotations

import argparse
import importlib
import sys
import tempfile
import time
from unittest import mock
from pathlib import Path
from typing import Any, Callable

import numpy as np
from cityscapesscripts.evaluation import evalPanopticSemanticLabeling as cs
from PIL import Image
from rich.console import Console
from rich.table import Table

from harness.atomic import write_json
from harness.bench.machine_load import machine
from harness.errors import PanbenchError
from harness.metrics.panoptic import pq_compute_reference
from harness.threads import usable_cpus

KEYS = ("pq", "sq", "rq", "pq_th", "sq_th", "rq_th", "pq_st", "sq_st", "rq_st")
TESTS = Path(__file__).resolve().parents[2] / "tests"  # the references live with the tests, not in the package


def reference_module(name: str):
    """`tests/references/<name>.py` of this source checkout (the cityscapesscripts wrapper, the pair
    generator): the bench compares against the tests' own reference rather than a copy of it."""
    if not (TESTS / "references" / f"{name}.py").is_file():
        raise PanbenchError(f"{TESTS / 'references'}: missing; the PQ bench runs from a source checkout")
    if str(TESTS) not in sys.path:
        sys.path.insert(0, str(TESTS))
    return importlib.import_module(f"references.{name}")


def interleaved(fns: dict[str, Callable[[], Any]], repeat: int) -> dict[str, tuple[float, Any]]:
    """Best time and result of each function, the functions taking turns in every round so that
    load from other processes hits all of them alike."""
    best: dict[str, tuple[float, Any]] = {}
    for _ in range(repeat):
        for name, fn in fns.items():
            start = time.perf_counter()
            result = fn()
            elapsed = time.perf_counter() - start
            if name not in best or elapsed < best[name][0]:
                best[name] = (elapsed, result)
    return best


def max_difference(ours: dict, ref: dict) -> float:
    """Largest absolute difference over the averages and the per-class PQ/SQ/RQ; raises when any
    TP/FP/FN count differs."""
    diffs = [abs(ours[k] - ref[k]) for k in KEYS]
    for cat, row in ref["per_class"].items():
        diffs += [abs(ours["per_class"][cat][k] - row[k]) for k in ("pq", "sq", "rq")]
    for cat, (tp, fp, fn) in ref["counts"].items():
        mine = ours["per_class"][cat]
        if (mine["tp"], mine["fp"], mine["fn"]) != (tp, fp, fn):
            raise AssertionError(f"category {cat}: counts {mine} differ from cityscapesscripts {(tp, fp, fn)}")
    return max(diffs)


def run(n: int, height: int, width: int, repeat: int, seed: int, out: Path) -> dict[str, Any]:
    write_pq_pair = reference_module("pq_pairs").write_pq_pair
    reference_pq = reference_module("reference_pq").reference_pq
    workers = usable_cpus()
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_pq_pair(tmp, n, height, width, seed=seed, n_things=40)
        files = sorted(paths["gt_dir"].glob("*.png")) + sorted(paths["pred_dir"].glob("*.png"))
        decoded = {str(f): np.asarray(Image.open(f)) for f in files}
        words = {path: np.ascontiguousarray(np.dstack([a, np.full(a.shape[:2], 255, np.uint8)])).view("<u4")[..., 0]
                 for path, a in decoded.items()}

        def decode_one_at_a_time() -> None:  # as the evaluators stream them (holding all would time page faults)
            for f in files:
                np.asarray(Image.open(f))

        def ref_from_memory() -> dict:  # cityscapesscripts with Image.open replaced by a lookup
            with mock.patch.object(cs, "Image", mock.Mock(open=lambda path: decoded[str(path)])):
                return reference_pq(**paths)

        def ours_from_memory() -> dict:  # panbench with its PNG reader replaced by a lookup
            with mock.patch("harness.data.images.read_id_words", lambda path: words[str(path)]):
                return pq_compute_reference(**paths, workers=1, decode_threads=0)

        t = interleaved({
            "decode": decode_one_at_a_time,
            "ours_1": lambda: pq_compute_reference(**paths, workers=1, decode_threads=0),
            "ref_1": lambda: reference_pq(**paths),
            "ours_threads": lambda: pq_compute_reference(**paths, workers=1, decode_threads=2),
            "ours_mem": ours_from_memory, "ref_mem": ref_from_memory,
            "ours_n": lambda: pq_compute_reference(**paths, workers=workers),
            "ref_n": lambda: reference_pq(**paths, multi_core=True),
        }, repeat)
        ours, ref = t["ours_1"][1], t["ref_1"][1]
        diff = max_difference(ours, ref)
        if diff > 1e-9:
            raise AssertionError(f"panbench and cityscapesscripts differ by {diff}")
        if any(t[k][1] != ours for k in ("ours_n", "ours_mem", "ours_threads")):
            raise AssertionError("parallel, threaded or in-memory result differs from single-process")
        decode_s, ours_1, ref_1, ours_threads, ours_mem, ref_mem, ours_n, ref_n = (
            t[k][0] for k in ("decode", "ours_1", "ref_1", "ours_threads", "ours_mem", "ref_mem", "ours_n", "ref_n"))

    def ms(seconds: float) -> float:
        return round(1000.0 * seconds / n, 2)

    result = {
        "images": n, "height": height, "width": width, "workers": workers, "machine": machine(),
        "max_abs_difference": diff, "identical_counts": True, "pq": ours["pq"],
        "single_process": {"panbench_ms_per_image": ms(ours_1), "cityscapesscripts_ms_per_image": ms(ref_1),
                           "speedup": round(ref_1 / ours_1, 2)},
        "single_process_decode_threads": {
            "decode_threads": 2, "panbench_ms_per_image": ms(ours_threads), "cityscapesscripts_ms_per_image": ms(ref_1),
            "speedup": round(ref_1 / ours_threads, 2)},
        "png_decoding_ms_per_image": ms(decode_s),
        "single_process_png_decoding_excluded": {
            "panbench_ms_per_image": ms(ours_mem), "cityscapesscripts_ms_per_image": ms(ref_mem),
            "speedup": round(ref_mem / ours_mem, 2)},
        "parallel": {"panbench_ms_per_image": ms(ours_n), "cityscapesscripts_ms_per_image": ms(ref_n),
                          "speedup": round(ref_n / ours_n, 2),
                          "panbench_scaling_vs_1_worker": round(ours_1 / ours_n, 2)},
        "note": f"best of {repeat} interleaved rounds; synthetic {height}x{width} pairs (tests/references/pq_pairs.py); "
                "single_process is one thread in both; single_process_decode_threads is panbench in one process "
                "with 2 threads decoding PNGs ahead; timings on a possibly shared machine",
    }
    write_json(out, result)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50, help="image pairs")
    parser.add_argument("--height", type=int, default=1024)
    parser.add_argument("--width", type=int, default=2048)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("results/bench/pq.json"))
    args = parser.parse_args(argv)
    r = run(args.n, args.height, args.width, args.repeat, args.seed, args.out)
    table = Table(title=f"PQ evaluation, {r['images']} images {r['height']}x{r['width']} (ms / image)")
    for column in ("", "panbench", "cityscapesscripts", "speedup"):
        table.add_column(column, justify="right")
    for key, label in (("single_process", "1 process, 1 thread"),
                       ("single_process_decode_threads", "1 process, PNGs decoded ahead on 2 threads"),
                       ("single_process_png_decoding_excluded", "1 process, PNG decoding excluded"),
                       ("parallel", f"{r['workers']} threads / cpu_count() processes")):
        row = r[key]
        table.add_row(label, f"{row['panbench_ms_per_image']:.1f}", f"{row['cityscapesscripts_ms_per_image']:.1f}",
                      f"{row['speedup']:.2f}x")
    decode = f"{r['png_decoding_ms_per_image']:.1f}"
    table.add_row("Pillow decoding of the 2 PNGs (in both)", decode, decode, "")
    Console().print(table)
    print(f"identical results (max |diff| {r['max_abs_difference']:.1e}, equal TP/FP/FN); wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
