"""Does realism matter? (issue 25): the realism study's table, its figure (Δ PQ against the PanDA
set's FID, with the Δ's 95 % interval) and its image grid (one source image, its four augmented
versions and their labels), read from the run store of `panda-realism(-mini)`.

Every arm is a 1x set beside the same compute-matched control (the copies study's machinery,
analysis/tables.py), so Δ = arm − control is paired by training seed with its interval. The set's
realism is the FID / KID of its images against the real training images (harness/metrics/realism.py,
kept in the set's realism.json and copied into run.json's data.panda_set)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.tables import PANOPTIC_METRICS, Table, runs_copies_table
from harness.errors import PanbenchError

CANVAS_ARMS = {"noise": "PanDA (noise canvas)", "generator": "PanDA (generator canvas)",
               "rendered": "PanDA (rendered)"}
ORIGINALS = "rendered originals"
EXTRA_DATA = " + extra data"
GRID_ARMS = ("noise", "generator", "rendered", ORIGINALS)


def _record(run_dir: str) -> dict:
    return json.loads((Path(run_dir) / "run.json").read_text())


def arm_of(record: dict) -> str:
    """The study's name of a run's arm; "+ extra data" when its generator saw more images than it."""
    panda = (record.get("config") or {}).get("panda") or {}
    if not (record.get("panda") or {}).get("copies"):
        return "none"
    canvas = panda.get("canvas", "noise")
    arm = ORIGINALS if canvas == "rendered" and not panda.get("ops") else CANVAS_ARMS[canvas]
    render = ((record.get("data") or {}).get("panda_set") or {}).get("render") or {}
    return arm + (EXTRA_DATA if render.get("extra_data") else "")


def set_realism(record: dict) -> dict[str, float]:
    """{"fid", "kid"} of the run's PanDA set (NaN when not measured)."""
    realism = ((record.get("data") or {}).get("panda_set") or {}).get("realism") or {}
    return {key: float(realism[key]) if realism.get(key) is not None else np.nan for key in ("fid", "kid")}


def realism_table(runs: pd.DataFrame) -> Table:
    """Per arm: the PQ family, AP, AP box, mIoU (mean ± std over seeds), Δ vs the compute-matched
    control with its 95 % interval, and the set's FID / KID."""
    records = {rid: _record(d) for rid, d in zip(runs.run_id, runs.run_dir)}
    arms = runs.run_id.map(lambda rid: arm_of(records[rid]))
    base = runs_copies_table(runs, PANOPTIC_METRICS)
    frame = base.frame
    by_variant = {v: (arm, set_realism(records[rid])) for v, arm, rid in zip(runs.variant, arms, runs.run_id)}
    frame.insert(0, "arm", frame.variant.map(lambda v: by_variant.get(v, ("control", {}))[0]))
    for key in ("fid", "kid"):
        frame[f"set_{key}"] = frame.variant.map(lambda v: by_variant.get(v, ("", {}))[1].get(key, np.nan))
    caption = ("Does realism matter? The same PanDA label maps on the paper's noise canvas, with the canvas "
               "rendered by a synthesis generator, rendered whole, and the original label maps rendered (GAN-based "
               "augmentation), each 1x beside the compute-matched plain control; set_fid / set_kid: the "
               "augmented set's FID / KID against the real training images (lower = more realistic). "
               + base.caption.split("The papers publish no numbers for this study. ", 1)[-1])
    formats = {**base.formats, "set_fid": ".1f", "set_kid": ".4f"}
    return Table("panda-realism", frame, caption, formats)


def realism_figure(table: Table, metric: str = "pq"):
    """Δ `metric` (arm − control, with its 95 % interval) against the set's FID, one point per arm."""
    import matplotlib.pyplot as plt

    from analysis.labels import METRIC_LABELS

    rows = table.frame[table.frame.set_fid.notna() & table.frame[f"delta_{metric}"].notna()]
    if rows.empty:
        raise PanbenchError("panda-realism: no arm has both a Δ and its set's FID (run the study with "
                            "data.realism: true and the Inception weights)")
    fig, ax = plt.subplots(figsize=(6, 4))
    for _, row in rows.iterrows():
        mid = row[f"delta_{metric}"]
        low, high = row.get(f"delta_{metric}_low", np.nan), row.get(f"delta_{metric}_high", np.nan)
        err = [[mid - low], [high - mid]] if np.isfinite(low) and np.isfinite(high) else None
        ax.errorbar(row.set_fid, mid, yerr=err, fmt="o", capsize=4, label=row.arm)
    ax.axhline(0.0, color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("FID of the augmented set vs the real training images (lower: more realistic)", fontsize=9)
    ax.set_ylabel(f"Δ {METRIC_LABELS.get(metric, metric)} vs compute-matched control")
    ax.set_title("Does realism matter? (95 % intervals)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def realism_grid(runs: pd.DataFrame, image_index: int = 0) -> np.ndarray:
    """(H', W', 3) uint8: a source image and its label, then each arm's version of it with its label
    (columns: source, noise, generator canvas, rendered, rendered originals; rows: image, label)."""
    from harness.data.dataset import PanopticDataset
    from harness.panda.figures import colorize

    sets: dict[str, tuple[Path, Path]] = {}
    for rid, run_dir in zip(runs.run_id, runs.run_dir):
        record = _record(run_dir)
        roots = (record.get("data") or {}).get("train_roots") or []
        if len(roots) == 2:
            arm = arm_of(record).removesuffix(EXTRA_DATA)
            key = ORIGINALS if arm == ORIGINALS else next(c for c, a in CANVAS_ARMS.items() if a == arm)
            sets.setdefault(key, (Path(roots[0]), Path(roots[1])))
    missing = [arm for arm in GRID_ARMS if arm not in sets]
    if missing:
        raise PanbenchError(f"panda-realism: no finished run of the arm(s) {missing}: the grid needs all four")
    def panel(ds: PanopticDataset, k: int) -> tuple[np.ndarray, np.ndarray]:
        info = ds.annotation_for(ds.images[k]["id"])["segments_info"]
        return ds.read_image(k), colorize(ds.read_ids(k), info, ds.category_map())

    source = PanopticDataset.load(sets["noise"][0])
    image = source.images[image_index]
    panels = [panel(source, image_index)]
    for arm in GRID_ARMS:
        ds = PanopticDataset.load(sets[arm][1])
        panels.append(panel(ds, next(i for i, im in enumerate(ds.images) if im["source_image_id"] == image["id"])))
    gap = 4
    height, width = panels[0][0].shape[:2]
    grid = np.full((2 * height + gap, len(panels) * (width + gap) - gap, 3), 255, np.uint8)
    for col, (picture, label) in enumerate(panels):
        x = col * (width + gap)
        grid[:height, x:x + width] = picture
        grid[height + gap:, x:x + width] = label
    return grid
