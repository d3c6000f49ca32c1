"""`panbench search RECIPE [key=value ...] --trials N [--parallel P] [--storage URL] [--sampler
tpe|random|grid] [--executor local|torchrun|slurm] [--dry-run]`: Optuna over the recipe's `search:`
space (harness/launch/search.py). Restarted with the same command, a search continues to N finished
trials; `--parallel P` runs P search processes on one storage (any Optuna storage URL: several
machines or SLURM jobs may run `panbench search` against one database at once)."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

from harness.config.paths import add_runs_root
from harness.launch.plan import EXECUTORS

SAMPLER_CHOICES = ("tpe", "random", "grid")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("search", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("recipe", help="recipe name (recipes/NAME.yaml) or path; its `search:` section is the space")
    p.add_argument("overrides", nargs="*", metavar="key=value",
                   help="fixed overrides (part of the study's name)")
    p.add_argument("--trials", type=int, default=None, metavar="N",
                   help="finished trials the study ends with (default: the recipe's search.trials)")
    p.add_argument("--parallel", type=int, default=1, metavar="P", help="search processes on this machine")
    p.add_argument("--storage", default=None, metavar="URL",
                   help="Optuna storage URL (default: sqlite under the runs root, printed)")
    p.add_argument("--sampler", choices=SAMPLER_CHOICES, default=None, help="default: the recipe's search.sampler")
    p.add_argument("--executor", choices=EXECUTORS, default="local",
                   help="where each trial's runs train: local processes, torchrun, SLURM (submitit)")
    p.add_argument("--dry-run", action="store_true", help="print the study, its space and cost estimate, and stop")
    add_runs_root(p)
    p.set_defaults(func=search_command)


def search_command(args: argparse.Namespace) -> int:
    from analysis.render import print_table
    from analysis.search import search_table
    from harness.errors import ConfigError
    from harness.launch.search import Search, default_storage, search_config

    section = search_config(args.recipe, args.overrides)
    trials = args.trials if args.trials is not None else section.trials
    if trials < 1:
        raise ConfigError(f"--trials {trials}: must be >= 1")
    if args.parallel < 1:
        raise ConfigError(f"--parallel {args.parallel}: must be >= 1")
    storage = args.storage or default_storage(args.runs_root)
    search = Search(args.recipe, list(args.overrides), args.runs_root, trials, storage, section,
                    executor=args.executor, sampler=args.sampler)
    if args.dry_run:
        _dry_run(search, args.executor)
        return 0
    print(f"storage: {storage}")
    if args.parallel == 1:
        search.run()
    else:
        search.open()  # the storage and study exist before the workers open them
        _run_workers(args, storage)
    print_table(search_table(search.open()), "markdown")
    return 0


def _run_workers(args: argparse.Namespace, storage: str) -> None:
    """P copies of this command (each `--parallel 1`) on one storage, the cores split between them."""
    threads = str(max(1, len(os.sched_getaffinity(0)) // args.parallel))
    cmd = [sys.executable, "-m", "harness.cli", "search", args.recipe, *args.overrides, "--parallel", "1",
           "--storage", storage, "--executor", args.executor, "--runs-root", str(args.runs_root)]
    cmd += ["--trials", str(args.trials)] if args.trials is not None else []
    cmd += ["--sampler", args.sampler] if args.sampler else []
    env = {**os.environ, "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}
    workers = [subprocess.Popen(cmd, env=env) for _ in range(args.parallel)]
    codes = [w.wait() for w in workers]
    if any(codes):
        from harness.errors import PanbenchError

        raise PanbenchError(f"search workers exited with codes {codes}")


def _dry_run(search, executor: str) -> None:
    """The study, its space and what its runs would cost (the recipe's cost table, as `sweep --dry-run`)."""
    from harness.config.recipes import load_recipe
    from harness.config.run_spec import RunSpec
    from harness.launch.estimate import cost_table, estimate
    from harness.launch.search import control_overrides

    section = search.section
    print(f"study {search.name!r}, storage {search.storage}")
    print(f"objective: {section.metric}" + (" gain over the compute-matched control" if section.control else "")
          + f", mean over seeds {list(section.seeds)}; sampler {search.sampler or section.sampler}, "
            f"pruner {section.pruner}")
    for key, p in section.params.items():
        space = f"one of {list(p.choices)}" if p.choices is not None else \
            f"[{p.low}, {p.high}]" + (" log" if p.log else "") + (f" step {p.step}" if p.step else "")
        print(f"  {key}: {space}")
    table = cost_table(load_recipe(search.recipe, search.overrides))
    spec = RunSpec.from_recipe(search.recipe, search.overrides)
    launch = spec.settings.launch
    world = launch.nodes * launch.ranks_per_node if executor == "slurm" else 1
    trial = estimate(spec, table, world)
    seeds = len(section.seeds)
    if trial is None:
        print(f"estimate: no cost entry for {spec.model} (add cost.models.{spec.model})")
        return
    hours = trial.hours * seeds * search.trials
    if section.control:
        control = estimate(RunSpec.from_recipe(search.recipe, [*search.overrides, *control_overrides(spec)]),
                           table, world)
        hours += control.hours * seeds if control else 0.0
    print(f"estimate: {hours:.3g} {trial.unit} for {search.trials} trial(s) x {seeds} seed(s)"
          + (" + the controls" if section.control else "") + f" ({trial.describe()} per trial run, before pruning)")
