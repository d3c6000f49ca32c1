"""Figure 4 of the synthesis paper (Sec. 3.2): how often nearest 2x upsampling puts a feature on a
pixel of another panoptic segment, at each scale of the generator, measured on a dataset's maps.

Every panoptic map is resized to the generator's output size with nearest, and each lower scale is
a nearest downsampling of that map (`torch.nn.functional.interpolate(mode="nearest")`, which takes
the top-left pixel of each block). For each stage low (h, w) -> high (2h, 2w), the pixels counted
are the ones nearest upsampling copies from a neighbour: 3 of every 2x2 block (all but the top-left,
which is the low-resolution sample itself); counts are summed over all images and every pixel is
counted, void included. Of those pixels, in percent:

- misaligned: the nearest-upsampled low-resolution id differs from the high-resolution id;
- unmatched: none of Algorithm 1's four candidates low[r//2 + dr, c//2 + dc] (inside the map) has
  the high-resolution id, so Panoptic-aware upsampling must fill the hole (Eq. 3);
- new: the high-resolution id occurs nowhere in that image's low-resolution map.

new ⊆ unmatched ⊆ misaligned, pixel by pixel."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from harness.atomic import write_json
from harness.data.dataset import PanopticDataset
from harness.data.images import read_ids
from harness.errors import PanbenchError
from harness.models.panoptic_layers import UPSAMPLE_CANDIDATES
from harness.progress import track

COUNTS = ("copied", "misaligned", "unmatched", "new")


def parse_size(text: str) -> tuple[int, int]:
    """'256x512' -> (256, 512) (height x width)."""
    try:
        height, width = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise PanbenchError(f"size {text!r}: expected HEIGHTxWIDTH, e.g. 256x512") from None
    if height < 1 or width < 1:
        raise PanbenchError(f"size {text!r}: height and width must be positive")
    return height, width


def scales(size: tuple[int, int], smallest: tuple[int, int]) -> list[tuple[int, int]]:
    """[smallest, 2 x smallest, ..., size]; `size` must be `smallest` times a power of two."""
    out = [tuple(size)]
    while out[-1][0] > smallest[0] and out[-1][0] % 2 == 0 and out[-1][1] % 2 == 0:
        out.append((out[-1][0] // 2, out[-1][1] // 2))
    if out[-1] != tuple(smallest) or len(out) < 2:
        raise PanbenchError(f"--size {size[0]}x{size[1]} is not --smallest {smallest[0]}x{smallest[1]} times a power of "
                            f"two (at least 2)")
    return out[::-1]


def nearest(ids: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(H, W) ids at `size` as `F.interpolate(mode="nearest")` samples them (float64 holds 24-bit ids exactly)."""
    resized = F.interpolate(torch.from_numpy(ids.astype(np.float64))[None, None], size=tuple(size), mode="nearest")
    return resized[0, 0].numpy().astype(ids.dtype)


def stage_counts(high: np.ndarray, low: np.ndarray) -> np.ndarray:
    """[copied, misaligned, unmatched, new] pixel counts of one map at one stage (vectorised over pixels)."""
    (height, width), (h, w) = high.shape, low.shape
    if (height, width) != (2 * h, 2 * w):
        raise ValueError(f"stage {h}x{w} -> {height}x{width} is not a 2x upsampling")
    rows, cols = np.arange(height)[:, None], np.arange(width)[None, :]
    copied = (rows % 2 == 1) | (cols % 2 == 1)
    misaligned = copied & (low[rows // 2, cols // 2] != high)
    matched = np.zeros(high.shape, bool)
    for dr, dc in UPSAMPLE_CANDIDATES:
        r, c = rows // 2 + dr, cols // 2 + dc
        inside = (r < h) & (c < w)
        matched |= inside & (low[np.minimum(r, h - 1), np.minimum(c, w - 1)] == high)
    unmatched = copied & ~matched
    new = copied & ~np.isin(high, np.unique(low))
    return np.array([copied.sum(), misaligned.sum(), unmatched.sum(), new.sum()], np.int64)


def alignment_stages(maps, size: tuple[int, int], smallest: tuple[int, int]) -> dict:
    """Figure 4's JSON: `{"stages": [{"from", "to", "misaligned_pct", "unmatched_pct", "new_pct"}, ...]}`
    over an iterable of (H, W) panoptic id maps."""
    sizes = scales(size, smallest)
    totals = np.zeros((len(sizes) - 1, len(COUNTS)), np.int64)
    for ids in maps:
        top = nearest(ids, sizes[-1])
        pyramid = [nearest(top, s) for s in sizes[:-1]] + [top]
        for k in range(len(sizes) - 1):
            totals[k] += stage_counts(pyramid[k + 1], pyramid[k])
    if totals[:, 0].min() == 0:
        raise PanbenchError("figure synth-fig4: no panoptic maps to measure")
    stages = []
    for (h, w), row in zip(sizes[:-1], totals):
        pct = 100.0 * row[1:] / row[0]
        stages.append({"from": [h, w], "to": [2 * h, 2 * w], "misaligned_pct": float(pct[0]),
                       "unmatched_pct": float(pct[1]), "new_pct": float(pct[2])})
    return {"stages": stages}


def dataset_maps(root: str | Path, progress: bool = False):
    """The panoptic maps of the COCO-panoptic dataset at `root`, one at a time."""
    dataset = PanopticDataset.load(root)
    for annotation in track(dataset.annotations, "panoptic maps", disable=not progress):
        yield read_ids(dataset.label_path(annotation))


def figure4(stages: dict):
    """Grouped bars per stage, as the paper's Fig. 4."""
    from analysis.figures import plt

    labels = [f"{s['from'][0]}x{s['from'][1]}\n→ {s['to'][0]}x{s['to'][1]}" for s in stages["stages"]]
    x = np.arange(len(labels))
    fig, ax = plt.subplots(figsize=(1.2 + 1.1 * len(labels), 4.0))
    for k, (key, name) in enumerate((("misaligned_pct", "misaligned (nearest copies another segment)"),
                                     ("unmatched_pct", "unmatched (hole filling)"),
                                     ("new_pct", "new segment at this scale"))):
        ax.bar(x + (k - 1) * 0.27, [s[key] for s in stages["stages"]], width=0.27, label=name)
    ax.set_xticks(x, labels, fontsize=8)
    ax.set_ylabel("% of the pixels nearest 2x upsampling copies")
    ax.set_title("Features mapped to the wrong panoptic segment by nearest 2x upsampling", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def write_figure4(root: str | Path, size: tuple[int, int], smallest: tuple[int, int], prefix: str | Path,
                  progress: bool = False) -> list[Path]:
    """PREFIX.png, PREFIX.svg and PREFIX.json of the dataset at `root`."""
    from analysis.figures import save_figure

    stages = alignment_stages(dataset_maps(root, progress), size, smallest)
    json_path = Path(f"{prefix}.json")
    write_json(json_path, stages)
    return save_figure(figure4(stages), prefix) + [json_path]
