"""`panbench train RECIPE [key=value ...]`: run one cell of a recipe (grid keys not given take their
first value); `--nproc N` launches it through torchrun (DDP, gloo on CPU, NCCL on GPUs). A finished
run is not trained again unless `--rerun` asks (its record is kept beside the new one).

This is the one entry point of a run: the launchers (harness/launch) start the same command in each
process they spawn (`python -m harness.cli train ... --expect-run-id ID --outcome-file F`)."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from harness.config.paths import add_runs_root
from harness.config.recipes import list_recipes
from harness.errors import PanbenchError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("train", description=__doc__.split("\n\n")[0],
                              formatter_class=argparse.RawDescriptionHelpFormatter,
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
    p.add_argument("--expect-run-id", default=None, help="refuse to train any other run (set by launchers)")
    p.add_argument("--outcome-file", type=Path, default=None,
                   help="rank 0 writes what became of the run here (JSON; set by launchers)")
    p.set_defaults(func=train_command)


def train_command(args: argparse.Namespace) -> int:
    if "TORCHELASTIC_ERROR_FILE" not in os.environ:  # not a torchrun worker
        return _train(args)
    from torch.distributed.elastic.multiprocessing.errors import record

    return record(_train)(args)  # a failing rank's traceback reaches torchrun's error summary


def _train(args: argparse.Namespace) -> int:
    from harness.atomic import write_json
    from harness.config.dependencies import dependencies
    from harness.config.run_spec import RunSpec
    from harness.launch.sweep import run_upstream
    from harness.launch.torchrun import run_distributed
    from harness.train.distributed import init_distributed, shutdown
    from harness.train.preflight import preflight, refuse
    from harness.train.run import run_training

    spec = RunSpec.from_recipe(args.recipe, args.overrides)
    if args.expect_run_id and spec.run_id != args.expect_run_id:
        raise PanbenchError(f"{args.recipe} {' '.join(args.overrides)}: resolves to run {spec.run_id}, the "
                            f"launcher expected {args.expect_run_id}")
    if args.print_config:
        print(json.dumps({"run_id": spec.run_id, "variant": spec.variant.name, "config": spec.config}, indent=2))
        problems = preflight(spec)
        print(f"preflight: {len(problems)} problem(s) `train` would refuse" if problems else "preflight: ok")
        for problem in problems:
            print(f"  {problem}")
        return 0
    if args.expect_run_id is None:  # a launcher checked its runs' data, weights and dependencies when it planned them
        refuse(spec)  # a missing data root or weights file: one line, before any run folder exists
        run_upstream(dependencies(spec.settings), args.runs_root)  # its evaluators' runs first: the sweep's planner
    if args.nproc > 1:
        result = run_distributed(spec, args.recipe, args.overrides, args.runs_root, args.nproc,
                                 progress=not args.no_progress, rerun=args.rerun)
    else:
        try:
            result = run_training(spec, args.runs_root, progress=not args.no_progress, rerun=args.rerun)
        finally:
            shutdown(init_distributed())  # a launched DDP rank leaves its process group
    if int(os.environ.get("RANK", "0")) != 0:
        return 0
    if args.outcome_file:
        write_json(args.outcome_file, {"run_id": result.run_id, "skipped": result.skipped,
                                       "running_elsewhere": result.running_elsewhere})
    if result.running_elsewhere:
        print(f"run {result.run_id} skipped: it is running elsewhere ({result.running_elsewhere})")
        return 0
    flat = {k: round(v, 2) for k, v in result.metrics.items() if isinstance(v, (int, float))}
    print(f"run {result.run_id} {'was finished before' if result.skipped else 'finished'}: {result.run_dir}\n"
          f"{json.dumps(flat)}")
    return 0
