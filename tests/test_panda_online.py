"""Online PanDA (`data.panda: online`): the data loader's sample at pass e is the generator's copy e
(one implementation), it passes the offline image / label checks, the mix replaces the share it
says, batches do not depend on the DataLoader workers, a resume is exact, an epoch counts the
originals, and a mini run trains and records its variant."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from harness.config.recipes import load_recipe, select_cell, typed_recipe
from harness.config.run_spec import RunSpec
from harness.data.categories import categories_json
from harness.data.dataset import PanopticDataset, write_panoptic_json, write_sample
from harness.data.synth import synthesize_dataset
from harness.errors import ConfigError
from harness.models.targets import panoptic_to_targets
from harness.panda.config import PandaConfig
from harness.panda.generate import generate_panda
from harness.panda.online import OnlinePanda
from harness.train.distributed import DistContext
from harness.train.loader import PanopticTrainSet, ResumableBatchSampler, samples_per_epoch
from harness.train.loop import Trainer, TrainSettings
from harness.train.tasks.panoptic.task import PanopticTask, SgdSettings
from panda_checks import assert_traces_to_sources, coded_scene

SEED = 7


@pytest.fixture(scope="module")
def coded(tmp_path_factory):
    """Three coded scenes on disk (tests/panda_checks.py), with their arrays for the checks."""
    root = tmp_path_factory.mktemp("coded") / "src"
    scenes, entries, annotations = [], [], []
    for i in range(3):
        image, ids, infos, code = coded_scene(np.random.default_rng(i))
        category_of = {s["id"]: s["category_id"] for s in infos}
        iscrowd_of = {s["id"]: s["iscrowd"] for s in infos}
        entry, ann = write_sample(root, f"img_{i:03d}", image, ids, category_of, iscrowd_of, image_id=i)
        entries.append(entry)
        annotations.append(ann)
        scenes.append((ids, infos, code))
    write_panoptic_json(root, entries, annotations, categories_json())
    return root, scenes


@pytest.mark.parametrize("hybrid", [False, True])
def test_the_sample_of_pass_e_is_the_generators_copy_e(coded, tmp_path, hybrid):
    root, _ = coded
    config = PandaConfig(hybrid=hybrid, hybrid_sources=2)
    offline = PanopticDataset.load(generate_panda(root, tmp_path / "panda", copies=3, seed=SEED, config=config,
                                                  workers=1, progress=False))
    ds = PanopticDataset.load(root)
    online = OnlinePanda(config, 0.5, SEED)
    for k, entry in enumerate(offline.images):
        i = [im["id"] for im in ds.images].index(entry["source_image_id"][0] if hybrid else entry["source_image_id"])
        sample = online.sample(ds, i, entry["copy_index"])
        np.testing.assert_array_equal(sample.image, offline.read_image(k))
        np.testing.assert_array_equal(sample.ids, offline.read_ids(k))
        assert sample.segments_info == offline.annotation_for(entry["id"])["segments_info"]


def test_online_samples_pass_the_offline_image_label_checks(coded):
    root, scenes = coded
    ds = PanopticDataset.load(root)
    online = OnlinePanda(PandaConfig(), 0.5, SEED)
    unaugmented = PanopticTrainSet([root], categories_json(), seed=0, hflip=0.0, online=online)
    replaced = 0
    for i, (ids, infos, code) in enumerate(scenes):
        for epoch in range(4):
            sample = online.sample(ds, i, epoch)
            assert_traces_to_sources(sample.image, sample.ids, sample.segments_info, ids, infos, code)
            if online.replaces(i, epoch):  # the loader hands on exactly this sample (no flip, no jitter here)
                replaced += 1
                image, targets = unaugmented[(i, epoch)]
                np.testing.assert_array_equal((image * 255).round().byte().permute(1, 2, 0).numpy(), sample.image)
                want = panoptic_to_targets(sample.ids, sample.segments_info, categories_json())
                assert all(torch.equal(targets[key], want[key]) for key in want)
    assert replaced > 0


def test_mix_is_the_share_of_samples_replaced():
    trials = 2000
    for mix in (0.0, 0.25, 0.5, 0.9):
        online = OnlinePanda(PandaConfig(), mix, SEED)
        share = np.mean([online.replaces(i, epoch) for i in range(trials // 20) for epoch in range(20)])
        assert abs(share - mix) <= 4.5 * np.sqrt(mix * (1 - mix) / trials) + 1e-12, (mix, share)
    with pytest.raises(ConfigError, match="panda_mix"):
        OnlinePanda(PandaConfig(), 1.0, SEED)


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    root = synthesize_dataset(tmp_path_factory.mktemp("scenes") / "train", 3, seed=0, width=96, height=48,
                              workers=1, progress=False)
    return root, PanopticDataset.load(root).categories


def _batches(dataset, workers: int, total: int) -> list:
    sampler = ResumableBatchSampler(len(dataset), ims_per_gpu=2, world_size=1, rank=0, seed=3, start=0, total=total)
    loader = DataLoader(dataset, batch_sampler=sampler, num_workers=workers, collate_fn=PanopticTask.collate)
    return list(loader)


def test_batches_do_not_depend_on_the_number_of_workers(scenes):
    root, categories = scenes
    online = OnlinePanda(PandaConfig(), 0.5, SEED)
    dataset = PanopticTrainSet([root], categories, seed=3, hflip=0.5, scale_jitter=(0.8, 1.2), online=online)
    inline, parallel = _batches(dataset, 0, 6), _batches(dataset, 2, 6)  # 4 passes over the 3 images
    for (images_a, targets_a), (images_b, targets_b) in zip(inline, parallel, strict=True):
        assert all(torch.equal(a, b) for a, b in zip(images_a, images_b, strict=True))
        for ta, tb in zip(targets_a, targets_b, strict=True):
            assert ta.keys() == tb.keys() and all(torch.equal(ta[k], tb[k]) for k in ta)
    keys = [key for batch in ResumableBatchSampler(3, 2, 1, 0, seed=3, start=0, total=6) for key in batch]
    replaced = {(i, e) for i, e in keys if online.replaces(i, e)}
    assert 0 < len(replaced) < len(keys)  # both kinds of sample were in the batches
    fresh = [online.sample(dataset.datasets[0], 0, e).image for e in range(3)]
    assert not np.array_equal(fresh[0], fresh[1]) and not np.array_equal(fresh[1], fresh[2])  # drawn anew each pass


def test_an_epoch_counts_the_originals_as_a_kx_epoch_does(scenes):
    root, categories = scenes
    plain = PanopticTrainSet([root], categories, seed=0)
    online = PanopticTrainSet([root], categories, seed=0, online=OnlinePanda(PandaConfig(), 0.5, SEED))
    quarter = PanopticTrainSet([root], categories, seed=0, online=OnlinePanda(PandaConfig(), 0.25, SEED))
    assert (samples_per_epoch(plain), samples_per_epoch(online), samples_per_epoch(quarter)) == (3.0, 6.0, 4.0)
    loop = TrainSettings.from_config(typed_recipe(select_cell(load_recipe("base", ["train.epochs=10"]))))
    assert loop.iterations(samples_per_epoch(online), 1) == loop.iterations(3 * (1 + 1), 1) == 60  # = PanDA 1x


def _trainer(scenes, checkpoint_dir, recipe):
    root, categories = scenes
    torch.manual_seed(0)
    task = PanopticTask(model_name="upsnet-mini", model_options={}, categories=categories, train_roots=[root],
                        seed=0, sgd=SgdSettings.from_config(recipe.optim), hflip=0.5, scale_jitter=(0.8, 1.2),
                        online=OnlinePanda(recipe.panda, recipe.data.panda_mix, recipe.data.seed))
    return Trainer(task, TrainSettings.from_config(recipe), DistContext(), checkpoint_dir, progress=False)


@pytest.mark.slow
def test_resume_with_online_panda_reproduces_the_straight_run(scenes, tmp_path):
    recipe = typed_recipe(select_cell(load_recipe("base", [
        "seed=0", "data.workers=0", "data.panda=online", f"data.seed={SEED}", "train.epochs=1", "train.ims_per_gpu=1",
        "train.base_lr=0.02", "train.base_batch=1", "train.warmup=0.25", "train.steps=[0.5]",
        "train.checkpoint_every=1"])))
    straight = _trainer(scenes, tmp_path / "straight", recipe)
    assert straight.total == 6  # 3 images / (1 - 0.5): two passes, the second after the resume point
    straight.fit()
    first = _trainer(scenes, tmp_path / "resumed", recipe)
    first.fit(stop_at=3)
    torch.manual_seed(1234)  # a fresh process would start from another RNG state
    second = _trainer(scenes, tmp_path / "resumed", recipe)
    assert second.iteration == 3
    second.fit()
    assert second.iteration == straight.iteration == 6
    keys = [key for it in range(3, 6) for key in ResumableBatchSampler(3, 1, 1, 0, 0, 0, 6).batch(it)]
    assert any(second.dataset.online.replaces(i, e) for i, e in keys)  # PanDA samples after the resume
    for (name, a), b in zip(straight.modules["model"].state_dict().items(),
                            second.modules["model"].state_dict().values()):
        assert torch.equal(a, b), name


@pytest.mark.slow
def test_a_mini_run_with_online_panda_trains_and_records_its_variant(tmp_path):
    from harness.train.run import run_training

    overrides = ["data.n=4", "data.synth.count=4", "data.synth.val_count=1", "data.synth.width=96",
                 "data.synth.height=48", "data.panda=online", "train.epochs=1", "train.log_every=1",
                 "eval.images_logged=0", f"data.cache={tmp_path / 'cache'}"]
    spec = RunSpec.from_recipe("mini", overrides)
    result = run_training(spec, tmp_path / "runs", progress=False)
    record = json.loads((result.run_dir / "run.json").read_text())
    assert record["status"] == "finished" and record["variant"] == "panda-online"
    assert record["panda"] == {"name": "panda-online", "copies": 0, "ops": ["dropout", "resize", "shift"],
                               "params": {}, "online": True, "mix": 0.5}
    assert record["config"]["data"]["panda_mix"] == 0.5
    assert record["iterations"] == 4  # 1 epoch x 4 originals / (1 - 0.5) / 2 images per step
    assert (record["n"], record["n_train"], record["data"]["samples_per_epoch"]) == (4, 4, 8.0)
    assert len(record["data"]["train_roots"]) == 1  # nothing generated on disk
    history = [json.loads(x) for x in (result.run_dir / "history.jsonl").read_text().splitlines()]
    steps = [h for h in history if "loss" in h]
    assert [h["step"] for h in steps] == [1, 2, 3, 4] and steps[-1]["epoch"] == pytest.approx(1.0)
    assert all(np.isfinite(h["loss"]) and h["data_s"] >= 0 for h in steps)
    assert "pq" in json.loads((result.run_dir / "metrics.json").read_text())
