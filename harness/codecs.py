"""PNG codecs for the files panbench writes and reads in bulk (PanDA's images and labels, dataset
writing): libpng with zlib's RLE strategy and the SUB and UP row filters (libpng picks one per
row) to encode, libspng to decode, both from imagecodecs' wheels.

Why: on PanDA's 2048x1024 outputs Pillow's level-1 encoder (harness.atomic.encode_png) is ~2.8x
slower for images and ~1.6x for labels, and every one of its files is larger (images by ~2 %,
labels ~2x); its decoder is ~1.6-1.9x slower (results/bench/png_codec.json). Only on thumbnails of a few
kB can a file come out larger than Pillow's (up to ~10 % on 128x256 labels). The settings are
lossless: the files are ordinary PNGs that every decoder, Pillow's included, reads back to the
same pixels."""

from __future__ import annotations

import imagecodecs
import numpy as np

FILTERS = imagecodecs.PNG.FILTER.SUB | imagecodecs.PNG.FILTER.UP  # SUB alone: labels up to 8 % larger than Pillow's



def encode_png(array: np.ndarray) -> bytes:
    """(H, W) grayscale or (H, W, 3|4) RGB(A), uint8 or uint16 -> PNG bytes (zlib level 1, RLE
    strategy, SUB or UP filter per row)."""
    return imagecodecs.png_encode(np.ascontiguousarray(array), level=1, strategy=imagecodecs.PNG.STRATEGY.RLE,
                                  filter=FILTERS)


def decode_png(data: bytes) -> np.ndarray:
    """PNG bytes -> the stored pixels, (H, W) or (H, W, channels); ValueError if not a readable PNG."""
    try:
        return imagecodecs.spng_decode(data)
    except imagecodecs.SpngError:
        pass  # a format libspng does not decode (e.g. 16-bit RGB), or not a PNG: libpng decides
    try:
        return imagecodecs.png_decode(data)
    except imagecodecs.PngError as exc:
        raise ValueError(f"not a readable PNG ({exc})") from None
