"""Figures of the PanDA paper (PNG + SVG, matplotlib Agg).

- Fig. 3 / Supp. Fig. 4: error 1 - metric vs training-set size on log axes, baseline points with a
  dashed log-linear fit, PanDA points with a solid one (and a bootstrap band when seeds repeat). A fit
  through fewer than three sizes n is dotted and says so in the legend; the error axis and the
  extrapolated fits stay inside (0, 1] (a fit of AP below 0 is not an error above 1).
- Supp. Fig. 1: class pixel share per image as a treemap with void (the bars of Supp. Fig. 2 are
  harness.data.stats.share_bars, which `panbench data stats --plot` draws too).
- Per-class bars: a per-class table (e.g. Supp. Tables 2-3) as grouped bars.
- The copies study: PQ / AP against PanDA copies per original (1x ... 8x, then online), each beside its
  compute-matched plain control, seed bands = mean ± std over seeds."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from analysis.fits import MIN_FIT_SIZES, bootstrap_band, fit_log_linear  # noqa: E402
from analysis.labels import METRIC_LABELS  # noqa: E402
from harness.atomic import write_figure  # noqa: E402
from harness.data.augment_mode import AugmentMode  # noqa: E402

WEAK_FIT_STYLE = ":"
VARIANT_STYLE = {"none": ("--", "o", "baseline"), "panda-1x": ("-", "s", "PanDA")}
COLORS = {"pq": "tab:blue", "ap": "tab:orange", "ap_box": "tab:green"}


def save_figure(fig: plt.Figure, prefix: str | Path) -> list[Path]:
    """`prefix`.png and `prefix`.svg, each written atomically."""
    return [write_figure(f"{prefix}.png", fig, close=False, dpi=130), write_figure(f"{prefix}.svg", fig)]


def error_of(metric_percent: np.ndarray) -> np.ndarray:
    """Error 1 - metric/100 of a fitted curve, NaN where the fit leaves [0, 100] (no line is drawn there)."""
    error = 1.0 - np.asarray(metric_percent, dtype=float) / 100.0
    return np.where((error > 0) & (error <= 1), error, np.nan)


def learning_curves(points: pd.DataFrame, *, title: str = "") -> plt.Figure:
    """`points`: columns n, variant (`none` / `panda-1x`), metric (`pq` / `ap` / `ap_box`), value in percent;
    one row per run (several rows per n when seeds repeat)."""
    fig, ax = plt.subplots(figsize=(6.0, 4.5))
    n_all = points.n.to_numpy(dtype=float)
    grid = np.geomspace(max(n_all.min() / 2, 1.0), n_all.max() * 3, 200)
    weak = False
    for (metric, variant), group in points.groupby(["metric", "variant"], sort=False):
        if variant not in VARIANT_STYLE:
            continue
        line, marker, label = VARIANT_STYLE[variant]
        color = COLORS.get(metric, "black")
        n, value = group.n.to_numpy(dtype=float), group.value.to_numpy(dtype=float)
        ax.scatter(n, np.clip(1 - value / 100.0, None, 1.0), marker=marker, color=color, s=22, zorder=3,
                   facecolors="none" if variant == "none" else color)
        if np.unique(n).size >= 2 and np.ptp(value) > 0:  # a constant metric (e.g. AP = 0) has no curve
            fit = fit_log_linear(n, value)
            name = f"{METRIC_LABELS.get(metric, metric)} {label}"
            if fit.caution:
                weak = True
                ax.plot(grid, error_of(fit.predict(grid)), WEAK_FIT_STYLE, color=color,
                        label=f"{name} ({fit.sizes} sizes n: untested)")
            else:
                ax.plot(grid, error_of(fit.predict(grid)), line, color=color, label=f"{name} (r² = {fit.r2:.4f})")
            band = bootstrap_band(n, value, grid)
            if band is not None:
                ax.fill_between(grid, np.clip(1 - band[1] / 100.0, 1e-4, 1.0), np.clip(1 - band[0] / 100.0, 1e-4, 1.0),
                                color=color, alpha=0.12, lw=0)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_ylim(top=min(ax.get_ylim()[1], 1.0))
    if weak:
        ax.text(0.99, 0.99, f"dotted: fit through fewer than {MIN_FIT_SIZES} sizes n,\nits r² and trend are no evidence",
                transform=ax.transAxes, ha="right", va="top", fontsize=7, color="dimgray")
    plain = matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}")
    ax.yaxis.set_major_formatter(plain)
    ax.yaxis.set_minor_formatter(plain)
    ax.tick_params(axis="y", which="minor", labelsize=7)
    if grid[-1] / grid[0] < 100:  # less than two decades: label the minor ticks of n too
        ax.xaxis.set_major_formatter(plain)
        ax.xaxis.set_minor_formatter(plain)
        ax.tick_params(axis="x", which="minor", labelsize=7)
    ax.set_xlabel("Number of training images")
    ax.set_ylabel("Error (1 - metric)")
    ax.set_title(title or "Error vs training-set size (dashed: baseline, solid: PanDA)", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    return fig


def _slice_and_dice(values: list[float], x: float, y: float, w: float, h: float) -> list[tuple[float, ...]]:
    """Treemap rectangles: each value in turn takes its share of what is left, cut across the longer side."""
    rects = []
    horizontal = w >= h
    for k, v in enumerate(values):
        remaining = sum(values[k:])
        if k == len(values) - 1 or remaining <= 0:
            rects.append((x, y, w, h))
            break
        frac = v / remaining
        if horizontal:
            rects.append((x, y, w * frac, h))
            x, w = x + w * frac, w * (1 - frac)
        else:
            rects.append((x, y, w, h * frac))
            y, h = y + h * frac, h * (1 - frac)
        horizontal = w >= h
    return rects


def class_share_treemap(frames: list[tuple[str, pd.DataFrame]]) -> plt.Figure:
    """Supp. Fig. 1: average pixels per class per image as a share of the frame, void included."""
    fig, axes = plt.subplots(1, len(frames), figsize=(5.5 * len(frames), 4.2), squeeze=False)
    from harness.data.categories import CITYSCAPES_CATEGORIES

    colors = {c.name: np.array(c.color) / 255.0 for c in CITYSCAPES_CATEGORIES}
    for ax, (label, df) in zip(axes[0], frames):
        shares = df[df.frame_share > 0].sort_values("frame_share", ascending=False)
        names = shares.name.tolist() + ["void"]
        values = shares.frame_share.tolist() + [max(float(df.attrs.get("void_frame_share", 0.0)), 0.0)]
        order = np.argsort(values)[::-1]
        names, values = [names[i] for i in order], [values[i] for i in order]
        for name, value, (x, y, w, h) in zip(names, values, _slice_and_dice(values, 0, 0, 1, 1)):
            ax.add_patch(plt.Rectangle((x, y), w, h, facecolor=colors.get(name, (0.85, 0.85, 0.85)), edgecolor="white"))
            if w * h > 0.012:
                ax.text(x + w / 2, y + h / 2, f"{name}\n{value:.1f}%", ha="center", va="center", fontsize=7,
                        color="white" if name != "void" else "black")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_axis_off()
        ax.set_title(f"{label} ({df.attrs.get('n_images', '?')} images)", fontsize=9)
    fig.suptitle("Average pixels per class per image, % of the frame (PanDA Supp. Fig. 1)", fontsize=10)
    fig.tight_layout()
    return fig


def per_class_bars(frame: pd.DataFrame, label_columns: list[str], *, ylabel: str, title: str) -> plt.Figure:
    """Grouped bars: one group per class (the non-label columns), one bar per row of `frame`."""
    classes = [c for c in frame.columns if c not in label_columns and not c.endswith("_std")]
    values = frame[classes].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    x = np.arange(len(classes))
    width = 0.8 / max(len(frame), 1)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.8 * len(classes)), 4.0))
    for k in range(len(frame)):
        label = " / ".join(str(frame.iloc[k][c]) for c in label_columns)
        ax.bar(x + (k - (len(frame) - 1) / 2) * width, values[k], width, label=label)
    ax.set_xticks(x, classes, rotation=30, ha="right")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def _band(ax: plt.Axes, x: np.ndarray, mean: np.ndarray, std: np.ndarray, color: str, **line) -> None:
    """A line with markers and a mean ± std band (no band where one seed leaves std undefined)."""
    ax.plot(x, mean, color=color, **line)
    spread = np.nan_to_num(std)
    ax.fill_between(x, mean - spread, mean + spread, color=color, alpha=0.15, lw=0)
    ax.errorbar(x, mean, yerr=spread, fmt="none", ecolor=color, capsize=3, lw=1)


def copies_curves(frame: pd.DataFrame, metrics: list[str], *, title: str = "") -> plt.Figure:
    """`frame`: the copies table (analysis.tables.runs_copies_table) of one model, dataset and n. One
    panel per metric: PanDA (solid) and its plain control of the same iterations (dashed) at 1x, 2x,
    4x, 8x, ... copies and, apart on the right, online PanDA; the plain baseline as a dotted line."""
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.0 * len(metrics), 4.0), squeeze=False)
    modes = frame.copies.map(AugmentMode.parse)  # the table's schedule column: none, Kx, online
    offline = frame[modes.map(lambda m: m.copies is not None)]
    offline = offline.assign(k=modes[offline.index].map(lambda m: m.copies)).sort_values("k")
    online = frame[modes.map(lambda m: m.online)]
    base = frame[modes.map(lambda m: not m.enabled)]
    x_off = np.log2(offline.k.to_numpy(dtype=float))
    x_online = (x_off.max() if len(x_off) else 0.0) + 1.5
    ticks = list(x_off) + ([x_online] if len(online) else [])
    labels = [f"{int(k)}x" for k in offline.k] + (["online"] if len(online) else [])
    for ax, metric in zip(axes[0], metrics):
        color = COLORS.get(metric, "tab:blue")
        name = METRIC_LABELS.get(metric, metric)
        if len(base):
            mean, std = float(base[metric].iloc[0]), float(np.nan_to_num(base[f"{metric}_std"].iloc[0]))
            ax.axhline(mean, color="gray", ls=":", label=f"baseline (no PanDA, {int(base.iterations.iloc[0])} it.)")
            ax.axhspan(mean - std, mean + std, color="gray", alpha=0.12, lw=0)
        labelled = False  # one legend entry each for PanDA and its control
        for rows, x in ((offline, x_off), (online, np.full(len(online), x_online))):
            if not len(rows):
                continue
            _band(ax, x, rows[metric].to_numpy(float), rows[f"{metric}_std"].to_numpy(float), color, ls="-",
                  marker="s", label=None if labelled else "PanDA")
            control = rows[f"control_{metric}"].to_numpy(float)
            if np.isfinite(control).any():
                _band(ax, x, control, rows[f"control_{metric}_std"].to_numpy(float), "black", ls="--", marker="o",
                      mfc="none", label=None if labelled else "plain control, same iterations")
            labelled = True
        ax.set_xticks(ticks, labels)
        ax.set_xlabel("PanDA images per original (offline copies; online: fresh every pass)")
        ax.set_ylabel(name)
        ax.grid(True, alpha=0.3)
    handles, names = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, names, loc="lower center", ncol=len(names), fontsize=7, frameon=False)
    fig.suptitle(title or "PanDA copies per original vs its compute-matched plain control (mean ± std over seeds)",
                 fontsize=9)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig
