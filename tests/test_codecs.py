"""panbench's PNG codec against Pillow (the reference): pixel-identical round trips in both
directions for every layout panbench writes, PanDA outputs no larger than Pillow level 1; the
readers (libspng behind harness.data.images' one opener) equal to Pillow for every layout, the pixel
limit and the error wording kept; the real writers' files (synth, PanDA, subset) decoding to the
arrays they were given and no larger than Pillow level 1's."""

from __future__ import annotations

import io
from unittest import mock

import numpy as np
import pytest
from PIL import Image

from harness.bench.png_codec_bench import panda_outputs, pillow_level1
from harness.codecs import decode_png, encode_png
from harness.data.panoptic_format import id2rgb, rgb2id
from harness.errors import DatasetError

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


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
@pytest.mark.parametrize("content", ["noise", "runs"])
def test_own_8bit_encoder_files_read_back_by_every_decoder(channels, content):
    """Above SMALL_PIXELS panbench's own encoder writes the file (ISA-L for texture, zlib-ng for runs,
    Sub/Up rows): Pillow, libpng and libspng read back the same pixels, whatever the layout."""
    import zlib

    import imagecodecs

    from harness.codecs import SMALL_PIXELS, _encode_8bit

    rng = np.random.default_rng(channels)
    shape = (300, 500) if channels == 1 else (300, 500, channels)
    assert shape[0] * shape[1] > SMALL_PIXELS
    if content == "noise":
        array = rng.integers(0, 256, shape, dtype=np.uint8)
    else:  # blocks of one value, as label maps are
        blocks = rng.integers(0, 256, (shape[0] // 50 + 1, shape[1] // 50 + 1, *shape[2:]), dtype=np.uint8)
        array = np.ascontiguousarray(np.repeat(np.repeat(blocks, 50, 0), 50, 1)[:shape[0], :shape[1]])
    data = encode_png(array)
    assert data == _encode_8bit(array)  # not Pillow's file: ours is the smaller one here
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(data))), array)
    assert np.array_equal(imagecodecs.png_decode(data), array) and np.array_equal(decode_png(data), array)
    if channels != 2:  # (imagecodecs' libspng has no grey-alpha output: decode_png hands it to libpng)
        assert np.array_equal(imagecodecs.spng_decode(data), array)
    idat = data.index(b"IDAT") + 4
    lines = np.frombuffer(zlib.decompress(data[idat:-16]), np.uint8).reshape(shape[0], -1)
    assert set(np.unique(lines[:, 0]).tolist()) <= {1, 2}  # Sub or Up rows only
    if content == "runs":
        assert len(data) < array.nbytes // 50


def test_panoptic_ids_survive_both_ways():
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


# --- panbench's readers (harness.data.images) against Pillow, and the writers' files ---------------------
def pillow_rgb(path):
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def pillow_ids(path):
    with Image.open(path) as im:
        return rgb2id(np.asarray(im))


def write_modes(folder):
    """One small PNG per layout a reader meets, written by Pillow (and libpng for 16-bit RGB)."""
    import imagecodecs

    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 256, (7, 11, 3), dtype=np.uint8)
    files = {}
    for mode, array in (("RGB", rgb), ("RGBA", np.dstack([rgb, rng.integers(0, 256, (7, 11), dtype=np.uint8)])),
                        ("L", rgb[..., 0]), ("I;16", rng.integers(0, 1 << 16, (7, 11), dtype=np.uint16))):
        files[mode] = folder / f"{mode.replace(';', '')}.png"
        Image.fromarray(array).save(files[mode])
    files["P"] = folder / "P.png"
    Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE, colors=16).save(files["P"])
    files["LA"] = folder / "LA.png"
    Image.fromarray(rgb[..., :2].copy(), mode="LA").save(files["LA"])
    files["RGB-tRNS"] = folder / "tRNS.png"
    Image.fromarray(rgb).save(files["RGB-tRNS"], transparency=tuple(int(v) for v in rgb[0, 0]))
    files["RGB16"] = folder / "RGB16.png"
    files["RGB16"].write_bytes(imagecodecs.png_encode(rng.integers(0, 1 << 16, (7, 11, 3), dtype=np.uint16)))
    files["RGB-by-panbench"] = folder / "ours.png"
    files["RGB-by-panbench"].write_bytes(encode_png(rgb))
    return files


def test_read_rgb_equals_pillows_conversion_for_every_layout(tmp_path):
    from harness.data.images import read_rgb

    for mode, path in write_modes(tmp_path).items():
        ours = read_rgb(path)
        assert ours.dtype == np.uint8 and ours.flags.c_contiguous, mode
        assert np.array_equal(ours, pillow_rgb(path)), mode


