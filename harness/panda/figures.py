"""Example figure of a PanDA dataset (paper Fig 2 and Supplementary Fig 5): per row the original
image, its annotation, a PanDA image made from it and that image's annotation. Annotations are drawn
in category colours, things instances lightened or darkened per id so neighbours stay apart; void
(including the noise canvas) is black."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from harness.atomic import write_figure
from harness.data.dataset import PanopticDataset


def colorize(ids: np.ndarray, segments_info: list[dict], categories: dict[int, dict]) -> np.ndarray:
    """(H, W) segment ids -> (H, W, 3) uint8 in category colours (a lookup over the unique ids)."""
    uniq, inverse = np.unique(ids, return_inverse=True)
    info = {s["id"]: s for s in segments_info}
    palette = np.zeros((len(uniq), 3), np.float64)
    for k, sid in enumerate(uniq.tolist()):
        if sid in info:
            category = categories[info[sid]["category_id"]]
            shade = 1.0 + (0.25 * ((sid * 37) % 5 - 2) / 2 if category.get("isthing") else 0.0)
            palette[k] = np.clip(np.asarray(category["color"], np.float64) * shade, 0, 255)
    return palette[inverse.reshape(ids.shape)].astype(np.uint8)


def example_grid(panda_root: str | Path, src_root: str | Path, path: str | Path, rows: int = 3) -> Path:
    """Write a `rows` x 4 grid (original, annotation, PanDA, annotation) as PNG at `path`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panda = PanopticDataset.load(panda_root)
    src = PanopticDataset.load(src_root)
    src_index = {image["id"]: i for i, image in enumerate(src.images)}
    categories = panda.category_map()
    rows = min(rows, len(panda))
    aspect = panda.images[0]["height"] / panda.images[0]["width"]
    fig, axes = plt.subplots(rows, 4, figsize=(12, 0.4 + rows * 3.0 * aspect), squeeze=False)
    for r in range(rows):
        source_id = panda.images[r]["source_image_id"]
        s = src_index[source_id[0] if isinstance(source_id, list) else source_id]
        panda_info = panda.annotation_for(panda.images[r]["id"])["segments_info"]
        src_info = src.annotation_for(src.images[s]["id"])["segments_info"]
        panels = [src.read_image(s), colorize(src.read_ids(s), src_info, categories),
                  panda.read_image(r), colorize(panda.read_ids(r), panda_info, categories)]
        for ax, panel, title in zip(axes[r], panels, ("original", "original annotation", "PanDA", "PanDA annotation")):
            ax.imshow(panel)
            ax.set_axis_off()
            if r == 0:
                ax.set_title(title)
    fig.tight_layout()
    return write_figure(path, fig, format="png", dpi=100)
