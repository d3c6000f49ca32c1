"""The image / label consistency checks of a PanDA sample, shared by the offline compose tests and
the online transform's: a coded scene whose pixels say where they came from, and the check that every
labelled pixel of the output traces back to a pixel of its own source segment (same id, category
and iscrowd), that the recomputed segments_info matches the label map, and that the noise is void."""

from __future__ import annotations

import numpy as np

from harness.data.panoptic_format import segment_stats

H, W = 96, 160


def coded_scene(rng: np.random.Generator, n_things: int = 8):
    """A scene whose image encodes where each pixel came from: R = 12·k for segment k, G = y, B = x.
    Stuff: a 'road' band (large) and a 'sky' band; things: small rectangles; void elsewhere."""
    ids = np.zeros((H, W), np.uint32)
    ids[:30] = 23000
    ids[60:] = 7000
    category = {23000: 23, 7000: 7}
    for k in range(n_things):
        h, w = rng.integers(4, 14), rng.integers(4, 20)
        y, x = rng.integers(0, H - h), rng.integers(0, W - w)
        sid = 26000 + k + 1
        ids[y:y + h, x:x + w] = sid
        category[sid] = 26
    ids[:, :3] = 0  # a void stripe
    present = [sid for sid in category if (ids == sid).any()]
    code = {sid: 12 * (k + 1) for k, sid in enumerate(present)}
    image = np.zeros((H, W, 3), np.uint8)
    yy, xx = np.mgrid[:H, :W]
    image[..., 1], image[..., 2] = yy, xx
    image[..., 0] = np.vectorize(lambda s: code.get(s, 0), otypes=[np.uint8])(ids)
    infos = [{"id": sid, "category_id": category[sid], "area": area, "bbox": bbox, "iscrowd": int(sid == 26001)}
             for sid, (area, bbox) in segment_stats(ids).items()]
    return image, ids, infos, code


def assert_traces_to_sources(out: np.ndarray, label: np.ndarray, segments_info: list[dict], ids: np.ndarray,
                             infos: list[dict], code: dict[int, int]) -> None:
    """`out` / `label` / `segments_info`: a PanDA sample of the coded scene (`ids`, `infos`, `code`)."""
    source = {info["id"]: info for info in infos}
    assert segment_stats(label) == {s["id"]: (s["area"], s["bbox"]) for s in segments_info}
    for info in segments_info:
        src = source[info["id"]]
        assert (info["category_id"], info["iscrowd"]) == (src["category_id"], src["iscrowd"])
        here = label == info["id"]
        ys, xs = np.nonzero(ids == info["id"])
        assert (out[here, 0] == code[info["id"]]).all()  # R: the segment's own code
        assert out[here, 1].min() >= ys.min() and out[here, 1].max() <= ys.max()  # G: a source row of it
        assert out[here, 2].min() >= xs.min() and out[here, 2].max() <= xs.max()  # B: a source column of it
    noise = out[label == 0].astype(float)
    assert len(noise) > 1000
    assert abs(noise.mean() - 127.5) < 6 and abs(noise.std() - 73.9) < 6  # uniform over 0..255