def test_label_words_equal_pillows_ids(tmp_path):
    from harness.data.images import read_id_words, read_ids

    ids = np.random.default_rng(4).integers(0, 1 << 24, (13, 17), dtype=np.uint32)
    for name, encode in (("ours", encode_png), ("pillow", pillow_level1)):
        path = tmp_path / f"{name}.png"
        path.write_bytes(encode(id2rgb(ids)))
        assert np.array_equal(read_id_words(path) & np.uint32(0xFFFFFF), ids), name
        assert np.array_equal(read_ids(path), pillow_ids(path)), name
    rgba = tmp_path / "rgba.png"
    Image.fromarray(np.dstack([id2rgb(ids), np.full(ids.shape, 255, np.uint8)])).save(rgba)
    with pytest.raises(DatasetError, match="label PNG has mode RGBA, expected RGB"):
        read_id_words(rgba)


def label_map(seed, height=48, width=96):
    """A panoptic-like id map: blocks of ids (long runs, repeated rows), some noise rows (every filter)."""
    rng = np.random.default_rng(seed)
    ids = np.repeat(np.repeat(rng.integers(0, 1 << 24, (height // 8, width // 16), dtype=np.uint32), 8, 0), 16, 1)
    ids[rng.integers(0, height, 3)] = rng.integers(0, 1 << 24, (3, width), dtype=np.uint32)
    return ids


@pytest.mark.parametrize("filters", ["SUB|UP", "SUB", "UP", "NONE", "PAETH", "ALL"])
def test_label_decoder_equals_pillow_for_every_row_filter(filters):
    """harness.codecs' own decoder takes files of None / Sub / Up rows (panbench's encoder's) and leaves
    every other filter to libspng: the ids, and an image's pixels, equal Pillow's either way."""
    import imagecodecs

    from harness.codecs import _rgb8_into, decode_rgb, decode_rgb_ids

    flags = 0
    for name in filters.split("|"):
        flags |= getattr(imagecodecs.PNG.FILTER, name)
    for seed in range(3):
        ids = label_map(seed)
        data = imagecodecs.png_encode(id2rgb(ids), level=1, filter=flags)
        expected = rgb2id(np.asarray(Image.open(io.BytesIO(data))))
        assert np.array_equal(expected, ids)
        assert np.array_equal(decode_rgb_ids(data, *ids.shape), ids), (filters, seed)
        own = _rgb8_into(data, np.empty((ids.shape[0], 3 * ids.shape[1]), np.uint8))
        assert own is (filters in ("SUB|UP", "SUB", "UP", "NONE")), (filters, seed)
        image = np.random.default_rng(seed).integers(0, 256, (37, 53, 3), dtype=np.uint8)  # an image: noise
        image[:, :20] = np.arange(20, dtype=np.uint8)[None, :, None] * 9  # and a smooth part
        data = imagecodecs.png_encode(image, level=1, filter=flags)
        assert np.array_equal(decode_rgb(data, image.shape[:2]), np.asarray(Image.open(io.BytesIO(data)))), filters
        assert np.array_equal(decode_rgb(data), image)  # no size: libspng


def test_label_decoder_refuses_what_is_not_an_intact_rgb8_png():
    """A flipped byte (CRC), a truncated stream, another size, an unknown critical chunk, interlacing,
    another colour type: the own decoder declines, and libspng decides (None where it cannot read it)."""
    import zlib

    import imagecodecs

    from harness.codecs import _rgb8_into, decode_rgb_ids

    ids = label_map(7)
    data = encode_png(id2rgb(ids))
    h, w = ids.shape
    out = np.empty((h, 3 * w), np.uint8)
    assert _rgb8_into(data, out)
    idat = data.index(b"IDAT")
    flipped = bytearray(data)
    flipped[idat + 10] ^= 0xFF
    chunk = b"ABCD"  # critical (upper-case first letter) and unknown
    unknown = data[:33] + (0).to_bytes(4, "big") + chunk + zlib.crc32(chunk).to_bytes(4, "big") + data[33:]
    for bad in (bytes(flipped), data[:idat + 30], unknown, imagecodecs.png_encode(id2rgb(ids)[..., :2].copy()),
                Image.fromarray(id2rgb(ids)).convert("L").tobytes()):
        assert not _rgb8_into(bad, out)
    assert not _rgb8_into(data, np.empty((h, 3 * (w + 1)), np.uint8))  # another size
    assert decode_rgb_ids(bytes(flipped), h, w) is None and decode_rgb_ids(data[:idat + 30], h, w) is None
    header = bytearray(data[12:29])  # IHDR's type and body; its last byte: the interlace method
    header[-1] = 1
    interlaced = data[:12] + bytes(header) + zlib.crc32(header).to_bytes(4, "big") + data[33:]
    assert not _rgb8_into(interlaced, out)
    header[-1] = 0  # the same bytes, interlace 0 again: taken
    assert _rgb8_into(data[:12] + bytes(header) + zlib.crc32(header).to_bytes(4, "big") + data[33:], out)


def test_libspng_decodes_only_below_the_pixel_limit_and_bad_files_keep_pillows_errors(tmp_path, monkeypatch):
    from harness.data import images

    path = tmp_path / "big.png"
    path.write_bytes(encode_png(np.zeros((40, 50, 3), np.uint8)))
    monkeypatch.setenv(images.MAX_PIXELS_ENV, "1000")
    monkeypatch.setattr(images, "decode_rgb", mock.Mock(side_effect=AssertionError("decoded")))
    monkeypatch.setattr(images, "decode_rgb_ids", mock.Mock(side_effect=AssertionError("decoded")))
    for read in (images.read_rgb, images.read_id_words):
        with pytest.raises(DatasetError, match="50x40 .WxH. = 2,000 pixels, over the limit of 1,000"):
            read(path)
    monkeypatch.undo()
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(path.read_bytes()[:60])
    for read in (images.read_rgb, images.read_id_words):
        with pytest.raises(DatasetError, match=r"truncated.png: unreadable or corrupt"):
            read(truncated)


def test_class_maps_beyond_8_bits_are_16_bit_pngs_as_pillow_wrote_them():
    classes = np.arange(300, dtype=np.int64).reshape(15, 20)
    decoded = np.asarray(Image.open(io.BytesIO(encode_png(classes))))
    assert np.array_equal(decoded, classes)
    with pytest.raises(ValueError, match="outside 0..65535"):
        encode_png(np.array([[-1, 2]], np.int32))
    with pytest.raises(ValueError, match="of another kind"):
        encode_png(np.zeros((2, 2), np.float32))


def recording(monkeypatch, module, names=("encode_png", "encode_image")) -> list[np.ndarray]:
    """The arrays `module` hands to its encoders, in call order."""
    arrays: list[np.ndarray] = []
    for name in names:
        real = getattr(module, name)
        monkeypatch.setattr(module, name, lambda array, *a, real=real: arrays.append(array.copy()) or real(array, *a))
    return arrays


def assert_files_hold(files, arrays) -> None:
    """Each file decodes to its array (Pillow and panbench's readers) and is no larger than Pillow
    level 1's file of the same pixels."""
    from harness.data.images import read_ids, read_rgb
    from harness.data.panoptic_format import rgb2id

    assert len(files) == len(arrays) > 0
    for path, array in zip(files, arrays):
        assert np.array_equal(np.asarray(Image.open(path).convert("RGB")), array), path
        ours = read_ids(path) if "panoptic" in path.parts else read_rgb(path)
        assert np.array_equal(ours, rgb2id(array) if "panoptic" in path.parts else array), path
        assert path.stat().st_size <= len(pillow_level1(array)), path


def test_the_writers_files_round_trip_and_are_no_larger(tmp_path, monkeypatch):
    """synth (data synth), PanDA (panbench panda) and a subset (links or copies of its source)."""
    from harness.data import dataset as dataset_module
    from harness.data.subsets import write_subset
    from harness.data.synth import synthesize_dataset
    from harness.panda import generate

    synth_arrays = recording(monkeypatch, dataset_module)
    src = synthesize_dataset(tmp_path / "synth", 3, seed=1, width=128, height=64, workers=1, progress=False)
    names = sorted((src / "images").iterdir())
    labels = sorted((src / "panoptic").iterdir())
    # write_sample encodes the image, then the label
    assert_files_hold([p for pair in zip(names, labels) for p in pair], synth_arrays)
    panda_arrays = recording(monkeypatch, generate)
    out = generate.generate_panda(src, tmp_path / "panda", copies=1, seed=0, workers=1, progress=False)
    pairs = [(out / "images" / f"{p.stem}_panda0.png", out / "panoptic" / f"{p.stem}_panda0.png") for p in labels]
    assert_files_hold([p for pair in pairs for p in pair], panda_arrays)
    subset = write_subset(out, tmp_path / "subset", [f"{i}_panda0" for i in (0, 2)])
    for kind in ("images", "panoptic"):
        for path in (subset / kind).iterdir():
            assert path.read_bytes() == (out / kind / path.name).read_bytes()
