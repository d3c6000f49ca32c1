"""PNG codecs for the files panbench writes and reads in bulk (datasets, PanDA's images and labels,
predictions): libpng with zlib's RLE strategy and the SUB and UP row filters (libpng picks one per
row) to encode; to decode, panbench's own files (8-bit RGB, None / Sub / Up rows) by libdeflate and
delta decoding (`_rgb8_into`), every other file by libspng, all from imagecodecs' wheels; the one
encoder of every PNG panbench writes (harness.atomic.write_png) and the fast path of its readers
(harness.data.images).

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
import zlib

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


def decode_rgb(data: bytes, size: tuple[int, int] | None = None) -> np.ndarray | None:
    """(H, W, 3) uint8 of an 8-bit RGB or RGBA PNG by libspng (alpha dropped, as Pillow's RGB
    conversion drops it), or, given its (H, W) `size` and written as panbench writes (`_rgb8_into`),
    by panbench's own decoder (a 2048x1024 image 25 -> 17 ms); None for any other file (16-bit, grey,
    unreadable): the caller's other decoder decides, and names the problem."""
    import imagecodecs

    if size is not None:
        pixels = np.empty((size[0], size[1], 3), np.uint8)
        if _rgb8_into(data, pixels.reshape(size[0], 3 * size[1])):
            return pixels
    try:
        pixels = imagecodecs.spng_decode(data)
    except imagecodecs.SpngError:
        return None
    if pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[2] not in (3, 4):
        return None
    return pixels if pixels.shape[2] == 3 else np.ascontiguousarray(pixels[..., :3])


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
RGB8_HEADER = (8, 2, 0, 0, 0)  # bit depth, colour type RGB, deflate, adaptive filtering, no interlace
SUB_UP_FILTERS = (0, 1, 2)  # None, Sub, Up: every filter panbench's encoder picks


def _idat_of_rgb8(data: bytes, height: int, width: int) -> bytes | None:
    """The zlib stream of a non-interlaced 8-bit RGB PNG of that size whose chunks are all intact
    (every CRC checked), or None for any other file."""
    if data[:8] != PNG_SIGNATURE:
        return None
    view, pos, parts, end = memoryview(data), 8, [], len(data)
    while pos + 12 <= end:
        length = int.from_bytes(data[pos:pos + 4], "big")
        kind = data[pos + 4:pos + 8]
        stop = pos + 12 + length
        if stop > end or zlib.crc32(view[pos + 4:stop - 4]) != int.from_bytes(data[stop - 4:stop], "big"):
            return None
        body = view[pos + 8:stop - 4]
        if pos == 8:
            if kind != b"IHDR" or length != 13 or (int.from_bytes(body[0:4], "big"), int.from_bytes(body[4:8], "big"),
                                                   *body[8:13]) != (width, height, *RGB8_HEADER):
                return None
        elif kind == b"IDAT":
            parts.append(body)
        elif kind == b"IEND":
            return b"".join(parts)
        elif not kind[:1].islower() and kind != b"PLTE":  # an unknown critical chunk: not ours to skip
            return None
        pos = stop
    return None


def _rgb8_into(data: bytes, out: np.ndarray) -> bool:
    """Decode an 8-bit RGB PNG filtered with None / Sub / Up only (what panbench's encoder writes)
    into `out` (H, 3·W) uint8; False, `out` undefined, for any other file.

    Why not libspng here: imagecodecs' libspng inflates through zlib 1.2.13, which copies a label's
    distance-3 matches (one RGB pixel back) byte by byte: 3.1 ms for a 512x1024 label, where libdeflate
    (also imagecodecs') takes 0.12 ms; whole decodes, a 512x1024 label 3.7 -> 0.8 ms and a 2048x1024
    image 25 -> 17 ms. Sub rows are then imagecodecs' delta decoding (a cumulative sum along the row,
    per channel), Up rows one vector add each onto the row above, in order."""
    import imagecodecs

    height, stride = out.shape
    stream = _idat_of_rgb8(data, height, stride // 3)
    if stream is None:
        return False
    try:  # libdeflate: the zlib stream's checksum verified; a longer stream does not fit `out`
        raw = imagecodecs.deflate_decode(stream, out=height * (stride + 1))
    except (imagecodecs.DeflateError, ValueError, MemoryError):
        return False
    if len(raw) != height * (stride + 1):
        return False
    raw = np.frombuffer(raw, np.uint8).reshape(height, stride + 1)
    kinds, rows = raw[:, 0], raw[:, 1:]
    if kinds.max(initial=0) > SUB_UP_FILTERS[-1]:
        return False  # Average or Paeth rows (another encoder's file): libspng decodes it
    plain, sub = np.flatnonzero(kinds == 0), np.flatnonzero(kinds == 1)
    out[plain] = rows[plain]
    if len(sub):
        out[sub] = imagecodecs.delta_decode(rows[sub].reshape(len(sub), stride // 3, 3), axis=-2).reshape(len(sub), stride)
    up = np.flatnonzero(kinds == 2).tolist()
    if up and up[0] == 0:  # the first row's row above is zeros
        out[0] = rows[0]
        up = up[1:]
    for r in up:  # a loop over rows, each a vector add: Up rows depend on the row above, in order
        np.add(out[r - 1], rows[r], out=out[r])
    return True


def decode_rgb_ids(data: bytes, height: int, width: int) -> np.ndarray | None:
    """(H, W) uint32 R + 256·G + 256²·B of an 8-bit RGB PNG of that size (a COCO-panoptic label),
    decoded (`_rgb8_into` for panbench's own files, else libspng) straight into a buffer that is read
    back as overlapping little-endian words (3 bytes apart) and masked to 24 bits: one pass after
    decoding, where a padded RGBX copy would take longer than the decoding; None for any other file
    (the caller's other decoder decides)."""
    import imagecodecs

    n = 3 * height * width
    buffer = np.empty(n + 1, np.uint8)
    if not _rgb8_into(data, buffer[:n].reshape(height, 3 * width)):
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
