"""panbench's PNG codec against Pillow (the reference): pixel-identical round trips in both
directions for every layout panbench writes, and PanDA outputs no larger than Pillow level 1."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from harness.bench.png_codec_bench import panda_outputs, pillow_level1
from harness.codecs import decode_png, encode_png

LAYOUTS = {"gray8": ((6, 9), np.uint8), "rgb8": ((6, 9, 3), np.uint8), "rgba8": ((6, 9, 4), np.uint8),
           "gray16": ((6, 9), np.uint16), "rgb16": ((6, 9, 3), np.uint16), "gray-alpha8": ((6, 9, 2), np.uint8)}


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_round_trip_is_pixel_identical(layout):
    shape, dtype = LAYOUTS[layout]
    array = np.random.default_rng(0).integers(0, np.iinfo(dtype).max, shape, dtype=dtype)
    data = encode_png(array)
    decoded = decode_png(data)
    assert decoded.dtype == dtype and np.array_equal(decoded, array)
    if dtype == np.uint8 or array.ndim == 2:  # Pillow reads 16-bit colour as 8-bit: compared where it does not
        assert np.array_equal(np.asarray(Image.open(io.BytesIO(data))), array)
    if dtype == np.uint8 and layout != "gray-alpha8":
        assert np.array_equal(decode_png(pillow_level1(array)), array)  # Pillow's own files decode the same


def test_panoptic_ids_survive_both_ways():
    from harness.data.panoptic_format import id2rgb, rgb2id

    ids = np.random.default_rng(1).integers(0, 1 << 24, (17, 23), dtype=np.uint32)
    ids[:, :5] = (1 << 24) - 1
    assert np.array_equal(rgb2id(decode_png(encode_png(id2rgb(ids)))), ids)
    assert np.array_equal(rgb2id(np.asarray(Image.open(io.BytesIO(encode_png(id2rgb(ids)))))), ids)


def test_panda_outputs_are_no_larger_than_pillow_level_1():
    outputs = panda_outputs(n=3, height=256, width=512, seed=0)
    for kind, arrays in outputs.items():
        ours = [encode_png(a) for a in arrays]
        assert all(np.array_equal(decode_png(blob), a) for blob, a in zip(ours, arrays))
        assert sum(map(len, ours)) <= sum(len(pillow_level1(a)) for a in arrays), kind


def test_not_a_png():
    with pytest.raises(ValueError):
        decode_png(b"\x89PNG\r\n\x1a\n but then nothing")
    with pytest.raises(ValueError):
        decode_png(b"GIF89a")
