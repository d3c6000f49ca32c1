"""PanDA datasets on disk: determinism across worker counts, manifest, ablation switches, hybrid
mode, the CLI, and the dataset validator's verdict on the output."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from conftest import write_blocks_dataset
from harness.cli import main as panbench
from harness.data.synth import synthesize_dataset
from harness.data.validate import load_valid
from harness.errors import DatasetError
from harness.panda.config import PandaConfig
from harness.panda.generate import MANIFEST, generate_panda


def tree_bytes(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    return synthesize_dataset(tmp_path_factory.mktemp("synth") / "src", 4, seed=3, width=160, height=80,
                              workers=1, progress=False)


@pytest.mark.slow
def test_output_bytes_do_not_depend_on_the_number_of_workers(scenes, tmp_path):
    one = generate_panda(scenes, tmp_path / "w1", copies=2, seed=9, workers=1, progress=False)
    four = generate_panda(scenes, tmp_path / "w4", copies=2, seed=9, workers=4, progress=False)
    a, b = tree_bytes(one), tree_bytes(four)
    assert len(a) == 2 * 8 + 2 and a.keys() == b.keys()
    assert all(a[k] == b[k] for k in a), [k for k in a if a[k] != b[k]]
    other_seed = tree_bytes(generate_panda(scenes, tmp_path / "s2", copies=2, seed=10, workers=1, progress=False))
    assert other_seed["panoptic.json"] != a["panoptic.json"]


def test_output_is_a_valid_dataset_with_sources_and_a_manifest(scenes, tmp_path):
    out = generate_panda(scenes, tmp_path / "p", copies=2, seed=1, workers=1, progress=False)
    ds = load_valid(out)  # runs the validator: PNGs, ids, areas and bboxes agree with the JSON
    src = load_valid(scenes)
    assert [(im["source_image_id"], im["copy_index"]) for im in ds.images] == \
        [(im["id"], c) for im in src.images for c in (0, 1)]
    assert ds.categories == src.categories
    assert not np.array_equal(ds.read_image(0), ds.read_image(1))  # copies differ
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["seed"] == 1 and manifest["copies"] == 2 and manifest["source"] == str(scenes)
    assert manifest["ops"] == ["dropout", "resize", "shift"] and manifest["config"] == PandaConfig().to_dict()
    assert [m["id"] for m in manifest["images"]] == [im["id"] for im in ds.images]
    assert [m["source_image_id"] for m in manifest["images"]] == [im["source_image_id"] for im in ds.images]
    # every output segment keeps the id, category and iscrowd it had in its source image
    for image, annotation in ds.samples():
        source = {s["id"]: s for s in src.annotation_for(image["source_image_id"])["segments_info"]}
        for info in annotation["segments_info"]:
            assert (info["category_id"], info["iscrowd"]) == (source[info["id"]]["category_id"],
                                                              source[info["id"]]["iscrowd"])


def test_no_ops_and_dropout_only_keep_segments_where_they_were(tmp_path):
    src = load_valid(write_blocks_dataset(tmp_path / "blocks", n=3, height=40, width=64))
    for ops, name in (((), "none"), (("dropout",), "dropout")):
        ds = load_valid(generate_panda(src.root, tmp_path / name, copies=1, seed=0,
                                                 config=PandaConfig(ops=ops), workers=1, progress=False))
        for i in range(len(ds)):
            ids, src_ids = ds.read_ids(i), src.read_ids(i)
            labelled = ids > 0
            assert (ids[labelled] == src_ids[labelled]).all()
            assert (ds.read_image(i)[labelled] == src.read_image(i)[labelled]).all()
            kept = {s["id"] for s in ds.annotations[i]["segments_info"]}
            assert np.array_equal(labelled, np.isin(src_ids, list(kept)))
            if not ops:
                assert np.array_equal(ids, src_ids)
        if ops:  # road covers half the frame: p = (0.5 - 0.1) / 0.4 -> always dropped
            assert all(2000 not in {s["id"] for s in a["segments_info"]} for a in ds.annotations)


def test_shift_alone_translates_without_resizing(tmp_path):
    src = load_valid(write_blocks_dataset(tmp_path / "blocks", n=4, height=60, width=90))
    config = PandaConfig(ops=("shift",), shift_range=0.1)
    ds = load_valid(generate_panda(src.root, tmp_path / "shift", copies=1, seed=2, config=config,
                                             workers=1, progress=False))
    moved = 0
    for i in range(len(ds)):
        src_info = {s["id"]: s for s in src.annotations[i]["segments_info"]}
        person = next(s for s in ds.annotations[i]["segments_info"] if s["id"] == 24001)
        x, y, w, h = person["bbox"]
        sx, sy, sw, sh = src_info[24001]["bbox"]
        if 0 < x and x + w < 90 and 0 < y and y + h < 60:  # not clipped by the frame
            assert (w, h) == (sw, sh) and abs(x - sx) <= 9 and abs(y - sy) <= 6
            moved += (x, y) != (sx, sy)
    assert moved > 0


def test_resize_alone_keeps_segment_centres(tmp_path):
    src = load_valid(write_blocks_dataset(tmp_path / "blocks", n=3, height=60, width=90))
    config = PandaConfig(ops=("resize",), scale_min=0.5, scale_max=0.5)
    ds = load_valid(generate_panda(src.root, tmp_path / "resize", copies=1, seed=2, config=config,
                                             workers=1, progress=False))
    for i in range(len(ds)):
        before = {s["id"]: s["bbox"] for s in src.annotations[i]["segments_info"]}
        for info in ds.annotations[i]["segments_info"]:
            if info["id"] == 26001:  # the car, 12x8, on top of nothing larger
                x, y, w, h = info["bbox"]
                sx, sy, sw, sh = before[26001]
                assert (w, h) == (6, 4)
                assert abs((x + w / 2) - (sx + sw / 2)) <= 0.5 and abs((y + h / 2) - (sy + sh / 2)) <= 0.5


def test_hybrid_images_pool_segments_from_several_sources(scenes, tmp_path):
    config = PandaConfig(hybrid=True, hybrid_sources=3)
    ds = load_valid(generate_panda(scenes, tmp_path / "h", copies=1, seed=4, config=config, workers=1,
                                             progress=False))
    src = load_valid(scenes)
    for image, annotation in ds.samples():
        sources = image["source_image_id"]
        assert isinstance(sources, list) and len(set(sources)) == 3
        assert image["id"] == f"{sources[0]}_hybrid{image['copy_index']}"
        ids = [s["id"] for s in annotation["segments_info"]]
        assert len(ids) == len(set(ids))
    pooled_from_others = 0
    for image, annotation in ds.samples():
        own = {s["id"] for s in src.annotation_for(image["source_image_id"][0])["segments_info"]}
        pooled_from_others += sum(s["id"] not in own for s in annotation["segments_info"])
    assert pooled_from_others > 0


def test_cli_runs_panda_with_ops_and_overrides(tmp_path, capsys):
    src = write_blocks_dataset(tmp_path / "blocks", n=2)
    out = tmp_path / "cli"
    assert panbench(["panda", "--src", str(src), "--out", str(out), "--copies", "2", "--seed", "3",
                     "--ops", "dropout,shift", "--set", "shift_range=0.05", "--workers", "1", "--no-progress",
                     "--examples", str(tmp_path / "examples.png")]) == 0
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["ops"] == ["dropout", "shift"] and manifest["config"]["shift_range"] == 0.05
    assert len(load_valid(out)) == 4
    with Image.open(tmp_path / "examples.png") as im:  # originals beside PanDA images, 2 rows x 4 panels
        assert im.size[0] > im.size[1] > 100
    assert panbench(["panda", "--src", str(src), "--out", str(out), "--set", "scal_max=2"]) == 2
    assert "scale_max" in capsys.readouterr().err
    assert panbench(["panda", "--src", str(src), "--out", str(out), "--no-progress"]) == 2
    assert "already holds a dataset" in capsys.readouterr().err


def test_a_label_that_disagrees_with_its_json_is_named(tmp_path):
    src = write_blocks_dataset(tmp_path / "blocks", n=2)
    data = json.loads((src / "panoptic.json").read_text())
    data["annotations"][1]["segments_info"][0]["area"] += 5
    (src / "panoptic.json").write_text(json.dumps(data))
    with pytest.raises(DatasetError, match="img_001.png: segment"):
        generate_panda(src, tmp_path / "out", copies=1, seed=0, workers=1, progress=False)


def test_resize_drawn_from_a_normal_distribution(tmp_path, capsys):
    """The Discussion's variant from the command line: segment sizes change by factors drawn from a
    truncated normal in [0.5, 2.0]; the output is a valid dataset and its manifest says how it was made."""
    src = write_blocks_dataset(tmp_path / "blocks", n=3, height=60, width=90)
    out = tmp_path / "normal"
    assert panbench(["panda", "--src", str(src), "--out", str(out), "--ops", "resize", "--set", "scale_max=2.0",
                     "--set", "scale_distribution=normal", "--set", "scale_mean=1.3", "--set", "scale_std=0.2",
                     "--workers", "1", "--no-progress"]) == 0
    config = json.loads((out / MANIFEST).read_text())["config"]
    assert (config["scale_distribution"], config["scale_mean"], config["scale_std"], config["scale_max"]) == \
        ("normal", 1.3, 0.2, 2.0)
    ds, source = load_valid(out), load_valid(src)
    grown = []  # the car's area after / before: resize about its centre by s ~ N(1.3, 0.2) keeps s² on average
    for image, annotation in ds.samples():
        before = {s["id"]: s["area"] for s in source.annotation_for(image["source_image_id"])["segments_info"]}
        grown += [s["area"] / before[s["id"]] for s in annotation["segments_info"] if s["id"] == 26001]
    assert grown and all(0.25 <= g <= 4.5 for g in grown) and np.mean(grown) > 1.0
    assert "wrote PanDA dataset" in capsys.readouterr().out
