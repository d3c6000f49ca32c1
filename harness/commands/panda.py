"""Write a PanDA dataset from a COCO-panoptic one (PanDA 1x: --copies 1, 2x: --copies 2).

`panbench panda --src DIR --out DIR --copies K [--ops ...] [--set key=value ...]`
`--set canvas=generator --set generator=RUN` renders the canvas with a finished synthesis run of the
run store (`--runs-root`); one that is not finished is refused in one line naming how to train it.

`panbench augment --method NAME --src DIR --out DIR --copies K --seed S [--set key=value ...] [--workers W]`:
any method of the augmentation door (harness/panda/door.py); `--method panda` is `panbench panda`."""

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
    p.add_argument("--seed", type=int, default=0,
                   help="a PanDA image depends only on (seed, source image, copy): same seed, same set")
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
    p.add_argument("--no-progress", action="store_true", help="no progress bar or lines on stdout")
    add_runs_root(p)
    p.set_defaults(func=_panda)

    a = subparsers.add_parser("augment", description="Write COPIES images per source image drawn by an augmentation "
                              "method (the door of harness/panda/door.py) as a COCO-panoptic dataset with "
                              "manifest.json.",
                              epilog="methods: panda, copy-paste, package.module:function, a name of the entry-point "
                                     "group panbench.augmentations, or a composition a+b (applied left to right)")
    a.add_argument("--method", required=True, help="panda | copy-paste | package.module:function | a+b")
    a.add_argument("--src", required=True, type=Path, help="source dataset root (holds panoptic.json)")
    a.add_argument("--out", required=True, type=Path, help="dataset root to write (missing or empty)")
    a.add_argument("--copies", type=int, default=1, help="generated images per source image")
    a.add_argument("--seed", type=int, default=0,
                   help="seed of the random draws: the same seed gives the same set")
    a.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="a parameter of the method (a YAML value, e.g. --set scale_range=[0.8,1.25]); for a "
                        "composition STEP.KEY=VALUE (repeatable)")
    a.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    a.add_argument(ALLOW_FLAG, action="store_true", help="follow symlinks in the source that lead out of its folders")
    a.add_argument("--no-progress", action="store_true", help="no progress bar or lines on stdout")
    a.set_defaults(func=_augment)


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


def _augment(args: argparse.Namespace) -> int:
    from harness.panda.augment import generate_augmented

    params = method_parameters(args.method, args.overrides)
    out = generate_augmented(args.src, args.out, args.method, copies=args.copies, seed=args.seed, params=params,
                             workers=args.workers, progress=not args.no_progress,
                             allow_outside_links=args.allow_outside_links)
    print(f"wrote {args.method} dataset ({args.copies}x) to {out}")
    return 0


def method_parameters(method: str, items: list[str]) -> dict:
    """`--set key=value` (STEP.key=value for a composition) as the door's parameters; PanDA's read by its config."""
    import yaml

    from harness.errors import ConfigError
    from harness.panda.config import PandaConfig

    steps = [s.strip() for s in method.split("+")]
    raw: dict[str, list[str]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--set {item!r} is not key=value")
        step, dot, key = key.strip().rpartition(".") if len(steps) > 1 else ("", "", key.strip())
        if len(steps) > 1 and step not in steps:
            raise ConfigError(f"--set {item!r}: a composition's parameters are STEP.KEY=VALUE, STEP one of {steps}")
        raw.setdefault(step or steps[0], []).append(f"{key}={value.strip()}")
    params: dict = {}
    for step, pairs in raw.items():
        if step == "panda":
            params[step] = PandaConfig().with_overrides(pairs).to_dict()
        else:
            params[step] = {k: yaml.safe_load(v) for k, _, v in (p.partition("=") for p in pairs)}
    return params if len(steps) > 1 else params.get(steps[0], {})
