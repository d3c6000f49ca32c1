"""The synthesis recipes' grids (cells, models, options, seeds, schedules) as the papers state them,
the `gan:` and `eval.*` keys of the schema, and the rule that GAN keys leave panoptic run ids alone."""

from __future__ import annotations

import pytest

from harness.config.dependencies import reference_overrides
from harness.config.recipes import list_recipes, load_recipe, select_cell, typed_recipe
from harness.config.run_spec import RunSpec, run_specs
from harness.errors import ConfigError

SYNTH_RECIPES = ("synth-table1", "synth-table2", "synth-table4")


def cells(name: str, *overrides: str) -> list[tuple]:
    """(model, options, seed) of every cell."""
    return [(s.model, dict(s.settings.model.options), s.seed) for s in run_specs(load_recipe(name, list(overrides)))]


def test_every_synthesis_table_has_a_recipe_and_a_mini_variant_on_64x128_scenes():
    names = set(list_recipes())
    for name in SYNTH_RECIPES:
        assert name in names and f"{name}-mini" in names
        mini = typed_recipe(select_cell(load_recipe(f"{name}-mini")))
        assert mini.data.dataset == "synth" and (mini.data.synth.height, mini.data.synth.width) == (64, 128)
        assert mini.model.name.endswith("-mini")
        assert mini.eval.segmenter == mini.eval.detector == "synth-evaluators-mini"


def test_the_mini_evaluators_score_the_mini_generators_validation_scenes():
    generator = typed_recipe(select_cell(load_recipe("synth-table1-mini"))).data
    for kind in ("segmenter", "detector"):
        evaluator = reference_overrides("synth-evaluators-mini", kind)[2].settings.data
        assert evaluator.synth.val_count == generator.synth.val_count == 16
        assert (evaluator.synth.width, evaluator.synth.height, evaluator.seed) == \
            (generator.synth.width, generator.synth.height, generator.seed)
        assert evaluator.synth.count > generator.synth.count  # its pool starts with the generators' images


def test_table1_is_spade_and_panoptic_spade_on_cityscapes_label_ids_with_the_papers_schedule():
    vgg = {"vgg_weights": "weights/vgg19-dcbb9e9d.pth"}
    assert cells("synth-table1") == [("spade", vgg, 0), ("panoptic-spade", vgg, 0)]
    recipe = typed_recipe(select_cell(load_recipe("synth-table1")))
    assert recipe.data.dataset == "cityscapes" and recipe.data.root == "data/cityscapes/train"
    assert recipe.train.epochs == 200 and recipe.train.ims_per_gpu * 8 == 16  # batch 16 on 8 GPUs
    gan = recipe.gan
    assert (gan.lr_generator, gan.lr_discriminator, gan.beta1, gan.beta2) == (1e-4, 4e-4, 0.0, 0.999)
    assert gan.decay == 0.5 and gan.load_size is None  # the last 100 of 200 epochs
    assert recipe.eval.segmenter == "weights/drn-d-105_ms_cityscapes.pth"
    assert recipe.eval.fid_weights.endswith("weights-inception-2015-12-05-6726825d.pth")
    assert cells("synth-table1-mini") == [("spade-mini", {}, 0), ("panoptic-spade-mini", {}, 0)]


def test_table2_is_coco_stuff_at_256_with_spades_coco_options_batch_48_and_a_constant_lr():
    specs = run_specs(load_recipe("synth-table2"))
    assert [s.model for s in specs] == ["spade", "panoptic-spade"]
    recipe = specs[0].settings
    assert recipe.data.dataset == "coco_stuff"
    options = recipe.model.options
    assert (options["image_size"], options["num_upsampling_layers"], options["dontcare_label"]) == \
           ([256, 256], "normal", True)
    assert recipe.train.epochs == 100 and recipe.train.ims_per_gpu * 8 == 48
    assert recipe.gan.decay == 0.0 and recipe.gan.load_size == [286, 286]  # SPADE's resize_and_crop
    assert recipe.eval.segmenter.endswith("deeplabv2_resnet101_msc-cocostuff164k-100000.pth")
    mini = run_specs(load_recipe("synth-table2-mini"))[0].settings
    assert mini.gan.decay == 0.0 and mini.train.ims_per_gpu == 3 * 2 and mini.gan.load_size == [72, 143]


@pytest.mark.parametrize("name,prefix", [("synth-table4", ""), ("synth-table4-mini", "-mini")])
def test_table4_is_the_three_ablation_rows_over_three_seeds(name, prefix):
    rows = [(f"spade{prefix}", False), (f"panoptic-spade{prefix}", False), (f"panoptic-spade{prefix}", True)]
    want = [(model, upsample, seed) for model, upsample in rows for seed in (0, 1, 2)]
    got = [(model, options.get("panoptic_upsample"), seed) for model, options, seed in cells(name)]
    assert got == want
    first = RunSpec.from_recipe(name)  # what `panbench train` runs
    assert (first.model, first.seed) == (f"spade{prefix}", 0)
    assert len({s.run_id for s in run_specs(load_recipe(name))}) == 9
    assert len(cells(name, "seed=1")) == 3  # an override pins the seed


def test_gan_keys_are_typed_and_checked():
    with pytest.raises(ConfigError, match=r"gan\.beta2 must be in \[0, 1\)"):
        typed_recipe(select_cell(load_recipe("synth-table1-mini", ["gan.beta2=1.0"])))
    with pytest.raises(ConfigError, match=r"gan\.decay must be a fraction"):
        typed_recipe(select_cell(load_recipe("synth-table1-mini", ["gan.decay=1.5"])))
    with pytest.raises(ConfigError, match=r"gan\.load_size must be \[height, width\]"):
        typed_recipe(select_cell(load_recipe("synth-table1-mini", ["gan.load_size=[72]"])))
    with pytest.raises(ConfigError, match=r"eval\.lr_generator"):
        load_recipe("synth-table1-mini", ["eval.lr_generator=1"])


def test_gan_keys_enter_synthesis_run_ids_only():
    synth = RunSpec.from_recipe("synth-table1-mini").run_id
    assert RunSpec.from_recipe("synth-table1-mini", ["gan.beta2=0.9"]).run_id != synth
    assert RunSpec.from_recipe("synth-table1-mini", ["eval.segmenter=seg.pth"]).run_id != synth
    panoptic = RunSpec.from_recipe("panda-table2-mini").run_id
    assert RunSpec.from_recipe("panda-table2-mini", ["gan.beta2=0.9", "eval.detector=det.pth"]).run_id == panoptic
    assert RunSpec.from_recipe("panda-table2-mini", ["eval.every=5"]).run_id != panoptic
