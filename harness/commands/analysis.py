"""`panbench table`, `panbench figure`, `panbench report`, `panbench dashboard`."""

from __future__ import annotations

import argparse
from pathlib import Path

from analysis.tables import PER_CLASS_METRIC, TABLE_NAMES, RunFilter, build_table
from harness.config.paths import add_runs_root


def _add_run_filters(parser: argparse.ArgumentParser) -> None:
    add_runs_root(parser)
    parser.add_argument("--recipe", default=None, help="only runs of this recipe")
    parser.add_argument("--model", default=None, help="only runs of this model")
    parser.add_argument("--dataset", default=None, help="only runs on this dataset")


def _where(args: argparse.Namespace) -> RunFilter:
    return RunFilter(root=args.runs_root, recipe=args.recipe, model=args.model, dataset=args.dataset)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("table")
    p.add_argument("name", choices=TABLE_NAMES, metavar="NAME", help=", ".join(TABLE_NAMES))
    p.add_argument("--source", choices=("runs", "reference"), default="runs")
    p.add_argument("--out", type=Path, default=None,
                   help="write the table: CSV, or Markdown / LaTeX for a .md / .tex file; with --format latex "
                        "a CSV gets its LaTeX beside it (same name, .tex)")
    p.add_argument("--format", choices=("markdown", "latex"), default="markdown", help="printed format")
    _add_run_filters(p)
    p.set_defaults(func=table_command)

    p = subparsers.add_parser("figure")
    p.add_argument("name", choices=("fig3", "class-share", "per-class", "panda-copies", "synth-fig4", "synth-samples"))
    p.add_argument("--out", type=Path, required=True, help="output prefix: writes PREFIX.png and PREFIX.svg")
    p.add_argument("--source", choices=("runs", "reference"), default="runs")
    p.add_argument("--table", default="panda-supp-table2", choices=tuple(PER_CLASS_METRIC),
                   help="per-class: the per-class table to draw")
    p.add_argument("--root", type=Path, default=None, help="class-share: dataset root (original images)")
    p.add_argument("--compare", type=Path, default=None, help="class-share: a second dataset (e.g. its PanDA set)")
    p.add_argument("--size", default="256x512", help="synth-fig4: generator output size HxW (maps resized to it)")
    p.add_argument("--smallest", default="8x16", help="synth-fig4: the generator's first scale HxW")
    p.add_argument("--images", type=int, default=3, help="synth-samples: validation label maps shown (rows)")
    _add_run_filters(p)
    p.set_defaults(func=figure_command)

    p = subparsers.add_parser("report")
    p.add_argument("--out", type=Path, default=Path("results/report"))
    p.add_argument("--source", choices=("runs", "reference"), default="runs")
    p.add_argument("--tables", default="panda-table2,panda-table3,panda-fit", help="comma-separated table names")
    p.add_argument("--figures", default="fig3",
                   help="comma-separated: fig3, per-class, panda-copies (none: no figures)")
    p.add_argument("--no-dashboard", action="store_true")
    _add_run_filters(p)
    p.set_defaults(func=report_command)

    p = subparsers.add_parser("dashboard")
    p.add_argument("--out", type=Path, default=Path("results/dashboard.html"))
    add_runs_root(p)
    p.set_defaults(func=dashboard_command)


def table_command(args: argparse.Namespace) -> int:
    from analysis.render import print_table, write_table

    table = build_table(args.name, args.source, _where(args))
    print_table(table, args.format)
    if args.out is not None:
        fmt = {".md": "markdown", ".tex": "latex"}.get(args.out.suffix, "csv")
        print(f"wrote {write_table(table, args.out, fmt)}")
        if args.format == "latex" and fmt != "latex":
            print(f"wrote {write_table(table, args.out.with_suffix('.tex'), 'latex')}")
    return 0


def figure_command(args: argparse.Namespace) -> int:
    from analysis import figures, report

    if args.name == "fig3":
        paths = report.fig3(args.out, args.source, _where(args))
    elif args.name == "synth-fig4":
        from analysis.upsampling_alignment import parse_size, write_figure4
        from harness.errors import PanbenchError
        from harness.progress import interactive

        if args.root is None:
            raise PanbenchError("figure synth-fig4: --root DIR (a COCO-panoptic dataset) is required")
        paths = write_figure4(args.root, parse_size(args.size), parse_size(args.smallest), args.out,
                              progress=interactive())
    elif args.name == "panda-copies":
        paths = report.copies_figure(args.out, _where(args), args.source)
    elif args.name == "synth-samples":
        from analysis.synthesis_samples import synthesis_samples
        from analysis.tables import select_runs

        paths = figures.save_figure(synthesis_samples(select_runs(_where(args)), args.runs_root, args.images), args.out)
    elif args.name == "per-class":
        paths = report.per_class_figure(build_table(args.table, args.source, _where(args)), args.out)
    else:
        from analysis.labels import dataset_labels
        from harness.data.stats import class_pixel_share, share_bars
        from harness.errors import PanbenchError

        if args.root is None:
            raise PanbenchError("figure class-share: --root DIR is required (and --compare DIR2 for PanDA)")
        roots = [args.root] + ([args.compare] if args.compare is not None else [])
        frames = [(label, class_pixel_share(root)) for label, root in zip(dataset_labels(roots), roots)]
        paths = (figures.save_figure(figures.class_share_treemap(frames), f"{args.out}-treemap")
                 + figures.save_figure(share_bars(frames), f"{args.out}-bars"))
    for path in paths:
        print(f"wrote {path}")
    return 0


def report_command(args: argparse.Namespace) -> int:
    from analysis.report import write_report

    written = write_report(args.out, source=args.source, where=_where(args),
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
