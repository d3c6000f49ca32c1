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


def png_samples(array: np.ndarray) -> np.ndarray:
    """The array as PNG samples: uint8 and uint16 as they are; other integer arrays (a class map of
    int32 / int64) as 16-bit samples, as Pillow stores them, when every value fits in 0..65535."""
    array = np.asarray(array)
    if array.dtype in (np.uint8, np.uint16):
        return np.ascontiguousarray(array)
    if array.dtype.kind in "iu" and (array.size == 0 or (array.min() >= 0 and array.max() <= 0xFFFF)):
        return np.ascontiguousarray(array, dtype=np.uint16)
    raise ValueError(f"a PNG holds 8- or 16-bit unsigned samples; got {array.dtype} values "
                     f"{'outside 0..65535' if array.dtype.kind in 'iu' else 'of another kind'}")


def encode_png(array: np.ndarray) -> bytes:
    """(H, W) grayscale or (H, W, 3|4) RGB(A), uint8 or uint16 (or other integers in 0..65535, as
    16-bit) -> PNG bytes (zlib level 1, RLE strategy, SUB or UP filter per row)."""
    return imagecodecs.png_encode(png_samples(array), level=1, strategy=imagecodecs.PNG.STRATEGY.RLE,
                                  filter=FILTERS)


def decode_rgb(data: bytes) -> np.ndarray | None:
    """(H, W, 3) uint8 of an 8-bit RGB or RGBA PNG by libspng (alpha dropped, as Pillow's RGB
    conversion drops it); None for any other file (16-bit, grey, unreadable): the caller's other
    decoder decides, and names the problem."""
    try:
        pixels = imagecodecs.spng_decode(data)
    except imagecodecs.SpngError:
        return None
    if pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[2] not in (3, 4):
        return None
    return pixels if pixels.shape[2] == 3 else np.ascontiguousarray(pixels[..., :3])


def decode_rgb_ids(data: bytes, height: int, width: int) -> np.ndarray | None:
    """(H, W) uint32 R + 256·G + 256²·B of an 8-bit RGB PNG of that size (a COCO-panoptic label) by
    libspng, decoded straight into a buffer that is read back as overlapping little-endian words (3
    bytes apart) and masked to 24 bits: one pass after decoding, where a padded RGBX copy would take
    longer than the decoding; None for any other file (the caller's other decoder decides)."""
    n = 3 * height * width
    buffer = np.empty(n + 1, np.uint8)
    try:
        imagecodecs.spng_decode(data, out=buffer[:n].reshape(height, width, 3))
    except (imagecodecs.SpngError, ValueError):  # another layout or size, or not a readable PNG
        return None
    words = np.ndarray((height, width), "<u4", buffer, strides=(3 * width, 3))
    return words & np.uint32(0xFFFFFF)


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
