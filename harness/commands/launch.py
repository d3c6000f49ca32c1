"""`panbench sweep RECIPE [--executor local|torchrun|slurm] [--cluster slurm|local|debug]
[--parallel N] [--nproc N] [--dry-run] [--seeds S,S] [--rerun] [key=value ...]`."""

from __future__ import annotations

import argparse
import textwrap

from harness.config.paths import add_runs_root
from harness.config.recipes import list_recipes
from harness.launch.plan import CLUSTERS, EXECUTORS


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("sweep", description="Run every cell of a recipe's grid; finished runs are skipped "
                                                   "unless --rerun.",
                              formatter_class=argparse.RawDescriptionHelpFormatter,
                              epilog=textwrap.fill("recipes: " + ", ".join(list_recipes()), break_on_hyphens=False))
    p.add_argument("recipe", help="recipe name (recipes/NAME.yaml) or path")
    p.add_argument("overrides", nargs="*", metavar="key=value",
                   help="recipe overrides; a grid key narrows the grid; launch.KEY=VALUE sets a SLURM parameter")
    p.add_argument("--dry-run", action="store_true",
                   help="print each run's state and cost estimate and the missing data roots / weights files, and stop")
    p.add_argument("--rerun", action="store_true",
                   help="run the finished cells again too (each earlier record is kept in <run>/earlier/<k>/)")
    p.add_argument("--executor", choices=EXECUTORS, default="local",
                   help="local (this machine: in turn, or --parallel N processes), torchrun (each run a DDP job), "
                        "slurm (a submitit job array)")
    p.add_argument("--cluster", choices=CLUSTERS, default="slurm",
                   help="submitit's cluster for --executor slurm (local, debug: submitit's own local executors)")
    p.add_argument("--parallel", type=int, default=1, metavar="N",
                   help="runs at once (local: separate processes, cores split between them; torchrun: jobs on "
                        "disjoint GPUs)")
    p.add_argument("--nproc", type=int, default=None, metavar="N",
                   help="torchrun: processes per run (default: the recipe's launch: one per GPU, launch.tasks_per_node)")
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


def _world_size(args: argparse.Namespace, launch) -> int:
    """Devices one run trains on under this executor (what the estimate prices)."""
    if args.executor == "slurm":
        return launch.nodes * launch.ranks_per_node
    if args.executor == "torchrun":
        return args.nproc or launch.ranks_per_node
    return 1


def sweep_command(args: argparse.Namespace) -> int:
    from rich.console import Console

    from harness.errors import ConfigError
    from harness.interrupts import Interrupted
    from harness.launch.estimate import cost_table, estimate
    from harness.launch.plan import Launch, check_executor, plan_sweep
    from harness.launch.plan_view import fit_columns, preflight_lines
    from harness.launch.sweep import run_sweep
    from harness.config.recipes import load_recipe
    from harness.tracking.run_store import RunStore
    from harness.train.preflight import refuse

    check_executor(args.executor, args.cluster, args.parallel)
    if args.nproc is not None and args.nproc < 1:
        raise ConfigError(f"--nproc {args.nproc}: must be >= 1")
    console = Console(highlight=False, soft_wrap=True)
    seeds = None
    if args.seeds:
        try:
            seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
        except ValueError:
            raise ConfigError(f"--seeds {args.seeds}: expected comma-separated integers, e.g. 0,1,2") from None
    if not args.dry_run:  # a store it cannot write to: refused before the plan, not once per run
        RunStore(args.runs_root).check_writable()
    plan = plan_sweep(args.recipe, args.overrides, args.runs_root, seeds=seeds, rerun=args.rerun)
    for planned in plan if not args.dry_run else ():  # every data root and weights file the runs to do need
        if planned.state in ("to do", "failed"):
            refuse(planned.spec, lister="sweep --dry-run")
    table_of_costs = cost_table(load_recipe(args.recipe, list(args.overrides)))
    counts = {state: sum(p.state == state for p in plan) for state in ("finished", "running elsewhere", "failed")}
    console.print(f"sweep {args.recipe} ({args.executor}): {len(plan)} runs, {counts['finished']} finished, "
                  f"{counts['running elsewhere']} running elsewhere, {counts['failed']} failed")
    totals: dict[str, float] = {}
    unpriced = []
    rows = []
    for planned in plan:
        cost = estimate(planned.spec, table_of_costs, _world_size(args, planned.spec.settings.launch))
        if planned.state in ("to do", "failed"):
            if cost is None:
                unpriced.append(planned.spec.model)
            else:
                totals[cost.unit] = totals.get(cost.unit, 0.0) + cost.hours
        why = {None: "new", "running": "its process is gone", "interrupted": "interrupted",
               "finished": "rerun"}.get(planned.status, planned.status)
        status = {"finished": "finished", "to do": f"to do ({why})", "failed": "failed, runs again",
                  "running elsewhere": f"running elsewhere ({planned.holder.describe() if planned.holder else ''})"}
        rows.append([planned.run_id, status[planned.state], planned.spec.variant.name, planned.describe(),
                     cost.describe() if cost else "? (no cost entry)"])
    for line in fit_columns(("run id", "status", "variant", "cell", "estimate"), rows, shrink=(3, 2, 1, 4)):
        console.print(line, markup=False, emoji=False)
    if args.dry_run:
        for line in preflight_lines(plan):
            console.print(line, markup=False, emoji=False)
    todo = sum(p.state in ("to do", "failed") for p in plan)
    priced = ", ".join(f"{hours:.3g} {unit}" for unit, hours in totals.items()) or "nothing priced"
    note = f"; no cost entry for {', '.join(sorted(set(unpriced)))} (add cost.models.MODEL)" if unpriced else ""
    console.print(f"estimate: {priced} for the {todo} run(s) left to run (cost table: the recipe's cost.models){note}")
    if args.dry_run:
        return 0
    launch = Launch(args.recipe, tuple(args.overrides), args.runs_root, parallel=args.parallel, nproc=args.nproc,
                    cluster=args.cluster)
    summary = run_sweep(plan, args.runs_root, executor=args.executor, launch=launch, echo=console.print)
    console.print(f"sweep {args.recipe}: {len(summary.finished)} finished, {len(summary.skipped)} skipped "
                  f"(already finished), {len(summary.failed)} failed, {len(summary.running_elsewhere)} running "
                  f"elsewhere" + (f", {len(summary.blocked)} blocked" if summary.blocked else "")
                  + (f", {len(summary.interrupted)} interrupted" if summary.signal is not None else ""))
    for rid, holder in summary.running_elsewhere:
        console.print(f"  [yellow]running elsewhere[/] {rid}: {holder}")
    for rid, error, log in summary.failed:
        console.print(f"  [red]failed[/] {rid}: {error}\n         log: {log}")
    for rid, reason in summary.blocked:
        console.print(f"  [red]blocked[/] {rid}: {reason}")
    for rid, when in summary.interrupted:
        console.print(f"  [yellow]interrupted[/] {rid}: {when}; the same sweep resumes it")
    if summary.signal is not None:
        raise Interrupted(summary.signal)
    return 0 if summary.ok else 1
