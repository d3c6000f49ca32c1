"""The peers study (issue 26): every augmentation arm (PanDA, Copy-Paste, their composition, any door
method), offline 1x and online, against its compute-matched plain control (no augmentation, as many
iterations: the `extra-iterations` runs of the copies study's machinery, analysis.tables.matched_controls).

Table: per (model, dataset, n) and arm, mean ± std over seeds of PQ, PQth, PQst, AP, APbox and mIoU,
and Δ = arm − control paired by training seed with a 95 % Student-t interval over the seeds both have
(k seeds: mean ± t(0.975, k - 1) · sd / √k; no interval under 2 pairs). Figure: Δ with its interval per
arm, one panel per metric, one marker per n."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from analysis.tables import Table, _mean_std, _measured, mark_extra_iterations, matched_controls
from harness.metrics.vocabulary import metric_label

PEERS_METRICS = ["pq", "pq_th", "pq_st", "ap", "ap_box", "miou"]
LEVEL = 0.95


def paired_interval(diff: np.ndarray, level: float = LEVEL) -> tuple[float, float, float]:
    """Mean of the paired differences and its Student-t interval at `level` (nan bounds under 2 pairs)."""
    diff = diff[np.isfinite(diff)]
    if len(diff) == 0:
        return math.nan, math.nan, math.nan
    mean = float(diff.mean())
    if len(diff) < 2:
        return mean, math.nan, math.nan
    half = float(stats.t.ppf(0.5 + level / 2, len(diff) - 1) * diff.std(ddof=1) / math.sqrt(len(diff)))
    return mean, mean - half, mean + half


def _deltas(arm: pd.DataFrame, controls: pd.DataFrame, metrics: list[str]) -> dict[str, float]:
    pairs = arm.groupby("seed")[metrics].mean().join(controls.groupby("seed")[metrics].mean(), rsuffix="_c",
                                                     how="inner")
    out: dict[str, float] = {"pairs": len(pairs)}
    for m in metrics:
        out[f"delta_{m}"], out[f"delta_{m}_lo"], out[f"delta_{m}_hi"] = paired_interval(
            (pairs[m] - pairs[f"{m}_c"]).to_numpy(float))
    return out


def runs_peers_table(runs: pd.DataFrame) -> Table:
    """The peers table from finished runs (one recipe: panda-peers, -mini or -small)."""
    runs = runs.assign(variant=mark_extra_iterations(runs), method=runs.augment.map(lambda m: m.method),
                       schedule=runs.augment.map(lambda m: m.setting))
    metrics = _measured(runs, PEERS_METRICS)
    rows, unmatched = [], []
    for (model, dataset, n), cell in runs.groupby(["model", "dataset", "n"], sort=True):
        head = {"model": model, "dataset": dataset, "images": n}
        for variant, group in cell.groupby("variant", sort=False):
            plain = variant in ("none", "extra-iterations")
            row = {**head, "arm": "none" if plain else group.method.iloc[0], "schedule": group.schedule.iloc[0],
                   "variant": variant, "iterations": group.iterations.median(), "seeds": group.seed.nunique(),
                   **_mean_std(group, metrics)}
            if not plain:
                controls = matched_controls(cell, group)
                if controls.empty:
                    unmatched.append(f"{variant} (n={n})")
                row |= _deltas(group, controls, metrics)
            rows.append(row)
    frame = pd.DataFrame(rows)
    order = {"none": 0, "extra-iterations": 1}
    frame = frame.assign(_rank=frame.variant.map(lambda v: order.get(v, 2))).sort_values(
        ["model", "dataset", "images", "_rank", "arm", "schedule"], kind="stable").drop(columns="_rank")
    seeds = sorted(set(runs.seed.dropna().astype(int)))
    caption = ("The peers study from the run store: each augmentation arm (data.augment: PanDA, Simple Copy-Paste, "
               "their composition), offline 1x and online, beside its compute-matched plain control (no "
               "augmentation, as many iterations: `extra-iterations`); Δ = arm − control paired by training seed, "
               f"with a {LEVEL:.0%} Student-t interval over the paired seeds ([lo, hi]). "
               f"Runs: {len(runs)}; seeds {seeds}; mean ± std over seeds."
               + (f" No control for {', '.join(unmatched)}." if unmatched else ""))
    formats = {"images": "d", "iterations": "d", "seeds": "d", "pairs": "d",
               **{c: ".2f" for c in frame.columns if c.removeprefix("delta_").split("_std")[0].removesuffix("_lo")
                  .removesuffix("_hi") in metrics}}
    return Table("panda-peers", frame.reset_index(drop=True), caption, formats)


def peers_figure(frame: pd.DataFrame, metrics: list[str], *, title: str = ""):
    """Δ against the compute-matched control with its 95 % interval: one panel per metric, one row per
    arm and schedule, one marker per training-set size n; the zero line is "no better than more steps"."""
    import matplotlib.pyplot as plt

    arms = frame[frame.arm != "none"]
    labels = list(dict.fromkeys(f"{a} {s}" for a, s in zip(arms.arm, arms.schedule)))
    sizes = sorted(arms.images.unique())
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.2 * len(metrics), 0.5 * len(labels) + 1.6),
                             squeeze=False, sharey=True)
    for ax, metric in zip(axes[0], metrics):
        for k, n in enumerate(sizes):
            rows = arms[arms.images == n]
            y = np.array([labels.index(f"{a} {s}") for a, s in zip(rows.arm, rows.schedule)], float)
            y += (k - (len(sizes) - 1) / 2) * 0.2
            mean = rows[f"delta_{metric}"].to_numpy(float)
            lo, hi = rows[f"delta_{metric}_lo"].to_numpy(float), rows[f"delta_{metric}_hi"].to_numpy(float)
            err = np.nan_to_num(np.vstack([mean - lo, hi - mean]))
            ax.errorbar(mean, y, xerr=err, fmt="o", capsize=3, ms=4, label=f"n = {int(n)}")
        ax.axvline(0.0, color="gray", ls=":")
        ax.set_yticks(range(len(labels)), labels)
        ax.set_xlabel(f"Δ {metric_label(metric)} vs control")
        ax.grid(True, axis="x", alpha=0.3)
    handles, names = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, names, loc="lower center", ncol=max(1, len(names)), fontsize=7, frameon=False)
    fig.suptitle(title or f"Each arm minus its compute-matched plain control ({LEVEL:.0%} interval over seeds)",
                 fontsize=9)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig
