"""One self-contained HTML page over the run store: filterable runs table, side-by-side comparison
(metrics, differences, config differences), the learning curves and the data-efficiency table.

Everything is inline (data as JSON, JS, CSS, the figure as SVG), so the file works offline and can
be mailed or attached to a paper review; W&B links appear for runs that were synced."""

from __future__ import annotations

import html
import io
import json
import math
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from analysis.curves import runs_points
from analysis.figures import learning_curves
from analysis.render import display_rows
from analysis.runs import METRICS, load_runs
from analysis.tables import runs_table3
from harness.atomic import write_text
from harness.errors import PanbenchError

TEMPLATE = Path(__file__).with_name("dashboard_template.html")
SHOWN_METRICS = ("pq", "sq", "rq", "pq_th", "pq_st", "miou", "accuracy", "ap", "ap_box", "det_ap", "fid")


def flatten(config: dict, prefix: str = "") -> dict:
    """Nested config -> dotted keys, so two runs' configs compare key by key."""
    out = {}
    for key, value in (config or {}).items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flatten(value, dotted + "."))
        else:
            out[dotted] = value
    return out


def _clean(value: object) -> object:
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "item"):  # numpy scalar
        return _clean(value.item())
    return value


def runs_payload(runs: pd.DataFrame) -> dict:
    metrics = [m for m in SHOWN_METRICS if m in runs and runs[m].notna().any()] or ["pq", "miou", "ap"]
    records = []
    runs = runs.sort_values(["recipe", "model", "dataset", "n", "variant", "seed", "run_id"], kind="stable",
                            na_position="last")
    for row in runs.itertuples(index=False):
        fields = {k: _clean(getattr(row, k)) for k in ("run_id", "recipe", "model", "dataset", "variant", "seed",
                                                         "status", "error", "wandb_url")}
        records.append({**fields, "n": None if pd.isna(row.n) else int(row.n),
                        "metrics": {m: _clean(getattr(row, m)) for m in METRICS}, "config": flatten(row.config)})
    return {"runs": records, "metrics": metrics}


def curves_svg(runs: pd.DataFrame) -> str:
    """The runs' learning curves as inline SVG, or a note saying what is missing."""
    finished = runs[runs.status == "finished"]
    try:
        points = runs_points(finished) if not finished.empty else pd.DataFrame()
    except PanbenchError as exc:
        return f'<p class="muted">{html.escape(str(exc))}</p>'
    if points.empty or points.n.nunique() < 2:
        return '<p class="muted">No learning curve yet: it needs finished runs at two or more sizes n.</p>'
    buf = io.StringIO()
    figure = learning_curves(points)
    figure.savefig(buf, format="svg")
    import matplotlib.pyplot as plt

    plt.close(figure)
    svg = buf.getvalue()
    return svg[svg.index("<svg"):]


def efficiency_html(runs: pd.DataFrame) -> str:
    finished = runs[runs.status == "finished"]
    try:
        table = runs_table3(finished) if not finished.empty else None
    except PanbenchError as exc:
        return f'<p class="muted">{html.escape(str(exc))}</p>'
    if table is None:
        return '<p class="muted">No finished runs yet.</p>'
    header, rows = display_rows(table)
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>" for cells in rows)
    return (f'<table class="de-table"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
            f'<p class="muted">{html.escape(table.caption)}</p>')


def render_dashboard(runs_root: str | Path = "results/runs") -> str:
    runs = load_runs(runs_root)
    data = json.dumps(runs_payload(runs), default=str, allow_nan=False).replace("</", "<\\/")
    page = TEMPLATE.read_text(encoding="utf-8")
    for marker, value in (("__FIGURE__", curves_svg(runs)), ("__DE_TABLE__", efficiency_html(runs)),
                          ("__GENERATED__", datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")),
                          ("__RUNS_ROOT__", html.escape(str(runs_root))), ("__DATA__", data)):
        page = page.replace(marker, value)
    return page


def write_dashboard(out: str | Path = "results/dashboard.html", runs_root: str | Path = "results/runs") -> Path:
    out = Path(out)
    write_text(out, render_dashboard(runs_root))
    return out
