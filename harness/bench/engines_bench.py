"""Evaluation engines against their references, same files, same numbers asserted: PQ by hotcoco
(`pq_compute`'s default engine) against panbench's own evaluator (`pq_compute_reference`) and
cityscapesscripts (the panopticapi algorithm, tests/references/reference_pq.py); COCO AP by
hotcoco (`evaluate_instances`' default engine, ground truth cached) against pycocotools (its
`engine="pycocotools"`, the reference, ground truth converted afresh), and COCOeval alone.

    .venv/bin/python -m harness.bench.engines_bench [--pq-n 20] [--ap-n 50] [--repeat 3]

Two processes, each timing its contenders in turn in every repeat (best of the repeats, as
pq_bench does, since the machine may be shared): one with a single thread everywhere
(RAYON_NUM_THREADS=1 for hotcoco, one worker and no decode threads for panbench, cityscapesscripts'
single-core function), one with each evaluator's default parallelism. The hotcoco adapters are
timed with the ground-truth cache warm; the first (cold) call is reported beside. Writes
results/bench/engines.json."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from harness.atomic import write_json
from harness.bench.machine_load import load_average, load_line, machine
from harness.bench.pq_bench import interleaved, max_difference, reference_module
from harness.data.coco_instances import thing_annotations


def instance_predictions(paths: dict[str, Path], seed: int) -> list[dict]:
    """Scored instances from the predicted panoptic PNGs' things (masks as RLE, mask boxes)."""
    from harness.data.categories import categories_json
    from harness.data.images import read_ids

    rng = np.random.default_rng(seed)
    things = {c["id"] for c in categories_json() if c["isthing"]}
    out = []
    for ann in json.loads(paths["pred_json"].read_text())["annotations"]:
        ids = read_ids(paths["pred_dir"] / ann["file_name"])
        for inst in thing_annotations(ids, ann["segments_info"], things, ann["image_id"]):
            out.append({"image_id": inst["image_id"], "category_id": inst["category_id"], "score": float(rng.random()),
                        "bbox": inst["bbox"], "segmentation": inst["segmentation"]})
    return out


def pq_timings(paths: dict, repeat: int, single_thread: bool, cache: Path) -> dict[str, Any]:
    from harness.metrics.panoptic import pq_compute, pq_compute_reference

    reference_pq = reference_module("reference_pq").reference_pq
    start = time.perf_counter()
    ours = pq_compute(**paths, cache_dir=cache)
    cold = time.perf_counter() - start
    contenders: dict[str, Callable[[], Any]] = {"hotcoco": lambda: pq_compute(**paths, cache_dir=cache)}
    if single_thread:
        contenders["panbench"] = lambda: pq_compute_reference(**paths, workers=1, decode_threads=0)
        contenders["cityscapesscripts"] = lambda: reference_pq(**paths)
    else:
        contenders["panbench"] = lambda: pq_compute_reference(**paths)
        contenders["cityscapesscripts"] = lambda: reference_pq(**paths, multi_core=True)
    best = interleaved(contenders, repeat)
    diff = max(max_difference(ours, best["cityscapesscripts"][1]),
               max(abs(ours[k] - best["panbench"][1][k]) for k in ("pq", "sq", "rq", "pq_th", "pq_st")))
    if diff > 1e-9 or any(ours["per_class"][c]["tp"] != r["tp"] for c, r in best["panbench"][1]["per_class"].items()):
        raise AssertionError(f"hotcoco's PQ differs from the references by {diff}")
    return {"seconds": {name: t for name, (t, _) in best.items()}, "hotcoco_cold_s": cold, "max_abs_difference": diff}


def ap_timings(paths: dict, predictions: list[dict], repeat: int, cache: Path) -> dict[str, Any]:
    from harness.metrics import instances
    from harness.metrics.engines import coco_eval

    gt = (paths["gt_json"], paths["gt_dir"])
    start = time.perf_counter()
    ours = instances.evaluate_instances(*gt, predictions, cache_dir=cache)
    cold = time.perf_counter() - start
    dataset, id_map = instances.coco_ground_truth(*gt, cached=True, cache_dir=cache)
    contenders: dict[str, Callable[[], Any]] = {
        "panbench_pycocotools": lambda: instances.evaluate_instances(*gt, predictions, engine="pycocotools"),
        "hotcoco_cached_gt": lambda: instances.evaluate_instances(*gt, predictions, cache_dir=cache),
    }
    for engine in coco_eval.ENGINES:  # COCOeval alone, as the engines' own benchmarks time it
        for kind in ("segm", "bbox"):
            def evaluate(engine=engine, kind=kind):
                coco_gt = coco_eval.engine_parts(engine)[0](json.loads(json.dumps(dataset)))
                results = instances.coco_results(predictions, coco_gt, id_map, kind, "predictions")
                return coco_eval.coco_stats(coco_gt, results, kind, engine)[0].tolist()
            contenders[f"cocoeval_{kind}_{engine}"] = evaluate
    best = interleaved(contenders, repeat)
    if ours != best["panbench_pycocotools"][1] or any(
            best[f"cocoeval_{k}_hotcoco"][1] != best[f"cocoeval_{k}_pycocotools"][1] for k in ("segm", "bbox")):
        raise AssertionError("hotcoco's COCO AP differs from pycocotools'")
    return {"seconds": {name: t for name, (t, _) in best.items()}, "hotcoco_cold_s": cold,
            "predictions": len(predictions), "identical_12_stats": True}


