"""The papers' figures drawn from the run store or the published numbers: Fig. 3 (learning curves),
per-class bars of a per-class table, and the copies study (analysis/figures.py draws them)."""

from __future__ import annotations

from pathlib import Path

from analysis.curves import reference_points, runs_points
from analysis.figures import copies_curves, learning_curves, per_class_bars, save_figure
from analysis.runs import spread_phrase
from analysis.tables import (COPIES_METRICS, PEERS_METRICS, RunFilter, Table, runs_copies_table,
                             runs_peers_table, select_runs)
from harness.errors import PanbenchError


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
    if source != "runs":
        raise PanbenchError("panda-copies: the papers publish no numbers for the copies study; use --source runs")
    frame = runs_copies_table(select_runs(where or RunFilter())).frame
    metrics = [m for m in COPIES_METRICS if m in frame and frame[m].notna().any()]
    groups = list(frame.groupby(["model", "dataset", "images"], sort=True))
    paths: list[Path] = []
    for k, ((model, dataset, n), rows) in enumerate(groups):
        prefix = f"{out_prefix}-{model}-{dataset}-n{int(n)}" if k else str(out_prefix)
        title = (f"{model} on {dataset}, n = {int(n)}: PanDA copies vs the plain control of the same iterations "
                 f"({spread_phrase(int(rows.seeds.max()))}; no published numbers)")
        paths += save_figure(copies_curves(rows, metrics, title=title), prefix)
    return paths


def peers_figure(out_prefix: str | Path, where: RunFilter | None = None, source: str = "runs") -> list[Path]:
    """The peers study: each arm's Δ against its compute-matched control with its 95 % interval
    (analysis/peers.py). One figure per (model, dataset); a second one gets the suffix `-<model>-<dataset>`."""
    from analysis.peers import peers_figure as draw

    if source != "runs":
        raise PanbenchError("panda-peers: the papers publish no numbers for the peers study; use --source runs")
    frame = runs_peers_table(select_runs(where or RunFilter())).frame
    metrics = [m for m in PEERS_METRICS if f"delta_{m}" in frame and frame[f"delta_{m}"].notna().any()]
    if not metrics:
        raise PanbenchError("panda-peers: no finished arm has a compute-matched control yet")
    paths: list[Path] = []
    for k, ((model, dataset), rows) in enumerate(frame.groupby(["model", "dataset"], sort=True)):
        prefix = f"{out_prefix}-{model}-{dataset}" if k else str(out_prefix)
        title = f"{model} on {dataset}: each arm minus its plain control of the same iterations (95 % interval)"
        paths += save_figure(draw(rows, metrics, title=title), prefix)
    return paths


def per_class_figure(table: Table, out_prefix: str | Path) -> list[Path]:
    labels = [c for c in ("source", "model", "variant") if c in table.frame.columns]
    metric = {"panda-supp-table2": "mask AP", "panda-supp-table3": "box AP", "per-class-pq": "PQ",
              "per-class-iou": "IoU"}[table.name]
    return save_figure(per_class_bars(table.frame, labels, ylabel=metric, title=f"{table.name}: per-class {metric}"),
                       out_prefix)
