"""Write a PanDA dataset from a COCO-panoptic one (PanDA 1x: --copies 1, 2x: --copies 2).

`panbench panda --src DIR --out DIR --copies K [--ops ...] [--set key=value ...]`
`--set canvas=generator --set generator=RUN` renders the canvas with a finished synthesis run of the
run store (`--runs-root`); one that is not finished is refused in one line naming how to train it."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from harness.config.paths import add_runs_root
from harness.data.paths import ALLOW_FLAG


def register(subparsers: argparse._SubParsersAction) -> None:
    from harness.panda.config import PandaConfig

    defaults = PandaConfig()
    parameters = ", ".join(f"{f.name}={getattr(defaults, f.name)}" for f in dataclasses.fields(PandaConfig)
                           if f.name != "ops")
    p = subparsers.add_parser("panda", description=__doc__.splitlines()[0],
                              epilog=f"parameters for --set (paper defaults): {parameters}")
    p.add_argument("--src", required=True, type=Path, help="source dataset root (holds panoptic.json)")
    p.add_argument("--out", required=True, type=Path, help="dataset root to write (missing or empty)")
    p.add_argument("--copies", type=int, default=1, help="generated images per source image (1: PanDA 1x, 2: 2x)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--ops", default=None, metavar="OP,OP",
                   help="operations to run, from dropout,resize,shift ('none' for none); default: all three")
    p.add_argument("--hybrid", action="store_true", help="pool segments across several source images (paper section 5)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a PanDA parameter, e.g. --set scale_max=2.0 or --set scale_distribution=normal "
                        "(repeatable)")
    p.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    p.add_argument("--examples", type=Path, default=None, metavar="FILE.png",
                   help="also draw originals beside PanDA images with their annotations (paper Fig 2)")
    p.add_argument(ALLOW_FLAG, action="store_true", help="follow symlinks in the source that lead out of its folders")
    p.add_argument("--no-progress", action="store_true")
    add_runs_root(p)
    p.set_defaults(func=_panda)


def _panda(args: argparse.Namespace) -> int:
    from harness.panda.config import PandaConfig
    from harness.panda.generate import generate_panda

    overrides = list(args.overrides)
    if args.ops is not None:
        overrides.append(f"ops={args.ops}")
    if args.hybrid:
        overrides.append("hybrid=true")
    config = PandaConfig().with_overrides(overrides)
    render, render_record = None, None
    if config.canvas != "noise":
        from harness.data.dataset import PanopticDataset
        from harness.train.tasks.synthesis.generator_runs import panda_renderer

        source = PanopticDataset.load(args.src, allow_outside_links=args.allow_outside_links)
        render, render_record = panda_renderer(config, source.categories, len(source.images), args.runs_root)
    out = generate_panda(args.src, args.out, copies=args.copies, seed=args.seed, config=config,
                         workers=args.workers, progress=not args.no_progress,
                         allow_outside_links=args.allow_outside_links, renderer=render, render_record=render_record)
    print(f"wrote PanDA dataset ({args.copies}x, ops: {','.join(config.ops) or 'none'}) to {out}")
    if args.examples is not None:
        from harness.panda.figures import example_grid

        print(f"wrote {example_grid(out, args.src, args.examples)}")
    return 0
