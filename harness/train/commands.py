"""`panbench train RECIPE [key=value ...]`: run one cell of a recipe (grid keys not given take their
first value); `--nproc N` launches it through torchrun (DDP, gloo on CPU, NCCL on GPUs). A finished
run is not trained again unless `--rerun` asks (its record is kept beside the new one)."""

from __future__ import annotations

import argparse
import json

from harness.tracking.commands import add_runs_root
from harness.train.recipes import list_recipes


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("train", help="train and evaluate one recipe cell",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                              epilog="recipes: " + ", ".join(list_recipes()))
    p.add_argument("recipe", help="recipe name (recipes/NAME.yaml) or path to a YAML file")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="e.g. data.n=10 data.panda=1x train.epochs=2")
    add_runs_root(p)
    p.add_argument("--nproc", type=int, default=1, help="processes per node through torchrun (DDP)")
    p.add_argument("--print-config", action="store_true",
                   help="print the resolved config, run id and any missing data root or weights file; do not train")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bar or lines on stdout (the run's train.log is written either way)")
    p.add_argument("--rerun", action="store_true",
                   help="train a finished run again; its record is kept in <run>/earlier/<k>/")
    p.set_defaults(func=train_command)


def train_command(args: argparse.Namespace) -> int:
    from harness.launch.torchrun import run_distributed
    from harness.train.preflight import preflight, refuse
    from harness.train.run import run_training
    from harness.train.run_spec import RunSpec

    spec = RunSpec.from_recipe(args.recipe, args.overrides)
    if args.print_config:
        print(json.dumps({"run_id": spec.run_id, "variant": spec.variant.name, "config": spec.config}, indent=2))
        problems = preflight(spec)
        print(f"preflight: {len(problems)} problem(s) `train` would refuse" if problems else "preflight: ok")
        for problem in problems:
            print(f"  {problem}")
        return 0
    refuse(spec)  # a missing data root or weights file: one line, before any run folder exists
    if args.nproc > 1:
        result = run_distributed(spec, args.recipe, args.overrides, args.runs_root, args.nproc,
                                 progress=not args.no_progress, rerun=args.rerun)
    else:
        result = run_training(spec, args.runs_root, progress=not args.no_progress, rerun=args.rerun)
    if result.running_elsewhere:
        print(f"run {result.run_id} skipped: it is running elsewhere ({result.running_elsewhere})")
        return 0
    flat = {k: round(v, 2) for k, v in result.metrics.items() if isinstance(v, (int, float))}
    print(f"run {result.run_id} {'was finished before' if result.skipped else 'finished'}: {result.run_dir}\n"
          f"{json.dumps(flat)}")
    return 0
