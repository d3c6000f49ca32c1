"""Everything a study needs in one folder: tables (CSV + Markdown), Fig. 3 (PNG + SVG), per-class
bars, the copies study's figure and the dashboard. `make demo` and the per-table make targets call
it through `panbench report`."""

from __future__ import annotations

from pathlib import Path

from analysis.dashboard import write_dashboard
from analysis.paper_figures import copies_figure, fig3, peers_figure, per_class_figure
from analysis.render import write_table
from analysis.specs import build_table, table_source
from analysis.tables import RunFilter
from harness.errors import PanbenchError

FIGURES = ("fig3", "per-class", "panda-copies", "panda-peers")


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
            table = build_table(name, table_source(name, source), where)
        except PanbenchError as exc:
            written["skipped"].append(f"{name}: {exc}")
            continue
        written["tables"] += [write_table(table, out / f"{name}.csv"),
                              write_table(table, out / f"{name}.md", "markdown")]
        if name in ("panda-supp-table2", "panda-supp-table3") and "per-class" in figures:
            written["figures"] += per_class_figure(table, out / f"{name}-bars")
    figure_source = "runs" if source == "both" else source
    if "fig3" in figures:
        try:
            written["figures"] += fig3(out / "panda-fig3", figure_source, where)
        except PanbenchError as exc:
            written["skipped"].append(f"fig3: {exc}")
    if "panda-copies" in figures:
        try:
            written["figures"] += copies_figure(out / "panda-copies", where, figure_source)
        except PanbenchError as exc:
            written["skipped"].append(f"panda-copies: {exc}")
    if "panda-peers" in figures:
        try:
            written["figures"] += peers_figure(out / "panda-peers", where, figure_source)
        except PanbenchError as exc:
            written["skipped"].append(f"panda-peers: {exc}")
    if dashboard and source != "reference":
        written["dashboard"].append(write_dashboard(out / "dashboard.html", (where or RunFilter()).root))
    return written
