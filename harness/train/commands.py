"""`panbench train RECIPE [key=value ...]`: run one cell of a recipe (grid keys not given take their
first value); `--nproc N` launches it through torchrun (DDP, gloo on CPU, NCCL on GPUs)."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

from harness.errors import PanbenchError
from harness.tracking.run_store import RunStore, run_id
from harness.train.recipes import list_recipes, load_recipe, select_cell, to_dict


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("train", help="train and evaluate one recipe cell",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                              epilog="recipes: " + ", ".join(list_recipes()))
    p.add_argument("recipe", help="recipe name (recipes/NAME.yaml) or path to a YAML file")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="e.g. data.n=10 data.panda=1x train.epochs=2")
    p.add_argument("--runs-root", default="results/runs", help="run store (default results/runs)")
    p.add_argument("--nproc", type=int, default=1, help="processes per node through torchrun (DDP)")
    p.add_argument("--print-config", action="store_true", help="print the resolved config and run id, do not train")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_train)


def _train(args: argparse.Namespace) -> int:
    cfg = select_cell(load_recipe(args.recipe, args.overrides))
    rid = run_id(to_dict(cfg))
    if args.print_config:
        print(json.dumps({"run_id": rid, "config": to_dict(cfg)}, indent=2))
        return 0
    store = RunStore(args.runs_root)
    if args.nproc > 1:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={args.nproc}",
               "-m", "harness.train.run", args.recipe, *args.overrides, "--runs-root", args.runs_root]
        if args.no_progress:
            cmd.append("--no-progress")
        code = subprocess.call(cmd)
    else:
        from harness.train.run import run_training

        try:
            run_training(cfg, args.runs_root, progress=not args.no_progress)
            code = 0
        except PanbenchError:  # bad input (a dataset, a recipe value): exit 2 like every other command
            code = 2
        except Exception:
            code = 1
    record = store.read_run(rid) or {}
    if record.get("status") == "finished":
        metrics = store.read_metrics(rid) or {}
        flat = {k: round(v, 2) for k, v in metrics.items() if isinstance(v, (int, float))}
        print(f"run {rid} finished: {store.run_dir(rid)}\n{json.dumps(flat)}")
        return 0
    print(f"panbench: error: run {rid} {record.get('status', 'not started')}: {record.get('error')}"
          f"{' (traceback: ' + record['traceback'] + ')' if record.get('traceback') else ''}", file=sys.stderr)
    return code or 1