def worker(args: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory(prefix="engines_bench_") as tmp:
        tmp = Path(tmp)
        write_pq_pair = reference_module("pq_pairs").write_pq_pair
        pq_paths = write_pq_pair(tmp / "pq", args.pq_n, args.pq_height, args.pq_width, seed=args.seed, n_things=40)
        ap_paths = write_pq_pair(tmp / "ap", args.ap_n, args.ap_height, args.ap_width, seed=args.seed + 1, n_things=24)
        predictions = instance_predictions(ap_paths, args.seed)
        return {"pq": pq_timings(pq_paths, args.repeat, args.single_thread, tmp / "cache"),
                "ap": ap_timings(ap_paths, predictions, args.repeat, tmp / "cache")}


def in_subprocess(argv: list[str], single_thread: bool) -> dict:
    env = dict(os.environ, **({"RAYON_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"} if single_thread else {}))
    flags = ["--worker"] + (["--single-thread"] if single_thread else [])
    done = subprocess.run([sys.executable, "-m", "harness.bench.engines_bench", *argv, *flags], env=env,
                          check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def summarise(raw: dict, args: argparse.Namespace) -> dict:
    def ms(seconds: float, n: int) -> float:
        return round(1000.0 * seconds / n, 2)

    report: dict[str, Any] = {"pq": {"images": args.pq_n, "height": args.pq_height, "width": args.pq_width},
                              "ap": {"images": args.ap_n, "height": args.ap_height, "width": args.ap_width}}
    for mode, r in raw.items():
        pq = r["pq"]["seconds"]
        report["pq"][mode] = {**{f"{k}_ms_per_image": ms(v, args.pq_n) for k, v in pq.items()},
                              "hotcoco_cold_ms_per_image": ms(r["pq"]["hotcoco_cold_s"], args.pq_n),
                              "speedup_vs_panbench": round(pq["panbench"] / pq["hotcoco"], 2),
                              "speedup_vs_cityscapesscripts": round(pq["cityscapesscripts"] / pq["hotcoco"], 2),
                              "max_abs_difference": r["pq"]["max_abs_difference"]}
        ap = r["ap"]["seconds"]
        report["ap"][mode] = {**{f"{k}_ms": round(1000 * v, 1) for k, v in ap.items()},
                              "hotcoco_cold_ms": round(1000 * r["ap"]["hotcoco_cold_s"], 1),
                              "predictions": r["ap"]["predictions"],
                              "speedup_evaluate_instances": round(ap["panbench_pycocotools"]
                                                                  / ap["hotcoco_cached_gt"], 2),
                              **{f"speedup_cocoeval_{k}": round(ap[f"cocoeval_{k}_pycocotools"]
                                                                / ap[f"cocoeval_{k}_hotcoco"], 2)
                                 for k in ("segm", "bbox")}}
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pq-n", type=int, default=20, help="PQ image pairs")
    parser.add_argument("--pq-height", type=int, default=1024)
    parser.add_argument("--pq-width", type=int, default=2048)
    parser.add_argument("--ap-n", type=int, default=50, help="AP ground-truth images")
    parser.add_argument("--ap-height", type=int, default=512)
    parser.add_argument("--ap-width", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("results/bench/engines.json"))
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--single-thread", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args)))
        return 0
    passed = list(argv if argv is not None else sys.argv[1:])
    load_before = load_average()
    raw = {"single_thread": in_subprocess(passed, True), "default_threads": in_subprocess(passed, False)}
    report = summarise(raw, args)
    report.update({"machine": machine(),
                   "load_average_before": load_before, "load_average_after": load_average(),
                   "note": f"best of {args.repeat} interleaved rounds per process on a possibly shared machine; "
                           "synthetic pairs (tests/references/pq_pairs.py); AP predictions are the predicted PNGs' "
                           "things with random scores; hotcoco timed with the ground-truth cache warm"})
    write_json(args.out, report)
    for mode in ("single_thread", "default_threads"):
        pq, ap = report["pq"][mode], report["ap"][mode]
        print(f"PQ {mode:15s}: hotcoco {pq['hotcoco_ms_per_image']:.1f} ms/image, panbench "
              f"{pq['panbench_ms_per_image']:.1f}, cityscapesscripts {pq['cityscapesscripts_ms_per_image']:.1f} "
              f"(x{pq['speedup_vs_panbench']} vs panbench)")
        print(f"AP {mode:15s}: evaluate_instances {ap['panbench_pycocotools_ms']:.0f} ms -> "
              f"{ap['hotcoco_cached_gt_ms']:.0f}"
              f" ms (x{ap['speedup_evaluate_instances']}); COCOeval segm x{ap['speedup_cocoeval_segm']}, "
              f"bbox x{ap['speedup_cocoeval_bbox']}")
    print(f"identical results; {load_line(report)}; wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
