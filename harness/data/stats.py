"""Class balance of a panoptic dataset (PanDA paper, Supplementary Figs 1-2).

`share` follows Supplementary Fig 2: the average number of pixels of a class per image divided by
the sum of those averages over all non-void classes, in percent. `frame_share` divides the same
average by the average frame size instead (Supplementary Fig 1's treemap, where void/background is
a class of its own). Areas come from `segments_info`, which the validator ties to the PNGs, so no
image is decoded. `panbench data stats DIR [--compare DIR2] [--plot FILE.png]` (harness.commands.data)
prints the table and draws the bar chart."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from harness.data.validate import load_valid


def class_pixel_share(root: str | Path, allow_outside_links: bool = False) -> pd.DataFrame:
    """One row per category: category_id, name, isthing, mean_pixels (per image), share and
    frame_share (percent). attrs: n_images, void_frame_share."""
    ds = load_valid(root, pixel_budget=0, allow_outside_links=allow_outside_links)  # the structure; no PNG decoded
    categories = sorted(ds.categories, key=lambda c: int(c["id"]))
    index = {int(c["id"]): k for k, c in enumerate(categories)}
    n_images = len(ds.annotations)  # >= 1: the validator refuses an empty dataset
    totals = np.zeros(len(categories))
    for annotation in ds.annotations:
        for info in annotation["segments_info"]:
            totals[index[int(info["category_id"])]] += info["area"]  # the validator checked the category ids
    frame = sum(int(image["height"]) * int(image["width"]) for image in ds.images) / max(len(ds.images), 1)
    mean_pixels = totals / n_images
    labelled = mean_pixels.sum()
    df = pd.DataFrame({
        "category_id": [int(c["id"]) for c in categories],
        "name": [c["name"] for c in categories],
        "isthing": [bool(c.get("isthing", 0)) for c in categories],
        "mean_pixels": mean_pixels,
        "share": 100.0 * mean_pixels / labelled if labelled else np.zeros(len(categories)),
        "frame_share": 100.0 * mean_pixels / frame,
    })
    df.attrs.update(n_images=n_images, void_frame_share=float(100.0 * (1.0 - labelled / frame)))
    return df


def compare_shares(before: pd.DataFrame, after: pd.DataFrame) -> pd.DataFrame:
    """Shares of two datasets side by side (by category id), with the change in percentage points."""
    merged = before[["category_id", "name", "isthing", "share"]].merge(
        after[["category_id", "share"]], on="category_id", how="outer", suffixes=("_a", "_b"))
    merged["name"] = merged["name"].fillna(merged["category_id"].astype(str))
    merged[["share_a", "share_b"]] = merged[["share_a", "share_b"]].fillna(0.0)
    merged["change"] = merged["share_b"] - merged["share_a"]
    return merged.sort_values("share_a", ascending=False, kind="stable").reset_index(drop=True)


def share_table(df: pd.DataFrame, title: str):
    """rich Table of one dataset's class shares, most common class first (absent classes left out)."""
    from rich.table import Table

    table = Table(title=f"{title} ({df.attrs.get('n_images', '?')} images; void "
                        f"{df.attrs.get('void_frame_share', float('nan')):.1f} % of the frame)")
    for column in ("class", "thing", "px / image", "% of labelled", "% of frame"):
        table.add_column(column, justify="left" if column == "class" else "right")
    for row in df[df["share"] > 0].sort_values("share", ascending=False, kind="stable").itertuples():
        table.add_row(row.name, "yes" if row.isthing else "", f"{row.mean_pixels:,.0f}", f"{row.share:.2f}",
                      f"{row.frame_share:.2f}")
    return table


def comparison_table(merged: pd.DataFrame, label_a: str, label_b: str):
    from rich.table import Table

    table = Table(title="class pixel share (% of labelled pixels per image, Supplementary Fig 2)")
    for column in ("class", label_a, label_b, "change"):
        table.add_column(column, justify="left" if column == "class" else "right")
    for row in merged[(merged["share_a"] > 0) | (merged["share_b"] > 0)].itertuples():
        style = "green" if row.change > 0 else "red" if row.change < 0 else ""
        table.add_row(row.name, f"{row.share_a:.2f}", f"{row.share_b:.2f}", f"[{style}]{row.change:+.2f}[/]" if style
                      else f"{row.change:+.2f}")
    return table


def share_bars(frames: list[tuple[str, pd.DataFrame]]):
    """Supplementary Fig 2 as bars: one bar per dataset and class, classes ordered by the first dataset;
    a linear and a log panel (the log one shows the rare classes)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    order = frames[0][1].sort_values("share", ascending=False, kind="stable")
    ids = order["category_id"].tolist()
    x = np.arange(len(ids))
    width = 0.8 / len(frames)
    fig, axes = plt.subplots(2, 1, figsize=(max(6.0, 0.45 * len(ids)), 7.0), sharex=True)
    for ax, scale in zip(axes, ("linear", "log")):
        for k, (label, df) in enumerate(frames):
            shares = df.set_index("category_id")["share"].reindex(ids).fillna(0.0)
            ax.bar(x + (k - (len(frames) - 1) / 2) * width, shares.to_numpy(), width, label=label)
        ax.set_yscale(scale)
        ax.set_ylabel(f"% of labelled pixels per image ({scale})")
    axes[1].set_xticks(x, order["name"].tolist(), rotation=60, ha="right")
    axes[0].set_title("Per-class pixel share (PanDA Supplementary Fig 2)")
    axes[0].legend()
    fig.tight_layout()
    return fig


def plot_shares(path: str | Path, frames: list[tuple[str, pd.DataFrame]]) -> Path:
    """`share_bars` written as a PNG at `path`."""
    from harness.atomic import write_figure

    return write_figure(path, share_bars(frames), dpi=120)
