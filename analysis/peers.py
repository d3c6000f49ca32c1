"""The peers study's figure (issue 26; its table is analysis.tables.runs_peers_table): each augmentation
arm's Δ against its compute-matched plain control with the 95 % interval of analysis/intervals.py, one
panel per metric, one row per arm and schedule, one marker per training-set size n. The zero line reads
"no better than as many plain iterations"."""

from __future__ import annotations

import numpy as np
import pandas as pd

from harness.metrics.vocabulary import metric_label


def peers_figure(frame: pd.DataFrame, metrics: list[str], *, title: str = ""):
    """`frame`: the peers table of one model and dataset."""
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
            low, high = rows[f"delta_{metric}_low"].to_numpy(float), rows[f"delta_{metric}_high"].to_numpy(float)
            ax.errorbar(mean, y, xerr=np.nan_to_num(np.vstack([mean - low, high - mean])), fmt="o", capsize=3, ms=4,
                        label=f"n = {int(n)}")
        ax.axvline(0.0, color="gray", ls=":")
        ax.set_yticks(range(len(labels)), labels)
        ax.set_xlabel(f"Δ {metric_label(metric)} vs control")
        ax.grid(True, axis="x", alpha=0.3)
    handles, names = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, names, loc="lower center", ncol=max(1, len(names)), fontsize=7, frameon=False)
    fig.suptitle(title or "Each arm minus its compute-matched plain control (95 % interval)", fontsize=9)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig
