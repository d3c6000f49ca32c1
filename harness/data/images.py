"""Image files in and out, through one opener: the file must exist and be non-empty, its size is
read from the header and checked against a pixel limit before any pixel is decoded, and every
decoder failure becomes one DatasetError naming the file.

The mode rules, stated once for every reader (`data check`, PanDA, training, evaluation):
- an image (`images/`, FID folders) is decoded to RGB whatever its mode: grayscale and palette
  images are expanded, an alpha channel is dropped;
- a panoptic label (`panoptic/`, predicted panoptic PNGs) must be mode RGB, ids R + 256·G + 256²·B.
  RGBA is refused (its alpha would be dropped unseen), and so are one-channel PNGs (L, I;16, P):
  they hold 8- or 16-bit values, not COCO panoptic's 24-bit ids;
- a class-id label (`evaluate semantic --gt-labels/--pred-labels`) has one channel: L, P, I or I;16.

The pixel limit is Pillow's `Image.MAX_IMAGE_PIXELS` (about 89 Mpx), or `PANBENCH_MAX_IMAGE_PIXELS`
when set: a 30000x30000 PNG of 2.6 MB would otherwise take 2.7 GB to decode."""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from harness.atomic import encode_png
from harness.codecs import decode_rgb, decode_rgb_ids
from harness.errors import ConfigError, DatasetError

MAX_PIXELS_ENV = "PANBENCH_MAX_IMAGE_PIXELS"
LABEL_MODE = "RGB"
CLASS_ID_MODES = ("L", "P", "I", "I;16")
ID_MASK = 0xFFFFFF

# Pillow warns between its limit and twice it; panbench refuses those images itself, in one line.
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)


def max_image_pixels() -> int | None:
    """The largest image (width x height) panbench decodes; None = no limit (Pillow's limit unset).
    Raising it above Pillow's own limit raises Pillow's too, so the two never disagree."""
    raw = os.environ.get(MAX_PIXELS_ENV, "").strip()
    if not raw:
        return Image.MAX_IMAGE_PIXELS
    try:
        limit = int(raw)
    except ValueError:
        limit = 0
    if limit < 1:
        raise ConfigError(f"{MAX_PIXELS_ENV}: expected a positive number of pixels, got {raw!r}")
    if Image.MAX_IMAGE_PIXELS is not None and limit > Image.MAX_IMAGE_PIXELS:
        Image.MAX_IMAGE_PIXELS = limit
    return limit


def _too_large(kind: str, limit: int, size: tuple[int, int] | None) -> str:
    """`size` None: Pillow refused the header itself (more than twice its own limit)."""
    shown = (f"is {size[0]}x{size[1]} (WxH) = {size[0] * size[1]:,} pixels" if size
             else f"has more than {2 * (Image.MAX_IMAGE_PIXELS or limit):,} pixels")
    return f"{kind} {shown}, over the limit of {limit:,} (refused before decoding; {MAX_PIXELS_ENV} raises it)"


@contextmanager
def opened_image(path: str | Path, kind: str = "image") -> Iterator[Image.Image]:
    """The Pillow image of `path`, header read, size within `max_image_pixels()`, pixels not yet
    decoded; any failure inside the block (decoding included) is a DatasetError naming `path`."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(path, f"{kind} file is missing")
    if path.stat().st_size == 0:
        raise DatasetError(path, f"{kind} file is empty (0 bytes)")
    limit = max_image_pixels()
    try:
        with Image.open(path) as im:
            if limit is not None and im.width * im.height > limit:
                raise DatasetError(path, _too_large(kind, limit, im.size))
            yield im
    except DatasetError:
        raise
    except Image.DecompressionBombError:
        raise DatasetError(path, _too_large(kind, limit or 0, None)) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise DatasetError(path, f"unreadable or corrupt {kind} ({exc})") from None


def image_size(path: str | Path, kind: str = "image") -> tuple[tuple[int, int], str]:
    """((width, height), mode) from the header alone."""
    with opened_image(path, kind) as im:
        return im.size, im.mode


def read_rgb(path: str | Path, kind: str = "image") -> np.ndarray:
    """(H, W, 3) uint8 of an image file, any mode converted to RGB. An 8-bit RGB or RGBA PNG (what
    panbench writes) is decoded by harness.codecs (its own decoder for panbench's files, else
    libspng) once its header has passed `opened_image`'s checks (the same pixels, faster than Pillow:
    results/bench/png_codec.json "read"); any other file, or one they cannot read, by Pillow, whose
    error then names the problem."""
    with opened_image(path, kind) as im:
        if im.format == "PNG" and im.mode in ("RGB", "RGBA"):
            pixels = decode_rgb(Path(path).read_bytes(), (im.height, im.width))
            if pixels is not None and pixels.shape[:2] == (im.height, im.width):
                return pixels
        im.load()
        return np.asarray(im.convert("RGB"))


def label_mode_problem(mode: str) -> str | None:
    """Why a panoptic label of this mode is refused (None when it is RGB)."""
    if mode == LABEL_MODE:
        return None
    return f"label PNG has mode {mode}, expected RGB (segment id = R + 256·G + 256²·B)"


def _id_words(path: str | Path, kind: str) -> tuple[np.ndarray, bool]:
    """`read_id_words`' words, and whether their top byte is already 0 (the fast decoders mask it)."""
    with opened_image(path, kind) as im:
        problem = label_mode_problem(im.mode)
        if problem:
            raise DatasetError(path, problem)
        width, height = im.size
        if im.format == "PNG":
            words = decode_rgb_ids(Path(path).read_bytes(), height, width)
            if words is not None:
                return words, True
        raw = im.tobytes("raw", "RGBX")
    return np.frombuffer(raw, "<u4").reshape(height, width), False


def read_id_words(path: str | Path, kind: str = "label") -> np.ndarray:
    """(H, W) uint32 words R + 256·G + 256²·B + 256³·X of an RGB panoptic PNG: the segment id is the
    low 24 bits (`ID_MASK`); X is 0 from panbench's decoders, Pillow's padding byte from Pillow (a file
    they cannot read). The fast route of PQ, whose counting reads the low 24 bits only: decoded into
    words in one pass after decoding (harness.codecs.decode_rgb_ids; results/bench/png_codec.json
    "read"), Pillow through its RGBX unpacking."""
    return _id_words(path, kind)[0]


def read_ids(path: str | Path, kind: str = "label") -> np.ndarray:
    """(H, W) uint32 segment ids of an RGB panoptic PNG (the words, masked where the decoder did not)."""
    words, masked = _id_words(path, kind)
    return words if masked else words & np.uint32(ID_MASK)


def read_class_ids(path: str | Path, kind: str = "label PNG") -> np.ndarray:
    """(H, W) int64 class ids of a one-channel label PNG (train ids, 255 ignored)."""
    with opened_image(path, kind) as im:
        if im.mode not in CLASS_ID_MODES:
            raise DatasetError(path, f"{kind} has mode {im.mode}; a class-id label has one channel "
                                     f"({', '.join(CLASS_ID_MODES)})")
        return np.asarray(im).astype(np.int64)


def encode_image(image: np.ndarray, image_format: str = "png") -> bytes:
    """(H, W, 3) uint8 -> file bytes: lossless PNG, or JPEG at quality 95 (`jpg`)."""
    if image_format == "png":
        return encode_png(image)
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=95)
    return buf.getvalue()
