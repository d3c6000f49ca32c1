"""`panbench data ...`: make, check, subset, convert, export and describe COCO-panoptic datasets.

Every sub-command of the data stage is registered here; a handler calls one library function and
prints its result. Handlers import their module lazily so `panbench --help` stays fast (no torch,
no cityscapesscripts)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.data.paths import ALLOW_FLAG


def register(subparsers: argparse._SubParsersAction) -> None:
    data = subparsers.add_parser("data")
    data_subparsers = data.add_subparsers(dest="data_command", required=True)
    for add in (_register_synth, _register_check, _register_subset, _register_cityscapes, _register_coco_stuff,
                _register_stats, _register_export):
        add(data_subparsers)


def _int_list(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def _output_root(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, type=Path, help="dataset root to write (missing or empty: it is built "
                                                            "beside it and renamed into place)")


def _allow_outside_links(p: argparse.ArgumentParser) -> None:
    p.add_argument(ALLOW_FLAG, action="store_true",
                   help="follow symlinks in images/ and panoptic/ that lead out of the dataset")


# --- synth ------------------------------------------------------------------------------------
def _register_synth(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("synth", help="procedural street scenes with Cityscapes' 19 evaluation categories")
    _output_root(p)
    p.add_argument("--n", required=True, type=int, help="number of images")
    p.add_argument("--seed", type=int, default=0, help="scene i is drawn from (seed, i): same seed, same dataset")
    p.add_argument("--width", type=int, default=512, help="image width in pixels")
    p.add_argument("--height", type=int, default=256, help="image height in pixels")
    p.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    p.set_defaults(func=_synth)


def _synth(args: argparse.Namespace) -> int:
    from harness.data.synth import synthesize_dataset

    root = synthesize_dataset(args.out, args.n, args.seed, width=args.width, height=args.height,
                              workers=args.workers)
    print(f"wrote {args.n} images to {root}")
    return 0


# --- check ------------------------------------------------------------------------------------
def _register_check(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("check", help="validate a dataset (every PNG decoded); exit 2 on the first problem")
    p.add_argument("root", type=Path, help="dataset root (holds panoptic.json), or a COCO root with --split")
    p.add_argument("--split", default=None, metavar="NAME",
                   help="check ROOT in COCO's official layout: annotations/panoptic_NAME.json, "
                        "annotations/panoptic_NAME/, NAME/ (e.g. val2017)")
    p.add_argument("--all", action="store_true", help="list every problem found instead of stopping at the first")
    p.add_argument("--workers", type=int, default=None, help="processes for the pixel checks")
    _allow_outside_links(p)
    p.set_defaults(func=_check)


def _check(args: argparse.Namespace) -> int:
    from harness.data.validate import check_dataset
    from harness.errors import DatasetError

    report = check_dataset(args.root, workers=args.workers, allow_outside_links=args.allow_outside_links,
                           split=args.split)
    if report.problems and not args.all:
        raise DatasetError(*report.problems[0])
    for path, problem in report.problems:
        print(f"{path}: {problem}", file=sys.stderr)
    if report.problems:
        print(f"panbench: error: {len(report.problems)} problem(s) in {report.root}", file=sys.stderr)
        return 2
    print(f"ok: {report.root}: {report.n_images} images, {report.n_segments} segments, every PNG checked")
    return 0


# --- subset -----------------------------------------------------------------------------------
def _register_subset(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("subset", help="nested seeded subsets (OUT/n10, OUT/n100, ...) or every k-th image")
    p.add_argument("--src", required=True, type=Path, help="source dataset root")
    p.add_argument("--out", required=True, type=Path, help="output folder (one dataset per size) or dataset root")
    rule = p.add_mutually_exclusive_group(required=True)
    rule.add_argument("--sizes", type=_int_list, help="comma-separated subset sizes, e.g. 10,100,1000")
    rule.add_argument("--every", type=int, metavar="K", help="keep every K-th image of the list (paper's COCO 30k: 4)")
    p.add_argument("--seed", type=int, default=0, help="seed of the permutation behind --sizes")
    _allow_outside_links(p)
    p.set_defaults(func=_subset)


def _subset(args: argparse.Namespace) -> int:
    from harness.data.subsets import make_subsets

    for subset in make_subsets(args.src, args.out, sizes=args.sizes, every=args.every, seed=args.seed,
                               allow_outside_links=args.allow_outside_links):
        if args.every is not None:
            print(f"wrote {subset.n} of {subset.of} images (every {args.every}-th) to {subset.root}")
        else:
            print(f"wrote {subset.n} images to {subset.root}")
    return 0


# --- cityscapes -------------------------------------------------------------------------------
def _register_cityscapes(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("cityscapes", help="convert Cityscapes (gtFine + leftImg8bit) to COCO panoptic")
    p.add_argument("--root", required=True, type=Path, help="Cityscapes root holding gtFine/ and leftImg8bit/")
    _output_root(p)
    p.add_argument("--split", default="train", choices=("train", "val", "test"), help="Cityscapes split to convert")
    p.add_argument("--label-ids", action="store_true",
                   help="also keep every frame's gtFine labelIds map (35 label ids, the synthesis models' input) "
                        "under OUT/label_ids/")
    p.add_argument("--instance-ids", action="store_true",
                   help="also keep every frame's gtFine instanceIds map under OUT/instance_ids/ (SPADE's instance "
                        "map: its edge channel tells void classes and caravan / trailer instances apart); "
                        "implies --label-ids")
    p.add_argument("--workers", type=int, default=None, help="processes, one city each (default: all cores)")
    p.set_defaults(func=_cityscapes)


def _cityscapes(args: argparse.Namespace) -> int:
    from harness.data.cityscapes import convert_cityscapes

    root = convert_cityscapes(args.root, args.out, split=args.split, workers=args.workers, label_ids=args.label_ids,
                              instance_ids=args.instance_ids)
    print(f"wrote {root}")
    return 0


# --- coco-stuff -------------------------------------------------------------------------------
def _register_coco_stuff(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("coco-stuff", help="convert COCO-Stuff (stuffthingmaps + COCO instances) to COCO panoptic, "
                                          "182 classes")
    p.add_argument("--images", required=True, type=Path, help="the split's images, e.g. coco/train2017")
    p.add_argument("--stuffthingmaps", required=True, type=Path,
                   help="the split's COCO-Stuff label maps, e.g. stuffthingmaps_trainval2017/train2017")
    p.add_argument("--instances", required=True, type=Path, help="COCO's instances JSON of the split, e.g. "
                                                                  "annotations/instances_train2017.json")
    _output_root(p)
    p.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    p.set_defaults(func=_coco_stuff)


def _coco_stuff(args: argparse.Namespace) -> int:
    from harness.data.coco_stuff import convert_coco_stuff

    root = convert_coco_stuff(args.images, args.stuffthingmaps, args.instances, args.out, workers=args.workers)
    print(f"wrote {root}")
    return 0


# --- stats ------------------------------------------------------------------------------------
def _register_stats(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("stats", help="per-class pixel share per image (class balance)")
    p.add_argument("root", type=Path, help="dataset root")
    p.add_argument("--compare", type=Path, default=None, metavar="DIR2", help="a second dataset shown beside the first")
    p.add_argument("--plot", type=Path, default=None, metavar="FILE.png", help="write a bar chart")
    _allow_outside_links(p)
    p.set_defaults(func=_stats)


def _stats(args: argparse.Namespace) -> int:
    from rich.console import Console

    from harness.data.stats import class_pixel_share, compare_shares, comparison_table, plot_shares, share_table

    console = Console()
    first = class_pixel_share(args.root, allow_outside_links=args.allow_outside_links)
    frames = [(str(args.root), first)]
    if args.compare is None:
        console.print(share_table(first, str(args.root)))
    else:
        second = class_pixel_share(args.compare, allow_outside_links=args.allow_outside_links)
        frames.append((str(args.compare), second))
        console.print(comparison_table(compare_shares(first, second), str(args.root), str(args.compare)))
    if args.plot is not None:
        console.print(f"wrote {plot_shares(args.plot, frames)}")
    return 0


# --- export -----------------------------------------------------------------------------------
def _register_export(sub: argparse._SubParsersAction) -> None:
    from harness.data.dataset import INSTANCES_JSON, SEMANTIC_DIR, THINGS_FIRST_JSON

    p = sub.add_parser("export", help="instances JSON + PanopticFPN semantic PNGs for detectron2 / mmdetection")
    p.add_argument("--src", required=True, type=Path, help="COCO-panoptic dataset root (holds panoptic.json)")
    p.add_argument("--instances-json", type=Path, default=None,
                   help=f"COCO instances JSON to write (default: SRC/{INSTANCES_JSON})")
    p.add_argument("--semantic-dir", type=Path, default=None,
                   help=f"folder of semantic PNGs to write, replaced if an earlier export made it "
                        f"(default: SRC/{SEMANTIC_DIR}/)")
    p.add_argument("--things-first-json", type=Path, default=None,
                   help=f"panoptic JSON with thing categories first, for mmdetection "
                        f"(default: SRC/{THINGS_FIRST_JSON})")
    p.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    _allow_outside_links(p)
    p.set_defaults(func=_export)


def _export(args: argparse.Namespace) -> int:
    from harness.data.export import export_dataset

    out = export_dataset(args.src, args.instances_json, args.semantic_dir, args.things_first_json,
                         workers=args.workers, allow_outside_links=args.allow_outside_links)
    print(f"{out.n_images} images, {out.n_instances} thing instances\n"
          f"  instances JSON     {out.instances_json}\n"
          f"  semantic PNGs      {out.semantic_dir}/\n"
          f"  things-first JSON  {out.things_first_json}")
    return 0
