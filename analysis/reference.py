"""The papers' published numbers (`results/reference/*.csv`, one tidy file per printed table).

Values are kept as the printed strings so a table rendered from them shows the paper's digits."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from harness.errors import PanbenchError

REFERENCE_DIR = Path(__file__).resolve().parents[1] / "results" / "reference"
FIT_METRICS = ("pq", "ap", "ap_box")


def reference_path(table: str) -> Path:
    """`panda-table2` -> results/reference/panda_table2.csv."""
    return REFERENCE_DIR / f"{table.replace('-', '_')}.csv"


def load_reference(table: str) -> pd.DataFrame:
    """One printed table, long format, `value` as the printed string (use `numeric()` to compute)."""
    path = reference_path(table)
    if not path.is_file():
        known = sorted(p.stem.replace("_", "-") for p in REFERENCE_DIR.glob("*.csv"))
        raise PanbenchError(f"{path}: no reference table '{table}' (known: {', '.join(known)})")
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    if "images" in frame:
        frame["images"] = frame["images"].astype(int)
    return frame


def numeric(frame: pd.DataFrame, column: str = "value") -> pd.DataFrame:
    out = frame.copy()
    out[column] = out[column].astype(float)
    return out


def fit_inputs() -> pd.DataFrame:
    """The points behind Eq. 1-3: (images, metric, value) for UPSNet-50 without PanDA on Cityscapes.

    Reproducing the printed slopes, intercepts and r² shows which numbers the paper used: Table 2's
    10 / 100 / 1,000-image rows, and at 3,000 images (n = 3000, not 2,975) the authors' own baseline
    of Table 1 (58.8 PQ, 33.5 AP, 38.7 APbox). Table 2's 3,000-image row (59.3 / 33.3 / 39.1) is the
    UPSNet paper's published result (Supplementary Table 1, Xiong et al.), which gives other fits."""
    table2 = numeric(load_reference("panda-table2"))
    table1 = numeric(load_reference("panda-table1"))
    small = table2[(table2.dataset == "cityscapes") & (table2.variant == "none") & (table2.images < 3000)]
    full = table1[(table1.model == "upsnet-r50") & (table1.variant == "none")]
    points = pd.concat([small, full])
    return points[points.metric.isin(FIT_METRICS)][["images", "metric", "value"]].reset_index(drop=True)


def augmented_points() -> pd.DataFrame:
    """UPSNet-50 with PanDA 1x on Cityscapes (Table 2; its 3,000-image row equals Table 1's)."""
    table2 = numeric(load_reference("panda-table2"))
    rows = table2[(table2.dataset == "cityscapes") & (table2.variant == "panda-1x") & table2.metric.isin(FIT_METRICS)]
    return rows[["images", "metric", "value"]].reset_index(drop=True)
