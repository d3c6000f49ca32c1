"""Ours | paper | Δ (`--source both`): each row of a table built from runs beside the published row it
reproduces, their difference, and, between two arms of the study (PanDA vs the original images,
panoptic SPADE vs SPADE), the Δ with its 95 % interval (analysis/intervals.py). Ours vs the paper is
not an arm pair (other data, other scale), so it carries no interval.

Rows meet on the spec's `match` keys; a model is compared by family (`upsnet-mini` with `upsnet-r50`)
and a dataset the paper has no row for (the mini study's synthetic scenes) with the paper's first one,
as the caption says."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from analysis.intervals import MIN_SEEDS, RESAMPLES, arm_intervals
from analysis.tables import Table
from harness.metrics.vocabulary import METRICS, higher_is_better, metric_label

TEXT = ("model", "dataset", "variant", "method", "metric", "source", "note", "copies")


@dataclass(frozen=True)
class Comparison:
    """How a table's rows meet the paper's: on `match`; `metrics`: the compared columns (empty: every
    column both have); `arm` = (column, control value): each other row's Δ to its control row of the same
    keys, with an interval from `rows(selected runs)` (the runs keyed like the table's rows);
    `paper_rows`: only the published rows with these values (e.g. the authors', not a cited baseline)."""

    match: tuple[str, ...]
    metrics: tuple[str, ...]
    arm: tuple[str, str] | None = None
    rows: Callable[[pd.DataFrame], pd.DataFrame] | None = None
    paper_rows: tuple[tuple[str, str], ...] = ()


def _family(model: object) -> str:
    return str(model).split("-")[0]


def _match_keys(frame: pd.DataFrame, keys: tuple[str, ...], datasets: dict[str, str]) -> pd.DataFrame:
    out = pd.DataFrame(index=frame.index)
    for key in keys:
        values = frame[key]
        if key == "model":
            values = values.map(_family)
        elif key == "dataset":
            values = values.map(lambda d: datasets.get(d, d))
        elif key == "images":
            values = pd.to_numeric(values, errors="coerce").map(lambda v: f"{v:g}")
        out[f"_k_{key}"] = values.astype(str)
    return out


def compare_tables(cmp: Comparison, ours: Table, paper: Table, runs: pd.DataFrame) -> Table:
    """`ours` (from runs) with `paper_m` (the published value), `vs_paper_m` (ours − paper) and, for
    arms, `arm_m` with `arm_m_low` / `arm_m_high` and an `interval` column naming the method."""
    keys = tuple(k for k in cmp.match if k in ours.frame and k in paper.frame)
    theirs = paper.frame
    for column, value in cmp.paper_rows:
        theirs = theirs[theirs[column] == value]
    shown = [m for m in (cmp.metrics or [c for c in ours.frame if c in theirs and c not in TEXT]) if m in ours.frame]
    metrics = [m for m in shown if m in theirs]  # published too
    notes = []
    datasets: dict[str, str] = {}
    if "dataset" in keys:
        published = list(dict.fromkeys(theirs.dataset))
        datasets = {d: published[0] for d in set(ours.frame.dataset) if d not in published}
        notes += [f"ours on {d} beside the paper's {p}" for d, p in sorted(datasets.items())]
    if "model" in keys:
        notes.append("models compared by family")
    numbers = theirs[list(metrics)].apply(pd.to_numeric, errors="coerce").add_prefix("paper_")
    paper_side = pd.concat([_match_keys(theirs, keys, {}), numbers], axis=1).drop_duplicates(
        [f"_k_{k}" for k in keys])
    frame = pd.concat([ours.frame, _match_keys(ours.frame, keys, datasets)], axis=1).merge(
        paper_side, on=[f"_k_{k}" for k in keys], how="left").drop(columns=[f"_k_{k}" for k in keys])
    matched = int(frame[[f"paper_{m}" for m in metrics]].notna().any(axis=1).sum()) if metrics else 0
    for m in metrics:
        frame[f"vs_paper_{m}"] = pd.to_numeric(frame[m], errors="coerce") - frame[f"paper_{m}"]
    arm_note = ""
    if cmp.arm is not None:
        frame, arm_note = _arms(frame, cmp, runs, shown)
    others = [c for c in ours.frame if c.removesuffix("_std") in METRICS and c.removesuffix("_std") not in shown]
    ordered = [c for c in frame if c not in _derived(shown) and c not in others]
    for m in shown:
        at = ordered.index(f"{m}_std") + 1 if f"{m}_std" in ordered else ordered.index(m) + 1
        ordered[at:at] = [c for c in (f"paper_{m}", f"vs_paper_{m}", f"arm_{m}", f"arm_{m}_low", f"arm_{m}_high")
                          if c in frame]
    formats = {**ours.formats, **{f"{prefix}{m}{suffix}": ours.formats.get(m, ".2f") for m in shown
                                  for prefix, suffix in (("paper_", ""), ("vs_paper_", ""), ("arm_", ""),
                                                         ("arm_", "_low"), ("arm_", "_high"))}}
    caption = (f"Ours | paper | Δ. Ours: {ours.caption} Paper: {paper.caption} 'paper' columns: the published "
               f"row of the same {', '.join(keys)} ({matched} of {len(frame)} rows have one"
               + (f"; {'; '.join(notes)}" if notes else "") + "); Δ vs paper = ours − paper, no interval "
               f"(not an arm pair).{arm_note}" + _directions(shown)
               + (" Other metrics measured: `--source runs`." if others else ""))
    return Table(ours.name, frame[ordered], caption, formats)


def _directions(metrics: list[str]) -> str:
    lower = [metric_label(m) for m in metrics if m in METRICS and not higher_is_better(m)]
    return f" Lower is better for {', '.join(lower)}: a negative Δ there is a gain." if lower else ""


def _derived(metrics: list[str]) -> set[str]:
    return {f"{prefix}{m}{suffix}" for m in metrics for prefix, suffix in (
        ("paper_", ""), ("vs_paper_", ""), ("arm_", ""), ("arm_", "_low"), ("arm_", "_high"))}


def _arms(frame: pd.DataFrame, cmp: Comparison, runs: pd.DataFrame, metrics: list[str]) -> tuple[pd.DataFrame, str]:
    """Δ of every non-control row to the control row of the same keys, with its interval."""
    column, control = cmp.arm
    keyed = cmp.rows(runs) if cmp.rows else runs
    keys = [k for k in ("model", "dataset", "images", "variant", "method") if k in frame and k in keyed]
    frame = frame.copy()
    for m in metrics:
        frame[[f"arm_{m}", f"arm_{m}_low", f"arm_{m}_high"]] = np.nan
    methods = []
    for index, row in frame.iterrows():
        same = np.logical_and.reduce([keyed[k] == row[k] for k in keys if k != column] or [np.ones(len(keyed), bool)])
        treated, base = keyed[same & (keyed[column] == row[column])], keyed[same & (keyed[column] == control)]
        if row[column] == control or treated.empty or base.empty:
            methods.append("")
            continue
        intervals, method = arm_intervals(treated, base, metrics)
        for m, interval in intervals.items():
            frame.loc[index, [f"arm_{m}", f"arm_{m}_low", f"arm_{m}_high"]] = [interval.delta, interval.low,
                                                                               interval.high]
        methods.append(method)
    frame["interval"] = methods
    same = ", ".join(k for k in keys if k != column)
    note = (f" Δ (arm) = the row − its {column} {control} row" + (f" of the same {same}" if same else "") +
            f", paired by seed, with its 95 % interval in brackets; `interval` says which: t on the paired seed "
            f"differences with >= {MIN_SEEDS} seeds, else a paired bootstrap over the validation images "
            f"({RESAMPLES} resamples, PQ / mIoU recomputed from the per-image counts), else none.")
    return frame, note
