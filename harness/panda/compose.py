"""Compose one PanDA image from decomposed segments (paper section 3, Fig 1):

1. a canvas of white noise (uniform random RGB), labelled void: noise belongs to no category, so the
   ground truth stays unambiguous;
2. dropout, resize and shift/zoom per segment (the ops `config.ops` enables);
3. paste the kept segments largest first (area after resize), so smaller segments stay on top;
   the label gets the same pastes;
4. recompute area and bbox from what is visible; segments fully covered or pushed out of the frame
   are dropped. Ids, categories and iscrowd come from the source.

All per-segment work touches only the segment's (resized) bbox crop; crops are pasted with Pillow,
which clips them to the frame."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from harness.data.panoptic_format import id2rgb, segment_stats
from harness.panda.config import PandaConfig
from harness.panda.decompose import Segment
from harness.panda.dropout import sample_keep
from harness.panda.resize import mask_area, resize_segment, resized_shape, sample_scales
from harness.panda.shift import recentre, sample_translations, zoom_centers


@dataclass(frozen=True)
class Placed:
    """A segment after the ops: its (resized) crop and where its top-left corner lands."""
    segment: Segment
    pixels: Image.Image  # RGB
    mask: Image.Image  # "1", 255 inside the segment
    top: int
    left: int
    id: int
    area: int  # after resize, before occlusion and clipping


@dataclass(frozen=True)
class PandaSample:
    """The label is kept as the layer map of the pastes and each layer's id, so the online transform
    reads `ids` and the generator the PNG encoding `label_rgb`, each a lookup of one small table."""

    image: np.ndarray  # (H, W, 3) uint8
    layer: np.ndarray  # (H, W) k where the k-th pasted segment is visible, 0 = noise
    layer_ids: np.ndarray  # (k_max + 1,) uint32 segment id of each layer, 0 (void) first
    segments_info: list[dict]

    @property
    def ids(self) -> np.ndarray:
        """(H, W) uint32 panoptic ids, 0 = void (the noise)."""
        return np.take(self.layer_ids, self.layer)

    @property
    def label_rgb(self) -> np.ndarray:
        """(H, W, 3) uint8, the COCO-panoptic id encoding (what the generator writes as PNG). Up to 256
        layers the layer map is a palette image and Pillow expands it (3 ms against numpy's 7 for a
        2048x1024 map: one table lookup per pixel, three bytes written at once)."""
        colours = id2rgb(self.layer_ids[None])[0]
        if self.layer.dtype != np.uint8:
            return np.take(colours, self.layer, axis=0)
        palette = np.zeros((256, 3), np.uint8)
        palette[:len(colours)] = colours
        indexed = Image.fromarray(self.layer).convert("P")
        indexed.putpalette(palette.tobytes())
        return np.asarray(indexed.convert("RGB"))


def transform_segments(rng: np.random.Generator, segments: list[Segment], frame: tuple[int, int],
                       config: PandaConfig) -> list[Placed]:
    """Apply dropout, resize and shift/zoom; return the survivors in paste order (largest first).

    Random draws are made for every segment whether or not an earlier op removed it, so each op's
    draws do not depend on the others' outcomes."""
    n = len(segments)
    fractions = np.array([s.area_fraction for s in segments])
    keep = (sample_keep(rng, fractions, config.dropout_min_area, config.dropout_max_area)
            if config.enabled("dropout") else np.ones(n, bool))
    scales = sample_scales(rng, n, config) if config.enabled("resize") else np.ones(n)
    translate_alone = config.enabled("shift") and not config.zoom
    shifts = sample_translations(rng, n, frame, config.shift_range) if translate_alone else np.zeros((n, 2))
    placed = []
    used_ids: set[int] = set()
    for k in np.flatnonzero(keep):
        seg = segments[k]
        centre = np.array([seg.center])
        if config.zoom:
            new_centre = zoom_centers(centre, scales[k:k + 1], seg.frame, frame)[0]
        else:
            new_centre = recentre(centre, seg.frame, frame)[0] + shifts[k]
        h, w = resized_shape(seg.mask.shape, float(scales[k]))
        top = int(np.floor(new_centre[0] - h / 2.0 + 0.5))
        left = int(np.floor(new_centre[1] - w / 2.0 + 0.5))
        if top >= frame[0] or left >= frame[1] or top + h <= 0 or left + w <= 0:
            continue  # pushed out of the frame: nothing to resize or paste
        pixels, mask = resize_segment(seg.pixels, seg.mask, float(scales[k]), config.image_interpolation)
        placed.append(Placed(seg, pixels, mask, top, left, _unique_id(seg.id, used_ids), mask_area(mask)))
    areas = np.array([p.area for p in placed])
    order = np.argsort(-areas, kind="stable")
    return [placed[i] for i in order]


def _unique_id(sid: int, used: set[int]) -> int:
    """The source id, unless a segment from another image (hybrid mode) already holds it."""
    new = sid
    while new in used:
        new = new % 0xFFFFFF + 1  # ids live in 1 .. 2^24 - 1
    used.add(new)
    return new


def paste(placed: list[Placed], canvas: Image.Image) -> tuple[Image.Image, np.ndarray]:
    """Paste crops in order onto `canvas` (modified in place); return it and the layer map
    (k+1 where placed[k] is visible, 0 = noise)."""
    layer = Image.new("L" if len(placed) < 256 else "I", canvas.size, 0)
    for k, p in enumerate(placed, start=1):
        w, h = p.mask.size
        canvas.paste(p.pixels, (p.left, p.top), p.mask)
        layer.paste(k, (p.left, p.top, p.left + w, p.top + h), p.mask)
    return canvas, np.asarray(layer)


def _window(p: Placed, height: int, width: int):
    """Frame slices (rows, cols) of the part of a placed crop inside the frame, or None."""
    w, h = p.mask.size
    y0, x0 = max(p.top, 0), max(p.left, 0)
    y1, x1 = min(p.top + h, height), min(p.left + w, width)
    if y0 >= y1 or x0 >= x1:
        return None
    return slice(y0, y1), slice(x0, x1)


def visible_segments_info(placed: list[Placed], layer: np.ndarray) -> list[dict]:
    """segments_info of what remains visible, area and bbox measured on each crop's window."""
    height, width = layer.shape
    windows = {k: window for k, p in enumerate(placed, start=1) if (window := _window(p, height, width))}
    stats = segment_stats(layer, windows)
    return [{"id": p.id, "category_id": p.segment.category_id, "area": stats[k][0], "bbox": stats[k][1],
             "iscrowd": p.segment.iscrowd} for k, p in enumerate(placed, start=1) if k in stats]


def panda_image(rng: np.random.Generator, segments: list[Segment], frame: tuple[int, int],
                config: PandaConfig) -> PandaSample:
    """One synthetic image + label of size `frame` (H, W) from `segments`."""
    height, width = frame
    # rng.integers(0, 256, (H, W, 3), uint8)'s noise, drawn as raw bytes: the same bytes and the same
    # generator state after (tests/test_panda_compose.py), without numpy's per-value bounded draw
    canvas = Image.frombytes("RGB", (width, height), rng.bytes(height * width * 3))
    placed = transform_segments(rng, segments, frame, config)
    image, layer = paste(placed, canvas)
    layer_ids = np.array([0] + [p.id for p in placed], dtype=np.uint32)
    return PandaSample(np.asarray(image), layer, layer_ids, visible_segments_info(placed, layer))
