"""Everything a study needs in one folder: tables (CSV + Markdown), Fig. 3 (PNG + SVG), per-class
bars, the copies study's figure and the dashboard. `make demo` and the per-table make targets call
it through `panbench report`."""

from __future__ import annotations

from pathlib import Path

from analysis.curves import reference_points, runs_points
from analysis.dashboard import write_dashboard
from analysis.figures import copies_curves, learning_curves, per_class_bars, save_figure
from analysis.render import write_table
from analysis.tables import COPIES_METRICS, PER_CLASS_METRIC, RunFilter, Table, build_table, select_runs
from harness.errors import PanbenchError

FIGURES = ("fig3", "per-class", "panda-copies", "panda-peers")


def fig3(out_prefix: str | Path, source: str = "reference", where: RunFilter | None = None) -> list[Path]:
    """PanDA Fig. 3 / Supp. Fig. 4: error vs n, dashed baseline fit, solid PanDA fit."""
    if source == "reference":
        points, title = reference_points(), "PanDA paper: UPSNet-50 on Cityscapes (Fig. 3 / Supp. Fig. 4)"
    else:
        runs = select_runs(where or RunFilter())
        points = runs_points(runs)
        title = f"{runs.model.iloc[0]} on {runs.dataset.iloc[0]} (dashed: baseline, solid: PanDA)"
        if points.n.nunique() < 2:
            raise PanbenchError("fig3 needs finished runs at two or more sizes n")
    return save_figure(learning_curves(points, title=title), out_prefix)


def copies_figure(out_prefix: str | Path, where: RunFilter | None = None, source: str = "runs") -> list[Path]:
    """The copies study: PQ and AP against PanDA copies per original, beside the plain controls. One
    figure per (model, dataset, n); a second one gets the suffix `-<model>-<dataset>-n<n>`."""
    frame = build_table("panda-copies", source, where).frame  # runs only: the papers publish no such numbers
    metrics = [m for m in COPIES_METRICS if m in frame and frame[m].notna().any()]
    groups = list(frame.groupby(["model", "dataset", "images"], sort=True))
    paths: list[Path] = []
    for k, ((model, dataset, n), rows) in enumerate(groups):
        prefix = f"{out_prefix}-{model}-{dataset}-n{int(n)}" if k else str(out_prefix)
        title = (f"{model} on {dataset}, n = {int(n)}: PanDA copies vs the plain control of the same iterations "
                 "(mean ± std over seeds; no published numbers)")
        paths += save_figure(copies_curves(rows, metrics, title=title), prefix)
    return paths


def peers_figure(out_prefix: str | Path, where: RunFilter | None = None, source: str = "runs") -> list[Path]:
    """The peers study: each arm's Δ against its compute-matched control with a 95 % interval (analysis/peers.py);
    one figure per (model, dataset), a second one suffixed `-<model>-<dataset>`."""
    from analysis.peers import PEERS_METRICS, peers_figure as draw

    frame = build_table("panda-peers", source, where).frame
    metrics = [m for m in PEERS_METRICS if f"delta_{m}" in frame and frame[f"delta_{m}"].notna().any()]
    if not metrics:
        raise PanbenchError("panda-peers needs finished arms with their compute-matched controls")
    paths: list[Path] = []
    for k, ((model, dataset), rows) in enumerate(frame.groupby(["model", "dataset"], sort=True)):
        prefix = f"{out_prefix}-{model}-{dataset}" if k else str(out_prefix)
        title = f"{model} on {dataset}: each arm minus its plain control of the same iterations (95 % interval)"
        paths += save_figure(draw(rows, metrics, title=title), prefix)
    return paths


def per_class_figure(table: Table, out_prefix: str | Path) -> list[Path]:
    labels = [c for c in ("source", "model", "variant") if c in table.frame.columns]
    metric = {"ap": "mask AP", "ap_box": "box AP", "pq": "PQ", "iou": "IoU"}[PER_CLASS_METRIC[table.name]]
    return save_figure(per_class_bars(table.frame, labels, ylabel=metric, title=f"{table.name}: per-class {metric}"),
                       out_prefix)


def write_report(out: str | Path, *, source: str = "runs", where: RunFilter | None = None,
                 tables: list[str] = ("panda-table2", "panda-table3", "panda-fit"),
                 figures: list[str] = ("fig3",), dashboard: bool = True) -> dict[str, list]:
    """Write the named tables and figures under `out`; a table the runs cannot give yet is reported,
    not fatal, so a partial study still renders what it has."""
    unknown = [f for f in figures if f not in FIGURES]
    if unknown:
        raise PanbenchError(f"report --figures: unknown {', '.join(unknown)} (known: {', '.join(FIGURES)}, or none)")
    out = Path(out)
    written: dict[str, list] = {"tables": [], "figures": [], "dashboard": [], "skipped": []}
    for name in tables:
        try:
            table = build_table(name, source, where)
        except PanbenchError as exc:
            written["skipped"].append(f"{name}: {exc}")
            continue
        written["tables"] += [write_table(table, out / f"{name}.csv"),
                              write_table(table, out / f"{name}.md", "markdown")]
        if name in ("panda-supp-table2", "panda-supp-table3") and "per-class" in figures:
            written["figures"] += per_class_figure(table, out / f"{name}-bars")
    if "fig3" in figures:
        try:
            written["figures"] += fig3(out / "panda-fig3", source, where)
        except PanbenchError as exc:
            written["skipped"].append(f"fig3: {exc}")
    if "panda-copies" in figures:
        try:
            written["figures"] += copies_figure(out / "panda-copies", where, source)
        except PanbenchError as exc:
            written["skipped"].append(f"panda-copies: {exc}")
    if "panda-peers" in figures:
        try:
            written["figures"] += peers_figure(out / "panda-peers", where, source)
        except PanbenchError as exc:
            written["skipped"].append(f"panda-peers: {exc}")
    if dashboard and source == "runs":
        written["dashboard"].append(write_dashboard(out / "dashboard.html", (where or RunFilter()).root))
    return written
