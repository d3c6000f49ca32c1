"""PanDA's canvas (issue 25): the label files of noise / generator / rendered are identical for one
seed; the generator canvas keeps every segment pixel of the noise variant and changes only uncovered
pixels; rendered is the generator's output for the label map (checked against the synthesis model
fed through its own batch path); determinism across workers; a missing or unfinished generator is
planned (upstream stage) or refused in one line; the noise canvas keeps today's bytes and run ids."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from cli_errors import one_line_error
from harness.config.dependencies import upstream_runs
from harness.config.recipes import load_recipe
from harness.config.run_spec import run_specs
from harness.data.categories import train_ids
from harness.data.dataset import PanopticDataset
from harness.data.panoptic_format import semantic_map
from harness.data.synth import synthesize_dataset
from harness.errors import ConfigError
from harness.models.registry import create_model
from harness.panda.config import PandaConfig
from harness.panda.generate import MANIFEST, generate_panda
from harness.tracking.run_store import RunStore
from harness.train.tasks.synthesis.evaluate import to_uint8
from harness.train.tasks.synthesis.generator_runs import panda_renderer

RUN = "0123456789ab"


def tree_bytes(root, folder):
    return {p.name: p.read_bytes() for p in sorted((root / folder).iterdir())}


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    return synthesize_dataset(tmp_path_factory.mktemp("synth") / "src", 3, seed=5, width=128, height=64,
                              workers=1, progress=False)


@pytest.fixture(scope="module")
def store(tmp_path_factory, scenes):
    """A run store holding one finished spade-mini run (weights from a seeded init, as a run's
    checkpoint holds them)."""
    root = tmp_path_factory.mktemp("runs")
    categories = PanopticDataset.load(scenes).categories
    torch.manual_seed(0)
    gan = create_model("spade-mini", categories=categories)
    store = RunStore(root)
    store.write_run({"run_id": RUN, "status": "finished", "model": "spade-mini", "n": 3,
                     "config": {"model": {"name": "spade-mini", "options": {}}}})
    store.checkpoint_dir(RUN).mkdir(parents=True)
    torch.save({"iteration": 1, "modules": {"gan": gan.state_dict()}, "optimizers": {}, "data": {}, "rng": {}},
               store.checkpoint_dir(RUN) / "last.pt")
    return root


def make(scenes, store, out, canvas, workers=1, **extra):
    config = PandaConfig(canvas=canvas, generator=RUN if canvas != "noise" else None, **extra)
    ds = PanopticDataset.load(scenes)
    render, record = panda_renderer(config, ds.categories, len(ds.images), store)
    return generate_panda(scenes, out, copies=2, seed=4, config=config, workers=workers, progress=False,
                          renderer=render, render_record=record)


@pytest.fixture(scope="module")
def sets(tmp_path_factory, scenes, store):
    base = tmp_path_factory.mktemp("sets")
    return {canvas: make(scenes, store, base / canvas, canvas) for canvas in ("noise", "generator", "rendered")}


def test_labels_are_identical_across_canvases(sets):
    labels = [tree_bytes(root, "panoptic") for root in sets.values()]
    assert labels[0] == labels[1] == labels[2] and len(labels[0]) == 6
    annotations = [json.loads((root / "panoptic.json").read_text())["annotations"] for root in sets.values()]
    assert annotations[0] == annotations[1] == annotations[2]
    images = [tree_bytes(root, "images") for root in sets.values()]
    assert all(images[0][k] != images[1][k] != images[2][k] for k in images[0])  # only the images differ


def test_noise_canvas_is_todays_output(scenes, sets, tmp_path):
    today = generate_panda(scenes, tmp_path / "today", copies=2, seed=4, workers=1, progress=False)
    for folder in ("images", "panoptic"):
        assert tree_bytes(today, folder) == tree_bytes(sets["noise"], folder)
    assert (today / MANIFEST).read_bytes() == (sets["noise"] / MANIFEST).read_bytes()
    assert "canvas" not in json.loads((today / MANIFEST).read_text())["config"]


def test_generator_canvas_changes_only_uncovered_pixels(sets):
    noise, generator, rendered = (PanopticDataset.load(sets[c]) for c in ("noise", "generator", "rendered"))
    for i in range(len(noise.images)):
        covered = noise.read_ids(i) > 0
        assert covered.any() and (~covered).any()
        a, b, c = noise.read_image(i), generator.read_image(i), rendered.read_image(i)
        assert np.array_equal(b[covered], a[covered])  # every segment pixel of the noise variant
        assert np.array_equal(b[~covered], c[~covered])  # the canvas: the generator's rendering
        assert not np.array_equal(b[~covered], a[~covered])


def test_rendered_is_the_generators_output_for_the_label_map(sets, store, scenes):
    """The reference: the synthesis model fed the written label map through its own batch layout."""
    ds = PanopticDataset.load(sets["rendered"])
    torch.manual_seed(0)
    gan = create_model("spade-mini", categories=ds.categories).eval()
    state = torch.load(RunStore(store).checkpoint_dir(RUN) / "last.pt", weights_only=True)
    gan.load_state_dict(state["modules"]["gan"])
    class_of = train_ids(ds.categories)
    for i, (image, annotation) in enumerate(ds.samples()):
        ids = ds.read_ids(i).astype(np.int64)
        semantic = semantic_map(ids, annotation["segments_info"], class_of).astype(np.int64)
        batch = {"image": torch.zeros(1, 3, 64, 128), "semantic": torch.from_numpy(semantic)[None],
                 "panoptic": torch.from_numpy(ids)[None]}
        with torch.no_grad():
            expected = to_uint8(gan.generate(batch))[0]
        assert np.array_equal(ds.read_image(i), expected), image["file_name"]
    assert json.loads((sets["rendered"] / MANIFEST).read_text())["render"] == {
        "generator": RUN, "run_id": RUN, "model": "spade-mini", "n": 3, "extra_data": False}


@pytest.mark.slow
def test_rendering_does_not_depend_on_the_number_of_workers(scenes, store, sets, tmp_path):
    two = make(scenes, store, tmp_path / "w2", "generator", workers=2)
    for folder in ("images", "panoptic"):
        assert tree_bytes(two, folder) == tree_bytes(sets["generator"], folder)


def test_rendered_originals_keep_the_original_label_maps(scenes, store, tmp_path):
    out = make(scenes, store, tmp_path / "orig", "rendered", ops=())
    src, ds = PanopticDataset.load(scenes), PanopticDataset.load(out)
    for i in range(len(src.images)):
        assert np.array_equal(ds.read_ids(2 * i), src.read_ids(i))  # every segment where it was


def test_a_canvas_without_a_generator_is_one_config_error():
    with pytest.raises(ConfigError, match="canvas=generator needs a generator"):
        PandaConfig(canvas="generator")
    with pytest.raises(ConfigError, match="canvas must be one of"):
        PandaConfig().with_overrides(["canvas=paint"])


def test_cli_refuses_a_missing_or_unfinished_generator_in_one_line(capsys, scenes, store, tmp_path):
    argv = ["panda", "--src", str(scenes), "--out", str(tmp_path / "o"), "--set", "canvas=generator",
            "--no-progress", "--runs-root", str(store)]
    one_line_error(capsys, [*argv, "--set", "generator=ffffffffffff"], "ffffffffffff", "not finished")
    RunStore(store).write_run({"run_id": "aaaaaaaaaaaa", "status": "running", "model": "spade-mini"})
    one_line_error(capsys, [*argv, "--set", "generator=aaaaaaaaaaaa"], "is running, not finished")
    one_line_error(capsys, [*argv, "--set", "generator=synth-table1-mini model.name=spade-mini"],
                   "not finished", "upstream stage")
    assert not (tmp_path / "o").exists()


def test_a_referenced_generator_is_an_upstream_stage_of_the_study():
    specs = run_specs(load_recipe("panda-realism-mini", []))
    generator = load_recipe("synth-table1-mini", ["model.name=panoptic-spade-mini", "data.n=12", "eval.segmenter=null",
                                                  "eval.detector=null"])
    expected = run_specs(generator)[0].run_id
    for spec in specs:
        ups = [u.spec.run_id for u in upstream_runs(spec)]
        assert ups == ([expected] if spec.settings.panda.canvas != "noise" else [])


def test_the_noise_canvas_keeps_every_run_id():
    """canvas and generator enter a run's id only off the paper's noise canvas."""
    a = run_specs(load_recipe("panda-realism-mini", []))
    b = run_specs(load_recipe("panda-realism-mini", ["panda.generator=" + RUN]))
    for x, y in zip(a, b):
        assert (x.run_id == y.run_id) == (x.settings.panda.canvas == "noise"), x.variant.name


@pytest.mark.parametrize("copies, panda, extra, arm", [
    (0, {}, False, "none"),
    (1, {"ops": ["dropout", "resize", "shift"]}, False, "PanDA (noise canvas)"),
    (1, {"ops": ["dropout"], "canvas": "generator"}, False, "PanDA (generator canvas)"),
    (1, {"ops": ["shift"], "canvas": "rendered"}, True, "PanDA (rendered) + extra data"),
    (1, {"ops": [], "canvas": "rendered"}, False, "rendered originals"),
])
def test_each_run_is_named_by_its_arm_and_a_generator_with_more_images_is_labelled(copies, panda, extra, arm):
    from analysis.realism import arm_of

    record = {"panda": {"copies": copies}, "config": {"panda": panda},
              "data": {"panda_set": {"render": {"extra_data": extra}}}}
    assert arm_of(record) == arm


LABEL_MAP_RUN = "abcdefabcdef"


def label_map_store(root, classes):
    """A finished spade-mini run trained on 35-class label maps (as synth-table1 on Cityscapes' label ids)."""
    torch.manual_seed(1)
    gan = create_model("spade-mini", num_classes=35, dontcare_label=False)
    store = RunStore(root)
    store.write_run({"run_id": LABEL_MAP_RUN, "status": "finished", "model": "spade-mini", "n": 3,
                     "config": {"model": {"name": "spade-mini", "options": {"dontcare_label": False}}},
                     "label_input": {"source": "label_maps", "num_classes": classes, "dontcare_label": False}})
    store.checkpoint_dir(LABEL_MAP_RUN).mkdir(parents=True)
    torch.save({"iteration": 1, "modules": {"gan": gan.state_dict()}, "optimizers": {}, "data": {}, "rng": {}},
               store.checkpoint_dir(LABEL_MAP_RUN) / "last.pt")
    return gan.eval()


def test_a_label_map_generator_renders_category_ids_as_label_ids(scenes, tmp_path):
    """A generator trained on label maps (synth-table1's 35 label ids) renders PanDA's map as label ids:
    each segment its category id, the canvas (void) label id 0, Cityscapes' "unlabeled"."""
    gan = label_map_store(tmp_path / "runs", 35)
    config = PandaConfig(canvas="rendered", generator=LABEL_MAP_RUN)
    ds = PanopticDataset.load(scenes)
    render, record = panda_renderer(config, ds.categories, len(ds.images), tmp_path / "runs")
    out = generate_panda(scenes, tmp_path / "set", copies=1, seed=4, config=config, workers=1, progress=False,
                         renderer=render, render_record=record)
    written = PanopticDataset.load(out)
    label_ids = {int(c["id"]): int(c["id"]) for c in written.categories}
    for i, (image, annotation) in enumerate(written.samples()):
        ids = written.read_ids(i).astype(np.int64)
        semantic = semantic_map(ids, annotation["segments_info"], label_ids, fill=0).astype(np.int64)
        assert (semantic[ids == 0] == 0).all() and (ids == 0).any()
        batch = {"image": torch.zeros(1, 3, 64, 128), "semantic": torch.from_numpy(semantic)[None],
                 "panoptic": torch.from_numpy(ids)[None]}
        with torch.no_grad():
            expected = to_uint8(gan.generate(batch))[0]
        assert np.array_equal(written.read_image(i), expected), image["file_name"]


def test_a_label_map_generator_without_the_sources_ids_is_refused_in_one_line(scenes, tmp_path):
    from harness.config.dependencies import DependencyError

    label_map_store(tmp_path / "runs", 20)  # the synthetic scenes' ids go up to 33
    ds = PanopticDataset.load(scenes)
    with pytest.raises(DependencyError, match=r"draws from 20 label ids and the PanDA source's category ids "
                                              r"\[20, 21, 22, 23, 24\] are not among them") as error:
        panda_renderer(PandaConfig(canvas="rendered", generator=LABEL_MAP_RUN), ds.categories, 3, tmp_path / "runs")
    assert "\n" not in str(error.value)
