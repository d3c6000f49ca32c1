"""`panbench sweep RECIPE [--dry-run] [--executor local] [key=value ...]`."""

from __future__ import annotations

import argparse

from harness.launch.sweep import EXECUTORS
from harness.tracking.commands import add_runs_root


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("sweep", help="run every cell of a recipe's grid (finished runs are skipped)")
    p.add_argument("recipe", help="recipe name (recipes/NAME.yaml) or path")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="recipe overrides; a grid key narrows the grid")
    p.add_argument("--dry-run", action="store_true", help="print the plan and stop")
    p.add_argument("--executor", choices=EXECUTORS, default="local", help="local (sequential); torchrun, slurm: later")
    p.add_argument("--seeds", default=None, metavar="S,S,...", help="repeat every cell with each training seed")
    add_runs_root(p)
    p.set_defaults(func=sweep_command)
    _accept_options_between_overrides(p)


def _accept_options_between_overrides(parser: argparse.ArgumentParser) -> None:
    """`sweep RECIPE --dry-run key=value` as well as `sweep RECIPE key=value --dry-run`: argparse
    stops collecting positionals at the first option unless asked to parse them intermixed."""
    plain = parser.parse_known_args

    def parse(args=None, namespace=None):
        parser.parse_known_args = plain  # parse_known_intermixed_args calls parse_known_args itself
        try:
            return parser.parse_known_intermixed_args(args, namespace)
        finally:
            parser.parse_known_args = parse

    parser.parse_known_args = parse


def sweep_command(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from harness.errors import ConfigError
    from harness.launch.sweep import check_executor, describe_cell, plan_sweep, run_sweep
    from harness.models.pretrained import required_weight_files

    check_executor(args.executor)
    console = Console(highlight=False, soft_wrap=True)
    seeds = None
    if args.seeds:
        try:
            seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
        except ValueError:
            raise ConfigError(f"--seeds {args.seeds}: expected comma-separated integers, e.g. 0,1,2") from None
    plan = plan_sweep(args.recipe, args.overrides, args.runs_root, seeds=seeds)
    for planned in plan if not args.dry_run else ():  # every weights file the runs to do need, up front
        if not planned.done:
            required_weight_files(planned.spec.model, planned.spec.settings.model.options)
    table = Table(title=f"sweep {args.recipe}: {len(plan)} runs, {sum(p.done for p in plan)} finished")
    for column in ("run id", "status", "variant", "cell"):
        table.add_column(column)
    for planned in plan:
        table.add_row(planned.run_id, "done" if planned.done else f"to do ({planned.status or 'new'})",
                      planned.spec.variant.name, describe_cell(planned.cell))
    console.print(table)
    if args.dry_run:
        return 0
    summary = run_sweep(plan, args.runs_root, executor=args.executor, echo=console.print)
    console.print(f"sweep {args.recipe}: {len(summary.finished)} finished, {len(summary.skipped)} skipped "
                  f"(already finished), {len(summary.failed)} failed")
    for rid, error, log in summary.failed:
        console.print(f"  [red]failed[/] {rid}: {error}\n         log: {log}")
    return 0 if summary.ok else 1
