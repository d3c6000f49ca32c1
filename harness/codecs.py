"""PNG codecs for the files panbench writes and reads in bulk (datasets, PanDA's images and labels,
predictions): libpng with zlib's RLE strategy and the SUB and UP row filters (libpng picks one per
row) to encode, libspng to decode, both from imagecodecs' wheels; the one encoder of every PNG
panbench writes (harness.atomic.write_png) and the fast path of its readers (harness.data.images).

Why, at PanDA's 2048x1024 (results/bench/png_codec.json): Pillow's level-1 encoder, panbench's
before, is ~3x slower on images and ~1.5x on labels and its files are larger (images by ~1.4 %,
labels ~2x); reading these files, libspng gives an image as RGB ~1.5x faster than Pillow and a
label as segment ids ~1.3x faster (decode_rgb_ids; libspng's RGB made words through a padded copy
would be slower than Pillow). On small images (up to SMALL_PIXELS, the mini recipes'
128x256 scenes) libpng's file can come out a few per cent larger than Pillow's, so there both
encoders run (well under a millisecond each) and the smaller file is kept: a file panbench writes
is never larger than Pillow level 1's there, and measured no larger in total at Cityscapes size.
Everything is lossless: the files are ordinary PNGs that every decoder, Pillow's included, reads
back to the same pixels. imagecodecs and Pillow are imported by the functions that code a PNG, not
with this module: a process that only builds models (harness.bench.gpu_check on a bare GPU machine)
needs neither, and one that only writes JSON (harness.atomic) does not pay Pillow's import."""

from __future__ import annotations

import io

import numpy as np

SMALL_PIXELS = 1 << 17  # up to this many pixels both encoders run and the smaller file is kept


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


def pillow_png(samples: np.ndarray) -> bytes:
    """Pillow's PNG at zlib level 1 (the small images' second candidate)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(samples).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def encode_png(array: np.ndarray) -> bytes:
    """(H, W) grayscale or (H, W, 3|4) RGB(A), uint8 or uint16 (or other integers in 0..65535, as
    16-bit) -> PNG bytes: libpng (zlib level 1, RLE strategy, SUB or UP filter per row), or on a
    small image Pillow's level 1 where that file is smaller."""
    import imagecodecs

    samples = png_samples(array)
    filters = imagecodecs.PNG.FILTER.SUB | imagecodecs.PNG.FILTER.UP  # SUB alone: labels up to 8 % larger than Pillow's
    data = imagecodecs.png_encode(samples, level=1, strategy=imagecodecs.PNG.STRATEGY.RLE, filter=filters)
    if samples.shape[0] * samples.shape[1] <= SMALL_PIXELS and (samples.ndim == 2 or samples.dtype == np.uint8):
        other = pillow_png(samples)  # (Pillow has no 16-bit colour PNG)
        if len(other) < len(data):
            return other
    return data


def decode_rgb(data: bytes) -> np.ndarray | None:
    """(H, W, 3) uint8 of an 8-bit RGB or RGBA PNG by libspng (alpha dropped, as Pillow's RGB
    conversion drops it); None for any other file (16-bit, grey, unreadable): the caller's other
    decoder decides, and names the problem."""
    import imagecodecs

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
    import imagecodecs

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
    import imagecodecs

    try:
        return imagecodecs.spng_decode(data)
    except imagecodecs.SpngError:
        pass  # a format libspng does not decode (e.g. 16-bit RGB), or not a PNG: libpng decides
    try:
        return imagecodecs.png_decode(data)
    except imagecodecs.PngError as exc:
        raise ValueError(f"not a readable PNG ({exc})") from None
