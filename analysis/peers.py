"""The peers study (issue 26; its table is analysis.tables.runs_peers_table): every augmentation arm
(PanDA, Copy-Paste, their composition, any door method), offline 1x and online, against its
compute-matched plain control (no augmentation, as many iterations: the `extra-iterations` runs of the
copies study's machinery, analysis.tables.matched_controls).

Table: per (model, dataset, n) and arm, mean ± std over seeds of PQ, PQth, PQst, AP, APbox and mIoU,
and Δ = arm − control paired by training seed with a 95 % Student-t interval over the seeds both have
(k seeds: mean ± t(0.975, k - 1) · sd / √k; no interval under 2 pairs). Figure: Δ with its interval per
arm, one panel per metric, one marker per n."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from harness.metrics.vocabulary import metric_label

PEERS_METRICS = ["pq", "pq_th", "pq_st", "ap", "ap_box", "miou"]
LEVEL = 0.95


def paired_interval(diff: np.ndarray, level: float = LEVEL) -> tuple[float, float, float]:
    """Mean of the paired differences and its Student-t interval at `level` (nan bounds under 2 pairs)."""
    from scipy import stats  # loaded when a table is built, not when the CLI starts

    diff = diff[np.isfinite(diff)]
    if len(diff) == 0:
        return math.nan, math.nan, math.nan
    mean = float(diff.mean())
    if len(diff) < 2:
        return mean, math.nan, math.nan
    half = float(stats.t.ppf(0.5 + level / 2, len(diff) - 1) * diff.std(ddof=1) / math.sqrt(len(diff)))
    return mean, mean - half, mean + half


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
