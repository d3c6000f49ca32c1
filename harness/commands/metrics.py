"""`panbench evaluate panoptic|semantic|instances|fid|synthesis`: each prints a table and, with --out,
writes the numbers as JSON (atomically; percentages as in the papers)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from harness.config.paths import add_runs_root
from harness.data.paths import ALLOW_FLAG
from harness.data.schema import read_json
from harness.errors import DatasetError, PanbenchError
from harness.metrics.engines import COCO_ENGINES, PQ_ENGINES
from harness.metrics.protocol import DEFAULT_PROTOCOL, PRESETS
from harness.threads import rayon_threads

PROTOCOLS = tuple(sorted(PRESETS))
INCEPTION_DEFAULT = ("$PANBENCH_WEIGHTS or torch hub's checkpoints, else the offline fid-helper conversion; "
                     "never downloaded")


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _dataset_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--gt-json", type=Path, help="ground-truth panoptic JSON")
    p.add_argument("--gt-dir", type=Path, help="folder of ground-truth panoptic PNGs")
    p.add_argument("--gt", type=Path, help="ground-truth dataset root (= --gt-json ROOT/panoptic.json --gt-dir ROOT/panoptic)")


def _prediction_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--pred-json", type=Path, help="predicted panoptic JSON")
    p.add_argument("--pred-dir", type=Path, help="folder of predicted panoptic PNGs")
    p.add_argument("--pred", type=Path, help="prediction root (= --pred-json ROOT/panoptic.json --pred-dir ROOT/panoptic)")


def _allow_outside_links(p: argparse.ArgumentParser) -> None:
    p.add_argument(ALLOW_FLAG, action="store_true", help="follow symlinks among the PNGs that lead out of their folder")


def _resolve(args: argparse.Namespace, side: str) -> tuple[Path, Path]:
    root, json_path, folder = getattr(args, side), getattr(args, f"{side}_json"), getattr(args, f"{side}_dir")
    json_path = json_path or (root / "panoptic.json" if root else None)
    folder = folder or (root / "panoptic" if root else None)
    if json_path is None or folder is None:
        raise DatasetError(f"--{side}", f"give --{side}-json and --{side}-dir, or --{side} ROOT")
    return json_path, folder


def _engine_arg(p: argparse.ArgumentParser, engines: tuple[str, ...], reference: str) -> None:
    p.add_argument("--engine", choices=engines, default=engines[0],
                   help=f"evaluator: {engines[0]} (default, the fast one) or {reference} (the reference); same numbers")


def _categories(gt_json: Path) -> dict[int, dict]:
    """{category id: category} of a ground truth the evaluation has read (and schema-checked) already."""
    return {int(c["id"]): c for c in read_json(gt_json)["categories"]}


def _finish(result: dict[str, Any], title: str, header: list[str], rows: list[list[str]], out: Path | None,
            section_before: int | None = None) -> int:
    """Print the table (harness.table_print: rich at a terminal, Markdown otherwise), write --out."""
    from harness.atomic import write_json
    from harness.table_print import print_table

    print_table(header, rows, title, section_before=section_before)
    if out:
        write_json(out, result)
        print(f"wrote {out}")
    return 0


def _panoptic(args: argparse.Namespace) -> int:
    from harness.metrics.panoptic import pq_compute

    gt_json, gt_dir = _resolve(args, "gt")
    pred_json, pred_dir = _resolve(args, "pred")
    if args.workers is not None and args.engine == "hotcoco":
        rayon_threads(args.workers)
    result = pq_compute(gt_json, gt_dir, pred_json, pred_dir, workers=args.workers, progress=True,
                        allow_outside_links=args.allow_outside_links, engine=args.engine)
    categories = _categories(gt_json)
    rows = []
    for cat, row in result["per_class"].items():
        counted = row["tp"] + row["fp"] + row["fn"] > 0
        rows.append([categories[cat]["name"], "y" if categories[cat].get("isthing") else "",
                     *(_fmt(row[k]) if counted else "-" for k in ("pq", "sq", "rq")),
                     str(row["tp"]), str(row["fp"]), str(row["fn"])])
    classes = len(rows)
    for label, suffix in (("All", ""), ("Things", "_th"), ("Stuff", "_st")):
        rows.append([f"{label} (n={result['n' + suffix]})", "", *(_fmt(result[k + suffix]) for k in ("pq", "sq", "rq")),
                     "", "", ""])
    return _finish(result, f"Panoptic quality of {pred_json}", ["category", "thing", "PQ", "SQ", "RQ", "TP", "FP", "FN"],
                   rows, args.out, section_before=classes)


def _semantic(args: argparse.Namespace) -> int:
    from harness.metrics.semantic_files import evaluate_label_dirs, evaluate_panoptic_semantic

    if args.gt_labels or args.pred_labels:
        if not (args.gt_labels and args.pred_labels and args.num_classes):
            raise DatasetError("--gt-labels", "label-folder mode needs --gt-labels, --pred-labels and --num-classes")
        result = evaluate_label_dirs(args.gt_labels, args.pred_labels, args.num_classes, args.ignore_index,
                                     progress=True)
        names = {k: str(k) for k in result["per_class"]}
    else:
        gt_json, gt_dir = _resolve(args, "gt")
        pred_json, pred_dir = _resolve(args, "pred")
        result = evaluate_panoptic_semantic(gt_json, gt_dir, pred_json, pred_dir, progress=True,
                                            allow_outside_links=args.allow_outside_links)
        names = {k: c["name"] for k, c in _categories(gt_json).items()}
    rows = [[names[cls], _fmt(iou)] for cls, iou in result["per_class"].items()]
    classes = len(rows)
    rows += [["mIoU", _fmt(result["miou"])], ["pixel accuracy", _fmt(result["accuracy"])]]
    return _finish(result, "Semantic segmentation", ["class", "IoU"], rows, args.out, section_before=classes)


def _instances(args: argparse.Namespace) -> int:
    from harness.data.schema import read_instance_results
    from harness.metrics.instances import evaluate_instances

    if args.pred_json is None:
        raise PanbenchError("evaluate instances: give --pred-json FILE (a COCO results JSON)")
    gt_json, gt_dir = _resolve(args, "gt")
    result = evaluate_instances(gt_json, gt_dir, read_instance_results(args.pred_json), source=str(args.pred_json),
                                progress=True, allow_outside_links=args.allow_outside_links, engine=args.engine)
    names = {k: c["name"] for k, c in _categories(gt_json).items()}
    rows = [[names[cat], _fmt(row["ap"]), _fmt(row["ap_box"])] for cat, row in result["per_class"].items()]
    classes = len(rows)
    rows += [[label, _fmt(result["ap" + suffix]), _fmt(result["ap_box" + suffix])]
             for label, suffix in (("AP@[.5:.95]", ""), ("AP50", "50"), ("AP75", "75"))]
    return _finish(result, f"Instances: {args.pred_json}", ["category", "AP", "APbox"], rows, args.out,
                   section_before=classes)


def _fid(args: argparse.Namespace) -> int:
    from harness.metrics.fid import compute_fid

    value = compute_fid(args.real, args.fake, weights_path=args.weights, batch_size=args.batch_size, device=args.device)
    return _finish({"fid": value}, "Fréchet Inception Distance", ["real", "fake", "FID"],
                   [[str(args.real), str(args.fake), f"{value:.2f}"]], args.out)


def register(subparsers: argparse._SubParsersAction) -> None:
    evaluate = subparsers.add_parser("evaluate", description=" ".join(__doc__.split()))
    kinds = evaluate.add_subparsers(dest="metric", required=True)

    p = kinds.add_parser("panoptic", help="PQ, SQ, RQ (all / things / stuff, per class), as panopticapi")
    _dataset_args(p)
    _prediction_args(p)
    p.add_argument("--workers", type=int, default=None,
                   help="threads (default: the CPUs this process may use): the panbench engine's decoding and "
                        "counting threads; hotcoco's pool unless RAYON_NUM_THREADS is set")
    _engine_arg(p, PQ_ENGINES, "panbench")
    _allow_outside_links(p)
    p.add_argument("--out", type=Path, help="JSON file to write")
    p.set_defaults(func=_panoptic)

    p = kinds.add_parser("semantic", help="mIoU, per-class IoU and pixel accuracy")
    _dataset_args(p)
    _prediction_args(p)
    p.add_argument("--gt-labels", type=Path, help="folder of ground-truth label PNGs (class ids, --ignore-index ignored)")
    p.add_argument("--pred-labels", type=Path, help="folder of predicted label PNGs, same file names")
    p.add_argument("--num-classes", type=int, help="number of classes in label-folder mode")
    p.add_argument("--ignore-index", type=int, default=255, help="label value left out of the scores")
    _allow_outside_links(p)
    p.add_argument("--out", type=Path, help="JSON file to write")
    p.set_defaults(func=_semantic)

    p = kinds.add_parser("instances", help="COCO mask AP and box AP of scored instances")
    _dataset_args(p)
    p.add_argument("--pred-json", type=Path,
                   help="COCO results JSON: [{image_id, category_id, score, bbox, segmentation}]")
    _engine_arg(p, COCO_ENGINES, "pycocotools")
    _allow_outside_links(p)
    p.add_argument("--out", type=Path, help="JSON file to write")
    p.set_defaults(func=_instances)

    p = kinds.add_parser("fid", help="Fréchet Inception Distance between two folders of images")
    p.add_argument("--real", type=Path, required=True, help="folder of real images")
    p.add_argument("--fake", type=Path, required=True, help="folder of generated images")
    p.add_argument("--weights", type=Path, default=None,
                   help=f"torch-fidelity Inception weights file (default: {INCEPTION_DEFAULT})")
    p.add_argument("--batch-size", type=int, default=32, help="images per Inception batch")
    p.add_argument("--device", default="cpu", help="torch device of Inception (cpu, cuda, cuda:1)")
    p.add_argument("--out", type=Path, help="JSON file to write")
    p.set_defaults(func=_fid)

    p = kinds.add_parser("synthesis", help="detAP, mIoU, accuracy, FID, KID of synthesised images (synthesis paper Sec. 4)")
    p.add_argument("--fake", type=Path, required=True,
                   help="folder of generated images, one per ground-truth label map, named by its file-name stem")
    p.add_argument("--gt-json", type=Path, required=True, help="ground-truth panoptic JSON")
    p.add_argument("--gt-dir", type=Path, required=True, help="folder of ground-truth panoptic PNGs")
    p.add_argument("--real", type=Path, default=None,
                   help="folder of real images for FID / KID (default: images/ beside --gt-json)")
    p.add_argument("--segmenter", default=None, metavar="RUN_ID|FILE",
                   help="segmenter for mIoU / accuracy: an evaluator run id, a recipe reference "
                        "('synth-evaluators-mini', its run trained first if not finished) or a weights FILE "
                        "(DRN-D-105, DeepLabV2, mini)")
    p.add_argument("--detector", default=None, metavar="RUN_ID|FILE",
                   help="Faster R-CNN for detAP: an evaluator run id, a recipe reference or a weights FILE")
    add_runs_root(p)
    p.add_argument("--fid-weights", type=Path, default=None,
                   help=f"Inception weights file (default: {INCEPTION_DEFAULT}; without any no FID / KID)")
    p.add_argument("--out", type=Path, help="JSON file to write")
    p.add_argument("--device", default="cpu", help="torch device of the evaluators and Inception")
    p.add_argument("--batch-size", type=int, default=32, help="images per Inception batch")
    p.add_argument("--protocol", choices=PROTOCOLS, default=DEFAULT_PROTOCOL,
                   help="evaluation protocol preset (segmenter / detector input size, resize filter, label "
                        "downsampling; README 'Evaluation protocol'): paper = the synthesis paper's text, spade = as "
                        f"close to SPADE's released numbers as the public record allows (default {DEFAULT_PROTOCOL})")
    p.set_defaults(func=_synthesis)


def _synthesis(args: argparse.Namespace) -> int:
    from harness.launch.sweep import run_upstream
    from harness.metrics.synthesis import RESULT_KEYS, evaluate_synthesis
    from harness.config.dependencies import Dependency
    from harness.train.tasks.evaluator.runs import evaluator_resolver

    run_upstream([Dependency(f"--{kind}", kind, value) for kind, value in (("segmenter", args.segmenter),
                                                                          ("detector", args.detector)) if value],
                 args.runs_root)  # an evaluator named by recipe reference and not finished: trained first
    result = evaluate_synthesis(args.fake, args.gt_json, args.gt_dir, real=args.real, segmenter=args.segmenter,
                                detector=args.detector, fid_weights=args.fid_weights, device=args.device,
                                batch_size=args.batch_size, progress=True,
                                resolve_run=evaluator_resolver(args.runs_root), protocol=args.protocol)
    rows = [[key, "-" if result[key] is None else f"{result[key]:.4f}" if key.startswith("kid") else f"{result[key]:.2f}"]
            for key in RESULT_KEYS]
    return _finish(result, f"Synthesised images: {args.fake} ({result['protocol']['images']} images, protocol "
                           f"{result['protocol']['name']})", ["metric", "value"], rows, args.out)
