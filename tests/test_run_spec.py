"""The run spec: one identity per recipe cell, the same in every process, and one canonical PanDA
variant name (the reference tables' names) that run.json, W&B and the analysis share."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.config.recipe_schema import reporting_keys
from harness.config.recipes import load_recipe
from harness.config.run_spec import PandaVariant, RunSpec, run_specs
from harness.panda.config import PandaConfig


@pytest.mark.parametrize("copies, ops, params, name", [
    (0, (), {}, "none"),
    (1, ("dropout", "resize", "shift"), {}, "panda-1x"),
    (2, ("dropout", "resize", "shift"), {}, "panda-2x"),
    (8, ("dropout", "resize", "shift"), {}, "panda-8x"),
    (1, ("dropout", "resize"), {}, "dropout+resize"),  # Table 4's rows
    (1, ("dropout",), {}, "dropout"),
    (2, ("dropout", "resize"), {}, "panda-2x:dropout+resize"),
    (1, ("dropout", "resize", "shift"), {"scale_max": 2.0}, "panda-1x[scale_max=2.0]"),
    (1, (), {}, "no-ops"),
])
def test_variant_names(copies, ops, params, name):
    config = PandaConfig(ops=ops, **params) if copies else PandaConfig()
    variant = PandaVariant.of(copies, config)
    assert variant.name == name
    assert variant.to_dict() == {"name": name, "copies": copies, "ops": list(ops), "params": params}


def test_spec_fields_come_from_the_cell():
    spec = RunSpec.from_recipe("panda-table2-mini", ["data.n=20", "data.panda=1x", "panda.ops=[shift,dropout]"])
    assert (spec.recipe, spec.model, spec.dataset, spec.n_requested, spec.seed) == (
        "panda-table2-mini", "upsnet-mini", "synth", 20, 0)
    assert spec.cell == {"data.n": 20, "data.panda": "1x"}
    assert spec.variant.name == "dropout+shift" and spec.config["panda"]["ops"] == ["dropout", "shift"]
    assert spec.identity()["variant"] == "dropout+shift" and spec.identity()["panda"]["copies"] == 1
    # the order the ops are listed in changes nothing PanDA does, so not the id either
    assert spec.run_id == RunSpec.from_recipe("panda-table2-mini", ["data.n=20", "data.panda=1x",
                                                                    "panda.ops=[dropout,shift]"]).run_id


def test_panda_parameters_count_only_with_panda():
    plain = RunSpec.from_recipe("mini")
    assert RunSpec.from_recipe("mini", ["panda.scale_max=2.0"]).run_id == plain.run_id  # data.panda: none
    with_panda = RunSpec.from_recipe("mini", ["data.panda=1x"])
    assert RunSpec.from_recipe("mini", ["data.panda=1x", "panda.scale_max=2.0"]).run_id != with_panda.run_id


def test_reporting_keys_are_declared_by_the_schema():
    assert set(reporting_keys()) == {"wandb", "launch", "data.cache", "data.workers", "train.checkpoint_every",
                                     "train.log_every", "train.threads", "eval.images_logged"}


@pytest.mark.slow
def test_run_ids_are_the_same_in_another_process():
    """Another interpreter with another hash seed computes the same ids (no dict-order or hash())."""
    ids = [s.run_id for s in run_specs(load_recipe("panda-table4-mini"))]
    code = ("from harness.config.run_spec import run_specs; from harness.config.recipes import load_recipe; "
            "print(' '.join(s.run_id for s in run_specs(load_recipe('panda-table4-mini'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120,
                         env={**os.environ, "PYTHONHASHSEED": "12345"}, cwd=Path(__file__).parents[1])
    assert out.stdout.split() == ids and len(set(ids)) == 6


@pytest.mark.parametrize("ops, params, mix, name", [
    (("dropout", "resize", "shift"), {}, 0.5, "panda-online"),
    (("dropout", "resize", "shift"), {}, 0.25, "panda-online[mix=0.25]"),
    (("dropout", "resize"), {"scale_max": 2.0}, 0.5, "panda-online:dropout+resize[scale_max=2.0]"),
])
def test_online_variant_names(ops, params, mix, name):
    variant = PandaVariant.of(0, PandaConfig(ops=ops, **params), online_mix=mix)
    assert variant.name == name
    assert variant.to_dict() == {"name": name, "copies": 0, "ops": list(ops), "params": params, "online": True,
                                 "mix": mix}


def test_panda_mix_counts_only_with_online_panda():
    plain, with_1x = RunSpec.from_recipe("mini"), RunSpec.from_recipe("mini", ["data.panda=1x"])
    assert RunSpec.from_recipe("mini", ["data.panda_mix=0.3"]).run_id == plain.run_id
    assert RunSpec.from_recipe("mini", ["data.panda=1x", "data.panda_mix=0.3"]).run_id == with_1x.run_id
    online = RunSpec.from_recipe("mini", ["data.panda=online"])
    assert online.variant.name == "panda-online" and online.run_id not in (plain.run_id, with_1x.run_id)
    assert RunSpec.from_recipe("mini", ["data.panda=online", "data.panda_mix=0.3"]).run_id != online.run_id
    assert RunSpec.from_recipe("mini", ["data.panda=online", "panda.scale_max=2.0"]).run_id != online.run_id


def test_seeds_replace_a_grids_own_seeds_without_repeating_a_run():
    grid = run_specs(load_recipe("synth-table4-mini"))  # 3 rows x seeds 0, 1, 2
    assert len(grid) == 9 and len({s.run_id for s in grid}) == 9
    same = run_specs(load_recipe("synth-table4-mini"), seeds=[0, 1, 2])
    assert [s.run_id for s in same] == [s.run_id for s in grid]
    other = run_specs(load_recipe("synth-table4-mini"), seeds=[7])
    assert len(other) == 3 and {s.seed for s in other} == {7}
