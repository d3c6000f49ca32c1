"""The augmentation door (issue 26): the worked example and two more plugins offline and online, workers 1
vs 2 byte-identical, refusals in one line, the run id and variant name of a door method."""

from __future__ import annotations

import filecmp
import json

import numpy as np
import pytest

from harness.cli import main
from harness.data.dataset import PanopticDataset
from harness.data.synth import synthesize_dataset
from harness.data.validate import check_dataset
from harness.errors import ConfigError
from harness.panda.augment import draw, generate_augmented, method_of, online_augment
from harness.panda.door import AugmentError, source_sha256

PLUGINS = ["harness.panda.example:drop_things", "augment_plugins:flip_or_not", "augment_plugins:left_right",
           "copy-paste", "copy-paste+panda"]


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    return synthesize_dataset(tmp_path_factory.mktemp("synth") / "src", 4, seed=3, width=96, height=48, workers=1,
                              progress=False)


def _same_tree(a, b) -> bool:
    cmp = filecmp.dircmp(a, b)
    files = [f for f in cmp.common_files]
    match, mismatch, errors = filecmp.cmpfiles(a, b, files, shallow=False)
    return not (cmp.left_only or cmp.right_only or mismatch or errors) and all(
        _same_tree(a / d, b / d) for d in cmp.common_dirs)


@pytest.mark.parametrize("method", PLUGINS)
def test_offline_output_is_valid_and_independent_of_workers(scenes, tmp_path, method):
    one = generate_augmented(scenes, tmp_path / "one", method, copies=2, seed=5, workers=1, progress=False)
    two = generate_augmented(scenes, tmp_path / "two", method, copies=2, seed=5, workers=2, progress=False)
    assert _same_tree(one, two)
    assert check_dataset(one, workers=1, progress=False).problems == []
    manifest = json.loads((one / "manifest.json").read_text())
    assert manifest["method"]["name"] == method
    assert [(e["source_image_id"], e["copy_index"]) for e in manifest["images"]] == [
        (i, c) for i in range(4) for c in range(2)]
    assert all(set(e) == {"id", "file_name", "source_image_id", "copy_index"} for e in manifest["images"])


@pytest.mark.parametrize("method", PLUGINS)
def test_online_pass_e_is_offline_copy_e(scenes, tmp_path, method):
    out = PanopticDataset.load(generate_augmented(scenes, tmp_path / "set", method, copies=2, seed=5, workers=1,
                                                  progress=False))
    src = PanopticDataset.load(scenes)
    online = online_augment(method, {}, 0.5, 5)
    for i in range(len(src)):
        for epoch in range(2):
            image, ids, segments = online.sample(src, i, epoch)
            k = 2 * i + epoch
            assert np.array_equal(image, out.read_image(k)) and np.array_equal(ids, out.read_ids(k))
            assert segments == out.annotation_for(out.images[k]["id"])["segments_info"]


def test_the_plugin_source_is_recorded(scenes, tmp_path):
    import augment_plugins

    out = generate_augmented(scenes, tmp_path / "o", "augment_plugins:flip_or_not", 1, 0, params={"p": 1.0},
                             workers=1, progress=False)
    method = json.loads((out / "manifest.json").read_text())["method"]
    assert method == {"name": "augment_plugins:flip_or_not", "parameters": {"p": 1.0},
                      "sha256": source_sha256(augment_plugins.flip_or_not)}


@pytest.mark.parametrize("name, problem", [
    ("augment_plugins:wrong_size", "panoptic map must be an integer array of the image's size"),
    ("augment_plugins:unknown_category", "category_id 9999, which is not in categories"),
    ("augment_plugins:missing_segment", "is in segments but not in the panoptic map"),
])
def test_an_invalid_output_is_refused_naming_method_and_image(scenes, name, problem):
    with pytest.raises(AugmentError, match=problem) as info:
        draw(PanopticDataset.load(scenes), method_of(name), 0, 0, 0)
    assert f"method '{name}' on image 0" in str(info.value)


