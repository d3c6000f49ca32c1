"""Synthetic street scenes: deterministic, valid COCO panoptic, Cityscapes conventions and imbalance."""

import numpy as np
import pytest

from harness.cli import main as panbench
from harness.data.categories import CITYSCAPES_CATEGORIES
from harness.data.synth import make_scene, synthesize_dataset
from harness.data.validate import find_problems, load_valid
from harness.seeding import keyed_rng

NAME = {c.id: c.name for c in CITYSCAPES_CATEGORIES}
THING = {c.id: c.isthing for c in CITYSCAPES_CATEGORIES}


def files(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_same_scene_other_seed_other_scene():
    a, b, c = (make_scene(keyed_rng(seed, 3), 48, 96) for seed in (7, 7, 8))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert a[2] == b[2] and a[3] == b[3]
    assert not np.array_equal(a[0], c[0])


def test_output_bytes_independent_of_workers_and_n(tmp_path):
    one = synthesize_dataset(tmp_path / "w1", 3, seed=5, width=96, height=48, workers=1, progress=False)
    two = synthesize_dataset(tmp_path / "w2", 3, seed=5, width=96, height=48, workers=2, progress=False)
    assert files(one) == files(two)
    fewer = files(synthesize_dataset(tmp_path / "n2", 2, seed=5, width=96, height=48, workers=1, progress=False))
    assert all(fewer[name] == files(one)[name] for name in fewer if name != "panoptic.json")


def test_dataset_passes_full_validation_and_follows_cityscapes_ids(tmp_path):
    assert panbench(["data", "synth", "--out", str(tmp_path / "s"), "--n", "6", "--seed", "1",
                     "--width", "101", "--height", "53", "--workers", "1"]) == 0  # odd sizes work
    ds = load_valid(tmp_path / "s")
    assert find_problems(ds, workers=1) == []
    assert {(e["height"], e["width"]) for e in ds.images} == {(53, 101)}
    assert [c["id"] for c in ds.categories] == [c.id for c in CITYSCAPES_CATEGORIES]
    for ann in ds.annotations:
        for seg in ann["segments_info"]:
            cat = seg["category_id"]
            assert seg["id"] // 1000 == cat  # Cityscapes convention: id = category_id * 1000 + k
            assert (seg["id"] % 1000 > 0) == THING[cat], seg  # k = 0 for stuff, 1.. for things
            assert seg["iscrowd"] == 0 or THING[cat]


@pytest.fixture(scope="module")
def scenes():
    return [make_scene(keyed_rng(0, i), 64, 128) for i in range(120)]


def test_class_imbalance_like_cityscapes(scenes):
    """Average per-image pixel share (PanDA Supplementary Fig. 1-2): road and building hold the
    majority of the labelled pixels; road, building, vegetation, car lead as in Cityscapes' fine
    train statistics; the rare classes each hold under 1 % yet all 19 classes occur."""
    share = {name: 0.0 for name in NAME.values()}
    instances = {name: 0 for name in NAME.values()}
    for _, ids, category_of, _ in scenes:
        sids, counts = np.unique(ids[ids > 0], return_counts=True)
        for sid, count in zip(sids.tolist(), counts.tolist()):
            name = NAME[category_of[sid]]
            share[name] += count / counts.sum() / len(scenes)
            instances[name] += 1
    ranked = sorted(share, key=share.get, reverse=True)
    assert share["road"] + share["building"] > 0.5
    assert set(ranked[:4]) == {"road", "building", "vegetation", "car"}
    for rare in ("rider", "motorcycle", "bus", "train", "traffic light", "bicycle"):
        assert share[rare] < 0.01, (rare, share[rare])
    assert all(instances[name] > 0 for name in NAME.values()), instances
    assert instances["car"] > instances["person"] > instances["bicycle"] > instances["train"]


def test_scenes_have_void_occlusion_and_class_specific_texture(scenes):
    image, ids, category_of, _ = scenes[0]
    assert np.mean([np.mean(s[1] == 0) for s in scenes]) > 0.01  # some void, like Cityscapes' ego vehicle
    # Occlusion: some thing instance's box contains pixels of a nearer instance.
    occluded = 0
    for _, ids_i, cat_i, _ in scenes[:20]:
        things = [s for s in np.unique(ids_i) if s % 1000]
        for sid in things:
            ys, xs = np.nonzero(ids_i == sid)
            box = ids_i[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
            occluded += bool(np.isin(box, [t for t in things if t != sid]).any())
    assert occluded > 5
    # Texture: pixels of one stuff class vary (noise + pattern), so mean colour alone does not define it.
    road = image[ids == 7000].astype(float)
    assert road.std(axis=0).min() > 3
