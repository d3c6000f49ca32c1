"""Sections per model family: a run's resolved config holds only what applies to it (`optim:` for
SGD runs, `gan:` and the evaluators for GAN runs), the old `train.<sgd key>` spellings still work in
files, overrides and grids, and the run id follows from the typed config without carve-outs."""

from __future__ import annotations

import pytest

from harness.config.recipe_schema import GanRecipe, OptimConfig, SgdRecipe, result_config
from harness.config.recipes import load_recipe
from harness.config.run_spec import RunSpec, run_specs

SGD_KEYS = {f for f in OptimConfig.__dataclass_fields__}


@pytest.mark.parametrize("recipe", ["synth-mini", "synth-table1-mini", "synth-table1"])
def test_a_gan_run_has_no_optim_or_sgd_keys(recipe):
    spec = RunSpec.from_recipe(recipe)
    assert isinstance(spec.settings, GanRecipe) and not hasattr(spec.settings, "optim")
    assert "optim" not in spec.config and "gan" in spec.config
    assert not SGD_KEYS & set(spec.config["train"])
    assert {"segmenter", "detector", "fid_weights"} <= set(spec.config["eval"])


@pytest.mark.parametrize("recipe", ["panda-table2-mini", "synth-evaluators-mini", "panda-table1"])
def test_an_sgd_run_has_no_gan_or_evaluator_keys(recipe):
    spec = RunSpec.from_recipe(recipe)
    assert isinstance(spec.settings, SgdRecipe) and not hasattr(spec.settings, "gan")
    assert "gan" not in spec.config and set(spec.config["optim"]) == SGD_KEYS
    assert set(spec.config["eval"]) == {"every", "images_logged"}
    assert not SGD_KEYS & set(spec.config["train"])


def test_old_spellings_of_the_sgd_keys_map_onto_optim(tmp_path):
    new = RunSpec.from_recipe("panda-table2-mini", ["optim.base_lr=0.01", "optim.steps=[0.5]"])
    old = RunSpec.from_recipe("panda-table2-mini", ["train.base_lr=0.01", "train.steps=[0.5]"])
    assert old.run_id == new.run_id and old.settings.optim.base_lr == 0.01 and old.config == new.config
    recipe = tmp_path / "old.yaml"
    recipe.write_text("base: panda-table2-mini\nname: panda-table2-mini\ntrain: {base_lr: 0.01, steps: [0.5]}\n")
    assert RunSpec.from_recipe(str(recipe)).run_id == new.run_id
    grid = tmp_path / "grid.yaml"  # grid keys and cases in the old spelling
    grid.write_text("base: mini\nname: mini\ngrid: {train.base_lr: [0.01], cases: [{data.n: 10, train.steps: [0.5]}]}\n")
    (cell,) = run_specs(load_recipe(str(grid)))
    assert cell.cell == {"optim.base_lr": 0.01, "data.n": 10, "optim.steps": [0.5]}
    assert cell.run_id == RunSpec.from_recipe("mini", ["data.n=10", "optim.base_lr=0.01", "optim.steps=[0.5]"]).run_id


def test_the_run_id_hashes_the_typed_config_in_its_first_layout():
    gan, sgd = RunSpec.from_recipe("synth-mini"), RunSpec.from_recipe("panda-table2-mini")
    assert "optim" not in result_config(sgd.config) and result_config(sgd.config)["train"]["base_lr"] == 0.02
    assert result_config(gan.config)["train"]["momentum"] == 0.9  # as GAN ids were first taken
    # keys of the other family cannot change a run's id: they are not in its config
    assert RunSpec.from_recipe("synth-mini", ["optim.base_lr=0.5"]).run_id == gan.run_id
    assert RunSpec.from_recipe("panda-table2-mini", ["gan.beta2=0.9", "eval.detector=d.pth"]).run_id == sgd.run_id
