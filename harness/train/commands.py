"""`panbench train RECIPE [key=value ...]`: run one cell of a recipe (grid keys not given take their
first value); `--nproc N` launches it through torchrun (DDP, gloo on CPU, NCCL on GPUs)."""

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
    p.add_argument("--print-config", action="store_true", help="print the resolved config and run id, do not train")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=train_command)


def train_command(args: argparse.Namespace) -> int:
    from harness.launch.sweep import run_upstream
    from harness.launch.torchrun import run_distributed
    from harness.models.pretrained import required_weight_files
    from harness.train.dependencies import dependencies
    from harness.train.run import run_training
    from harness.train.run_spec import RunSpec

    spec = RunSpec.from_recipe(args.recipe, args.overrides)
    if args.print_config:
        print(json.dumps({"run_id": spec.run_id, "variant": spec.variant.name, "config": spec.config}, indent=2))
        return 0
    required_weight_files(spec.model, spec.settings.model.options)  # a missing weights file: one line, now
    run_upstream(dependencies(spec.settings), args.runs_root)  # its evaluators' runs first: the sweep's planner
    if args.nproc > 1:
        result = run_distributed(spec, args.recipe, args.overrides, args.runs_root, args.nproc,
                                 progress=not args.no_progress)
    else:
        result = run_training(spec, args.runs_root, progress=not args.no_progress)
    if result.running_elsewhere:
        print(f"run {result.run_id} skipped: it is running elsewhere ({result.running_elsewhere})")
        return 0
    flat = {k: round(v, 2) for k, v in result.metrics.items() if isinstance(v, (int, float))}
    print(f"run {result.run_id} {'was finished before' if result.skipped else 'finished'}: {result.run_dir}\n"
          f"{json.dumps(flat)}")
    return 0
