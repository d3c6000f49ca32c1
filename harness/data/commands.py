"""`panbench data ...`: make, check, subset and convert COCO-panoptic datasets.

Handlers import their module lazily so `panbench --help` stays fast (no torch, no cityscapesscripts)."""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path

# Sub-commands of `panbench data` owned by other stages: each module has `register(data_subparsers)`.
# `panbench data stats` (class balance) lives with the PanDA stage and is added here by name.
EXTRA_DATA_COMMAND_MODULES: tuple[str, ...] = ("harness.data.stats", "harness.data.export")


def register(subparsers: argparse._SubParsersAction) -> None:
    data = subparsers.add_parser("data", help="make, check, subset and convert COCO-panoptic datasets")
    data_subparsers = data.add_subparsers(dest="data_command", required=True)
    _register_synth(data_subparsers)
    _register_check(data_subparsers)
    _register_subset(data_subparsers)
    _register_cityscapes(data_subparsers)
    for module in EXTRA_DATA_COMMAND_MODULES:
        importlib.import_module(module).register(data_subparsers)


def _int_list(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


# --- synth ------------------------------------------------------------------------------------
def _register_synth(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("synth", help="procedural street scenes with Cityscapes' 19 evaluation categories")
    p.add_argument("--out", required=True, type=Path, help="dataset root to write")
    p.add_argument("--n", required=True, type=int, help="number of images")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--width", type=int, default=512)
    p.add_argument("--height", type=int, default=256)
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
    p.add_argument("root", type=Path, help="dataset root (holds panoptic.json)")
    p.add_argument("--all", action="store_true", help="list every problem found instead of stopping at the first")
    p.add_argument("--workers", type=int, default=None, help="processes for the pixel checks")
    p.set_defaults(func=_check)


def _check(args: argparse.Namespace) -> int:
    from harness.data.validate import check_dataset_cli

    return check_dataset_cli(args.root, list_all=args.all, workers=args.workers)


# --- subset -----------------------------------------------------------------------------------
def _register_subset(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("subset", help="nested seeded subsets (OUT/n10, OUT/n100, ...) or every k-th image")
    p.add_argument("--src", required=True, type=Path, help="source dataset root")
    p.add_argument("--out", required=True, type=Path, help="output folder (one dataset per size) or dataset root")
    rule = p.add_mutually_exclusive_group(required=True)
    rule.add_argument("--sizes", type=_int_list, help="comma-separated subset sizes, e.g. 10,100,1000")
    rule.add_argument("--every", type=int, metavar="K", help="keep every K-th image of the list (paper's COCO 30k: 4)")
    p.add_argument("--seed", type=int, default=0, help="seed of the permutation behind --sizes")
    p.set_defaults(func=_subset)


def _subset(args: argparse.Namespace) -> int:
    from harness.data.subsets import subset_command

    return subset_command(args.src, args.out, sizes=args.sizes, every=args.every, seed=args.seed)


# --- cityscapes -------------------------------------------------------------------------------
def _register_cityscapes(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("cityscapes", help="convert Cityscapes (gtFine + leftImg8bit) to COCO panoptic")
    p.add_argument("--root", required=True, type=Path, help="Cityscapes root holding gtFine/ and leftImg8bit/")
    p.add_argument("--out", required=True, type=Path, help="dataset root to write")
    p.add_argument("--split", default="train", choices=("train", "val", "test"))
    p.add_argument("--workers", type=int, default=None, help="processes, one city each (default: all cores)")
    p.set_defaults(func=_cityscapes)


def _cityscapes(args: argparse.Namespace) -> int:
    from harness.data.cityscapes import convert_cityscapes

    root = convert_cityscapes(args.root, args.out, split=args.split, workers=args.workers)
    print(f"wrote {root}")
    return 0