@pytest.mark.parametrize("name, problem", [
    ("augment_plugins:missing", "module augment_plugins has no callable 'missing'"),
    ("no_such_module_xyz:fn", "cannot import no_such_module_xyz: ModuleNotFoundError"),
    ("augment_plugins:wrong_size", "takes no parameter 'q'"),
    ("nonsense", "unknown augmentation 'nonsense'"),
])
def test_cli_refusals_are_one_line(scenes, tmp_path, capsys, name, problem):
    extra = ["--set", "q=1"] if name.endswith("wrong_size") else []
    code = main(["augment", "--method", name, "--src", str(scenes), "--out", str(tmp_path / "out"), "--copies", "1",
                 "--seed", "0", "--no-progress", *extra])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and err.startswith("panbench: error: ") and problem in err
    assert not (tmp_path / "out").exists()


def test_cli_plugin_error_is_one_line_and_writes_nothing(scenes, tmp_path, capsys):
    code = main(["augment", "--method", "augment_plugins:unknown_category", "--src", str(scenes), "--out",
                 str(tmp_path / "out"), "--copies", "1", "--seed", "0", "--workers", "1", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "augment_plugins:unknown_category" in err
    assert not (tmp_path / "out").exists()


def test_augment_panda_is_panbench_panda(scenes, tmp_path):
    assert main(["panda", "--src", str(scenes), "--out", str(tmp_path / "a"), "--seed", "1", "--workers", "1",
                 "--no-progress"]) == 0
    assert main(["augment", "--method", "panda", "--src", str(scenes), "--out", str(tmp_path / "b"), "--copies", "1",
                 "--seed", "1", "--workers", "1", "--no-progress"]) == 0
    assert _same_tree(tmp_path / "a", tmp_path / "b")
    assert json.loads((tmp_path / "b" / "manifest.json").read_text())["method"]["name"] == "panda"


def test_run_ids_and_names_of_door_methods():
    from harness.config.run_spec import RunSpec

    plain = RunSpec.from_recipe("panda-table2-mini", ["data.n=10", "data.panda=none"])
    assert RunSpec.from_recipe("panda-table2-mini", ["data.n=10", "data.panda=none",
                                                     "data.augment=copy-paste"]).run_id == plain.run_id
    panda = RunSpec.from_recipe("panda-table2-mini", ["data.n=10", "data.panda=1x"])
    assert RunSpec.from_recipe("panda-table2-mini", ["data.n=10", "data.panda=1x",
                                                     "data.augment=panda"]).run_id == panda.run_id
    cp = RunSpec.from_recipe("panda-table2-mini", ["data.n=10", "data.panda=1x", "data.augment=copy-paste"])
    assert cp.run_id != panda.run_id and cp.variant.name == "copy-paste-1x"
    assert cp.identity()["augment"]["name"] == "copy-paste" and "augment" not in panda.identity()
    both = RunSpec.from_recipe("panda-table2-mini", ["data.n=10", "data.panda=online",
                                                     "data.augment=copy-paste+panda"])
    assert both.variant.name == "copy-paste+panda-online"
    assert [s["name"] for s in both.identity()["augment"]["steps"]] == ["copy-paste", "panda"]
    with pytest.raises(ConfigError, match="cannot import"):
        RunSpec.from_recipe("panda-table2-mini", ["data.panda=1x", "data.augment=nowhere_xyz:fn"])


def test_an_entry_point_name_resolves_and_a_broken_one_is_one_line(monkeypatch):
    from importlib.metadata import EntryPoint

    import harness.panda.door as door

    points = [EntryPoint("flipper", "augment_plugins:flip_or_not", door.ENTRY_POINT_GROUP),
              EntryPoint("broken", "no_such_module_xyz:fn", door.ENTRY_POINT_GROUP)]
    monkeypatch.setattr(door, "entry_points", lambda group: [p for p in points if p.group == group])
    import augment_plugins

    assert door.resolve("flipper").steps[0].fn is augment_plugins.flip_or_not
    with pytest.raises(ConfigError, match="entry point no_such_module_xyz:fn"):
        door.resolve("broken")
