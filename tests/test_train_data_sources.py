"""Data preparation: the synthetic pool, nested subsets and PanDA sets are cached under keys of their
inputs (built once, shared by runs), and the PanDA variants add 1x / 2x images per original."""

from __future__ import annotations

import json

import pytest

from harness.config.run_spec import RunSpec
from harness.data.dataset import PanopticDataset
from harness.errors import ConfigError, DatasetError
from harness.train.data_sources import prepare_data


def _cfg(tmp_path, *overrides):
    return RunSpec.from_recipe("mini", ["data.synth.count=6", "data.synth.val_count=2", "data.synth.width=64",
                                        "data.synth.height=32", f"data.cache={tmp_path / 'cache'}", *overrides]).settings


def test_subsets_nest_and_panda_sets_scale_the_training_set(tmp_path):
    small = prepare_data(_cfg(tmp_path, "data.n=2"), progress=False)
    large = prepare_data(_cfg(tmp_path, "data.n=4", "data.panda=2x"), progress=False)
    assert (small.n_original, small.n_train) == (2, 2)
    assert (large.n_original, large.n_train) == (4, 12)  # 4 originals + 2 PanDA images each
    ids = lambda root: {im["id"] for im in PanopticDataset.load(root).images}  # noqa: E731
    assert ids(small.train_roots[0]) < ids(large.train_roots[0])  # nested subsets of one pool
    manifest = json.loads((large.train_roots[1] / "manifest.json").read_text())
    assert manifest["copies"] == 2 and manifest["ops"] == ["dropout", "resize", "shift"]
    assert small.val_root == large.val_root  # one validation set for every cell
    val, pool = (PanopticDataset.load(r) for r in (small.val_root, small.train_roots[0]))
    assert (val.read_image(0) != pool.read_image(0)).any()  # drawn with its own seed, not from the pool


def test_cache_is_reused_and_keyed_on_parameters(tmp_path):
    first = prepare_data(_cfg(tmp_path, "data.n=3", "data.panda=1x"), progress=False)
    stamp = (first.train_roots[1] / "panoptic.json").stat().st_mtime_ns
    again = prepare_data(_cfg(tmp_path, "data.n=3", "data.panda=1x"), progress=False)
    assert again.train_roots == first.train_roots
    assert (again.train_roots[1] / "panoptic.json").stat().st_mtime_ns == stamp  # not rebuilt
    ablated = prepare_data(_cfg(tmp_path, "data.n=3", "data.panda=1x", "panda.ops=[dropout]"), progress=False)
    assert ablated.train_roots[0] == first.train_roots[0] and ablated.train_roots[1] != first.train_roots[1]
    assert not list((tmp_path / "cache").glob(".*tmp*"))  # no build left half-done


def test_every_panda_parameter_of_the_recipe_reaches_the_generator(tmp_path):
    """The recipe's `panda:` section is PanDA's whole config (not only its ops): Sec. 6's suggestion
    `scale_max: 2.0` and the hybrids generate a PanDA set of their own, with those parameters."""
    default = prepare_data(_cfg(tmp_path, "data.n=2", "data.panda=1x"), progress=False)
    wider = prepare_data(_cfg(tmp_path, "data.n=2", "data.panda=1x", "panda.scale_max=2.0", "panda.dropout_max_area=0.6"),
                         progress=False)
    assert wider.train_roots[1] != default.train_roots[1]
    config = json.loads((wider.train_roots[1] / "manifest.json").read_text())["config"]
    assert (config["scale_max"], config["dropout_max_area"], config["scale_min"]) == (2.0, 0.6, 0.5)
    assert json.loads((default.train_roots[1] / "manifest.json").read_text())["config"]["scale_max"] == 1.5


def test_real_dataset_needs_its_folders(tmp_path, blocks_dataset):
    with pytest.raises(ConfigError, match="data.root"):
        prepare_data(_cfg(tmp_path, "data.dataset=cityscapes"), progress=False)
    with pytest.raises(DatasetError, match="panoptic.json"):
        prepare_data(_cfg(tmp_path, "data.dataset=cityscapes", f"data.root={blocks_dataset}",
                          f"data.val_root={tmp_path / 'nowhere'}"), progress=False)
    prepared = prepare_data(_cfg(tmp_path, "data.dataset=cityscapes", f"data.root={blocks_dataset}",
                                 f"data.val_root={blocks_dataset}", "data.n=2"), progress=False)
    assert prepared.n_original == 2 and prepared.val_root == blocks_dataset
    with pytest.raises(ConfigError, match=r"data\.n=5 is larger than the training pool: .*blocks/panoptic\.json holds 3"):
        prepare_data(_cfg(tmp_path, "data.dataset=cityscapes", f"data.root={blocks_dataset}",
                          f"data.val_root={blocks_dataset}", "data.n=5"), progress=False)


def test_kx_for_k_4_generates_four_copies_per_original_and_caches_them(tmp_path):
    prepared = prepare_data(_cfg(tmp_path, "data.n=2", "data.panda=4x"), progress=False)
    assert (prepared.n_original, prepared.n_train, prepared.samples_per_epoch) == (2, 10, 10.0)  # 2 + 4 x 2
    original, panda = (PanopticDataset.load(root) for root in prepared.train_roots)
    assert sorted((im["source_image_id"], im["copy_index"]) for im in panda.images) == \
        sorted((im["id"], c) for im in original.images for c in range(4))
    assert json.loads((prepared.train_roots[1] / "manifest.json").read_text())["copies"] == 4
    stamp = (prepared.train_roots[1] / "panoptic.json").stat().st_mtime_ns
    again = prepare_data(_cfg(tmp_path, "data.n=2", "data.panda=4x"), progress=False)
    assert again.train_roots == prepared.train_roots
    assert (again.train_roots[1] / "panoptic.json").stat().st_mtime_ns == stamp  # cached like 1x / 2x
    online = prepare_data(_cfg(tmp_path, "data.n=2", "data.panda=online"), progress=False)
    assert online.train_roots == prepared.train_roots[:1] and online.samples_per_epoch == 4.0  # nothing generated
