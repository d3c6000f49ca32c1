"""Recipes: inheritance through `base:`, typed keys (typos are errors naming the nearest keys),
grid expansion and the cell `panbench train RECIPE key=value` runs."""

from __future__ import annotations

import pytest

from harness.config.recipes import expand_grid, list_recipes, load_recipe, select_cell
from harness.errors import ConfigError

PAPER_RECIPES = ("panda-table1", "panda-table2", "panda-table4")


def test_every_paper_table_has_a_recipe_and_a_mini_variant():
    names = set(list_recipes())
    for name in PAPER_RECIPES:
        assert name in names and f"{name}-mini" in names
        assert load_recipe(name).name == name
        assert load_recipe(f"{name}-mini").data.dataset == "synth"


def test_inheritance_chain_takes_the_nearest_definition():
    cfg = load_recipe("panda-table2")  # panda-table2 -> panda-table1 -> base
    assert cfg.model.name == "upsnet-r50"  # panda-table2
    assert cfg.data.dataset == "cityscapes" and cfg.train.ims_per_gpu == 1  # panda-table1
    assert cfg.optim.momentum == 0.9 and cfg.optim.base_lr == 0.02  # base
    mini = load_recipe("panda-table2-mini")  # -> mini -> base
    assert mini.train.ims_per_gpu == 2 and mini.optim.weight_decay == 0.0001


def test_unknown_override_key_names_the_nearest_keys():
    with pytest.raises(ConfigError, match=r"train\.base_rl.*train\.base_lr"):
        load_recipe("panda-table2-mini", ["train.base_rl=0.1"])
    with pytest.raises(ConfigError, match=r"data\.n\b"):
        load_recipe("panda-table2-mini", ["dat.n=3"])


def test_unknown_key_in_a_recipe_file_is_an_error(tmp_path):
    path = tmp_path / "typo.yaml"
    path.write_text("base: base\ntrain:\n  epoch: 3\n")
    with pytest.raises(ConfigError, match=r"typo\.yaml.*train\.epoch'.*train\.epochs"):
        load_recipe(str(path))


def test_overrides_are_typed_and_open_sections_accept_new_keys():
    cfg = load_recipe("panda-table2-mini", ["train.epochs=3", "panda.ops=[dropout]", "model.options.fpn_channels=16"])
    assert cfg.train.epochs == 3 and list(cfg.panda.ops) == ["dropout"]
    assert cfg.model.options.fpn_channels == 16


def test_expand_grid_gives_one_config_per_cell_without_grid():
    cells = expand_grid(load_recipe("panda-table2-mini"))
    assert [(c.data.n, c.data.panda) for c in cells] == [(n, p) for n in (10, 20, 40) for p in ("none", "1x")]
    assert all("grid" not in c for c in cells)
    table2 = expand_grid(load_recipe("panda-table2"))
    assert len(table2) == 10  # Cityscapes 10/100/1000/2975 and COCO 30k, each without and with PanDA 1x
    coco = [c for c in table2 if c.data.dataset == "coco_panoptic"]
    assert [c.data.panda for c in coco] == ["none", "1x"] and coco[0].data.subset == "every_kth"


def test_table4_cases_hold_the_ablation_rows():
    rows = [(c.data.panda, tuple(c.panda.ops), c.train.epochs) for c in expand_grid(load_recipe("panda-table4"))]
    assert rows[0] == ("none", ("dropout", "resize", "shift"), 64.54)
    assert rows[1] == ("none", ("dropout", "resize", "shift"), 129.08)  # extra iterations, no PanDA
    assert [r[1] for r in rows[2:]] == [("dropout",), ("dropout", "resize"), ("dropout", "shift"),
                                         ("dropout", "resize", "shift")]
    assert all(r[0] == "1x" for r in rows[2:])


def test_select_cell_uses_overrides_and_first_values():
    overrides = ["data.panda=1x"]
    cell = select_cell(load_recipe("panda-table2-mini", overrides))
    assert (cell.data.n, cell.data.panda) == (10, "1x")  # data.n not given: first grid value
    overrides = ["model.name=sss-r50", "data.panda=1x"]
    sss = select_cell(load_recipe("panda-table1", overrides))
    assert sss.optim.base_lr == 0.01 and sss.train.epochs == 130  # the SSS case's own schedule


def test_overrides_pin_the_grid():
    assert len(expand_grid(load_recipe("panda-table2-mini", ["data.n=20"]))) == 2  # n = 20, without and with PanDA
    outside = expand_grid(load_recipe("panda-table2-mini", ["data.n=15"]))
    assert [(c.data.n, c.data.panda) for c in outside] == [(15, "none"), (15, "1x")]
    sss = expand_grid(load_recipe("panda-table1", ["model.name=sss-r50"]))
    assert [(c.data.panda, c.train.epochs) for c in sss] == [("none", 130), ("1x", 130)]
    # a value no case has holds in every case; cases that became equal are run once
    short = expand_grid(load_recipe("panda-table4", ["train.epochs=1"]))
    assert len(short) == 5 and all(c.train.epochs == 1 for c in short)
