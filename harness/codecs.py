"""PNG codecs for the files panbench writes and reads in bulk (datasets, PanDA's images and labels,
predictions), the one encoder of every PNG panbench writes (harness.atomic.write_png) and the fast
path of its readers (harness.data.images), from imagecodecs' wheels and ISA-L's (python-isal):

- encoding 8-bit samples (`_encode_8bit`): each row Sub- or Up-filtered (libpng's choice: the smaller
  sum of absolute signed bytes), then deflated by ISA-L level 1, or by zlib-ng level 2 where
  almost every filtered byte is 0 (label maps); 16-bit samples by libpng (zlib level 1, RLE
  strategy, Sub or Up rows);
- decoding panbench's own files (8-bit RGB, None / Sub / Up rows) by libdeflate and delta decoding
  (`_rgb8_into`), every other file by libspng.

Why, at PanDA's 2048x1024 (results/bench/png_codec.json): imagecodecs' libpng and libspng link
zlib 1.2.13, whose level-1 deflate of a PanDA image (half of it noise) takes ~90 ms, libdeflate's
level 1 ~50 ms and ISA-L's level 1 (Intel's deflate, vectorised match finding) ~18 ms for a file
as large (+0.7 % against libdeflate's on a PanDA image, -0.2 % on a source image); whose deflate of
a label takes ~20 ms where zlib-ng's level 2 takes ~1.5 ms for a smaller file (ISA-L's is twice as
large there), and whose inflate copies a label's distance-3 matches byte by byte (3.1 ms for a
512x1024 label against libdeflate's 0.12 ms). ISA-L's kernels are chosen by the CPU's features, so
its files may differ in bytes (never in pixels) from one machine to another. Pillow's level-1
encoder, panbench's before libpng, is slower still and its files larger. On small images (up to
SMALL_PIXELS, the mini recipes' 128x256 scenes) Pillow's file can come out a few per cent smaller,
so there both encoders run (well under a millisecond each) and the smaller file is kept: a file
panbench writes is never larger than Pillow level 1's there, and measured no larger at Cityscapes
size. Everything is lossless: the files are ordinary PNGs that every decoder, Pillow's included,
reads back to the same pixels. imagecodecs, ISA-L and Pillow are imported by the functions that code a
PNG, not with this module: a process that only builds models (harness.bench.gpu_check on a bare GPU
machine) needs neither, and one that only writes JSON (harness.atomic) does not pay Pillow's import."""

from __future__ import annotations

import io
import zlib

import numpy as np

SMALL_PIXELS = 1 << 17  # up to this many pixels both encoders run and the smaller file is kept
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


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


COLOUR_TYPES = {1: 0, 2: 4, 3: 2, 4: 6}  # samples per pixel -> PNG colour type (grey, grey+alpha, RGB, RGBA)
COST_STRIDE = 4  # the filter choice reads every 4th byte of a row (files within 0.2 % of reading all)
RUNS_ZERO_FRACTION = 0.9  # above this share of zero filtered bytes the data is runs: zlib-ng level 2


def _chunk(kind: bytes, body: bytes) -> bytes:
    return len(body).to_bytes(4, "big") + kind + body + zlib.crc32(body, zlib.crc32(kind)).to_bytes(4, "big")


def _scanlines(rows: np.ndarray, channels: int) -> np.ndarray:
    """(H, 1 + W·C) PNG scanlines of (H, W·C) uint8 rows: each row Sub- or Up-filtered, whichever has
    the smaller sum of absolute signed bytes (libpng's heuristic, ties to Sub)."""
    height = rows.shape[0]
    lines = np.empty((height, rows.shape[1] + 1), np.uint8)
    sub = lines[:, 1:]
    sub[:, :channels] = rows[:, :channels]
    np.subtract(rows[:, channels:], rows[:, :-channels], out=sub[:, channels:])
    up = np.empty_like(rows)
    up[0] = rows[0]
    np.subtract(rows[1:], rows[:-1], out=up[1:])

    def cost(filtered: np.ndarray) -> np.ndarray:  # |signed byte|, -128 read as 128
        return np.abs(filtered[:, ::COST_STRIDE].view(np.int8)).view(np.uint8).sum(axis=1, dtype=np.int64)

    use_up = cost(up) < cost(sub)
    lines[:, 0] = np.where(use_up, 2, 1)
    sub[use_up] = up[use_up]
    return lines


def _encode_8bit(samples: np.ndarray) -> bytes:
    """PNG bytes of (H, W) or (H, W, C) uint8 samples (`_scanlines`, then ISA-L level 1, or zlib-ng
    level 2 for run-dominated data)."""
    import imagecodecs

    height, width = samples.shape[:2]
    channels = 1 if samples.ndim == 2 else samples.shape[2]
    lines = _scanlines(samples.reshape(height, width * channels), channels)
    sample = lines[::4, 1::COST_STRIDE]  # every 4th row and byte: enough to tell runs from texture
    runs = np.count_nonzero(sample) <= (1 - RUNS_ZERO_FRACTION) * sample.size
    if runs:
        stream = imagecodecs.zlibng_encode(lines, level=2)
    else:
        from isal import isal_zlib

        stream = isal_zlib.compress(lines, 1)
    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, COLOUR_TYPES[channels], 0, 0, 0])
    return PNG_SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", stream) + _chunk(b"IEND", b"")


def encode_png(array: np.ndarray) -> bytes:
    """(H, W) grayscale or (H, W, 2|3|4) grey-alpha / RGB(A), uint8 or uint16 (or other integers in
    0..65535, as 16-bit) -> PNG bytes: 8-bit samples by `_encode_8bit`, 16-bit by libpng (zlib
    level 1, RLE strategy, SUB or UP filter per row); on a small image Pillow's level 1 where that
    file is smaller."""
    samples = png_samples(array)
    if samples.dtype == np.uint8:
        data = _encode_8bit(samples)
    else:
        import imagecodecs

        filters = imagecodecs.PNG.FILTER.SUB | imagecodecs.PNG.FILTER.UP
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
