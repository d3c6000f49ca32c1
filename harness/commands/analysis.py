"""`panbench table`, `panbench figure`, `panbench report`, `panbench dashboard`."""

from __future__ import annotations

import argparse
from pathlib import Path

from analysis.specs import FIGURES, SCALES, SOURCES, TABLES, scale_suffix
from harness.config.paths import add_runs_root

SOURCE_HELP = ("runs: the run store; reference: the papers' published numbers; both: ours | paper | Δ side by "
               "side, with 95 %% intervals on the Δ between arms")


def _add_run_filters(parser: argparse.ArgumentParser) -> None:
    add_runs_root(parser)
    parser.add_argument("--recipe", default=None, help="only runs of this recipe")
    parser.add_argument("--model", default=None, help="only runs of this model")
    parser.add_argument("--dataset", default=None, help="only runs on this dataset")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("table")
    p.add_argument("name", choices=(*TABLES, "search"), metavar="NAME", help=", ".join((*TABLES, "search")))
    p.add_argument("--source", choices=SOURCES, default="runs", help=SOURCE_HELP)
    p.add_argument("--storage", default=None, metavar="URL",
                   help="search: the study's Optuna storage (default: sqlite under the runs root)")
    p.add_argument("--out", type=Path, default=None,
                   help="write the table: CSV, or Markdown / LaTeX for a .md / .tex file; with --format latex "
                        "a CSV gets its LaTeX beside it (same name, .tex)")
    p.add_argument("--format", choices=("markdown", "latex"), default="markdown", help="printed format")
    _add_run_filters(p)
    p.set_defaults(func=table_command)

    p = subparsers.add_parser("figure")
    names = p.add_subparsers(dest="name", required=True, metavar="NAME")
    for spec in FIGURES.values():
        f = names.add_parser(spec.name, help=spec.title)
        f.add_argument("--out", type=Path, required=True, help="output prefix: writes PREFIX.png and PREFIX.svg")
        f.add_argument("--source", choices=("runs", "reference"), default="runs",
                       help="runs: the run store; reference: the papers' numbers")
        for flag, options in spec.flags:
            f.add_argument(flag, **options)
        _add_run_filters(f)
        f.set_defaults(func=figure_command)

    p = subparsers.add_parser("report")
    p.add_argument("--out", type=Path, default=Path("results/report"), help="folder to write (default results/report)")
    p.add_argument("--source", choices=SOURCES, default="runs", help=SOURCE_HELP + " (figures: runs)")
    p.add_argument("--tables", default="panda-table2,panda-table3,panda-fit", help="comma-separated table names")
    p.add_argument("--figures", default="fig3",
                   help="comma-separated: fig3, per-class, panda-copies, panda-peers (none: no figures)")
    p.add_argument("--no-dashboard", action="store_true", help="write no dashboard.html into the folder")
    _add_run_filters(p)
    p.set_defaults(func=report_command)

    p = subparsers.add_parser("dashboard")
    p.add_argument("--out", type=Path, default=Path("results/dashboard.html"),
                   help="HTML file to write (default results/dashboard.html)")
    add_runs_root(p)
    p.set_defaults(func=dashboard_command)

    p = subparsers.add_parser("specs")
    p.add_argument("action", nargs="?", choices=("list", "recipe", "render"), default="list",
                   help="list: every spec; recipe TARGET: the recipe a make target sweeps; render TARGET: its tables")
    p.add_argument("target", nargs="?", default=None, help="a make target (recipe, render)")
    p.add_argument("--scale", choices=SCALES, default="mini",
                   help="full: the paper recipes; mini: their -mini ones; small: their -small ones")
    p.add_argument("--out", type=Path, default=Path("results/tables"), help="render: folder of the tables")
    add_runs_root(p)
    p.set_defaults(func=specs_command)


def table_command(args: argparse.Namespace) -> int:
    from analysis.render import print_table, write_table
    from analysis.specs import build_table, run_filter

    if args.name == "search":  # a study's trials, read from Optuna's storage (analysis/search.py)
        from analysis.search import named_study, search_table

        table = search_table(named_study(args.recipe, args.storage, args.runs_root))
    else:
        table = build_table(args.name, args.source, run_filter(args))
    print_table(table, args.format)
    if args.out is not None:
        fmt = {".md": "markdown", ".tex": "latex"}.get(args.out.suffix, "csv")
        print(f"wrote {write_table(table, args.out, fmt)}")
        if args.format == "latex" and fmt != "latex":
            print(f"wrote {write_table(table, args.out.with_suffix('.tex'), 'latex')}")
    return 0


def figure_command(args: argparse.Namespace) -> int:
    spec = FIGURES[args.name]
    for path in spec.draw(args):
        print(f"wrote {path}")
    if spec.from_runs and args.source == "runs":
        from analysis.provenance import code_state_line
        from analysis.specs import run_filter
        from analysis.tables import select_runs

        state = code_state_line(select_runs(run_filter(args)))
        if state:
            print(state)
    return 0


def specs_command(args: argparse.Namespace) -> int:
    from analysis.specs import make_targets, render_target, scale_suffix
    from harness.errors import PanbenchError

    targets = make_targets()
    if args.action == "list":
        for spec in TABLES.values():
            reference = "paper" if spec.reference is not None else "runs only"
            target = (spec.target or spec.name) if spec.recipe else "-"
            print(f"table  {spec.name:18s} {target:14s} {spec.recipe or '-':14s} {reference:9s} "
                  f"{spec.title}")
        for fig in FIGURES.values():
            print(f"figure {fig.name:18s} {fig.target or '-':14s} {fig.recipe or '-':14s} "
                  f"{'paper' if fig.reference else '':9s} {fig.title}")
        return 0
    if args.action == "render" and args.target is None:  # every target: what the store can give
        for target, (recipe, names) in targets.items():
            try:
                paths = render_target(names, recipe + scale_suffix(args.scale), args.out,
                                      args.runs_root)
            except PanbenchError as exc:
                print(f"skipped   {target}: {exc}")
                continue
            print("\n".join(f"wrote {path}" for path in paths))
        return 0
    if args.target not in targets:
        raise PanbenchError(f"specs {args.action}: unknown make target {args.target!r} (known: {', '.join(targets)})")
    recipe, names = targets[args.target]
    if args.action == "recipe":
        print(recipe + scale_suffix(args.scale))
        return 0
    for path in render_target(names, recipe + scale_suffix(args.scale), args.out, args.runs_root):
        print(f"wrote {path}")
    return 0


def report_command(args: argparse.Namespace) -> int:
    from analysis.report import write_report

    from analysis.specs import run_filter

    written = write_report(args.out, source=args.source, where=run_filter(args),
                           tables=[t for t in args.tables.split(",") if t],
                           figures=[f for f in args.figures.split(",") if f and f != "none"],
                           dashboard=not args.no_dashboard)
    for kind in ("tables", "figures", "dashboard"):
        for path in written[kind]:
            print(f"{kind:9s} {path}")
    for reason in written["skipped"]:
        print(f"skipped   {reason}")
    return 0


def dashboard_command(args: argparse.Namespace) -> int:
    from analysis.dashboard import write_dashboard

    print(f"wrote {write_dashboard(args.out, args.runs_root)}")
    return 0
