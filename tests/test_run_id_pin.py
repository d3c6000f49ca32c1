"""Run ids pinned from the code before config sections became types (issue 19): a refactor of the
schema, the augmentation mode or the run-id rules must leave every existing run id as it was, or a
re-run sweep would train finished runs again and the store's records would lose their cells."""

import pytest

from harness.config.recipes import load_recipe
from harness.config.run_spec import RunSpec, run_specs

GRIDS = {
    "panda-table2-mini": ["c527844f0e69", "236ffa814a3a", "098fccbb2950", "a75b1319c4ba", "538fc89bffc1",
                          "9980a715bcb0"],
    "panda-copies-mini": ["4fd1b750e5c0", "6679900ae664", "c619f4c123f4", "b356f27016eb", "0652327d10d2",
                          "788ea93eadc9", "6342556bd330", "f6221371a909", "be856ec7692d", "3e9ab4d74883"],
    "panda-table4-mini": ["8dd65cb900a4", "06fce7aedd8c", "f9c58a34ee65", "69a2e8b8cb2b", "6ef705f9abdd",
                          "b5479d3689d0"],
    "panda-table1-mini": ["c3cb12a95fce", "8592fae19dc7", "55a2f98d4c6d", "2a563f137871", "571f0960fb9a"],
    "synth-table1-mini": ["1ccdcbc8aa15", "ff58112af435"],
    "synth-table2-mini": ["075bd390a740", "d7dd143ea42d"],
    "synth-evaluators-mini": ["0d4a04ee50a9", "b0a4ed09378a"],
    "synth-table4-mini": ["1cd8062875b7", "a627357a7a9f", "cc00d2f322e4", "65fc46fb761f", "1cd6fe4d209c",
                          "0ff9cc1fc1c5", "85f0e7239978", "0bfc7f58cb0d", "5597169932cd"],
    # paper scale: ids changed once when eval.fid_weights took torch-fidelity's file name (issue 22)
    "synth-table1": ["9026710726c7", "c286f731b8a3"],
}

SINGLE = [
    ("synth-mini", [], "d57925e86046"),
    ("synth-mini", ["gan.beta2=0.9"], "870c0c78cdd0"),
    ("panda-copies-mini", ["data.panda=online", "data.panda_mix=0.25"], "58176dd1bdef"),
    ("panda-table2-mini", ["data.panda=1x", "panda.scale_max=2.0"], "f197240f28fa"),
    ("panda-table2-mini", ["train.base_lr=0.01"], "f8be1f80cf98"),
    ("synth-evaluators-mini", ["model.name=fasterrcnn-mini", "train.epochs=20"], "d8faa4f0beb3"),
    ("synth-table1-mini", ["eval.segmenter=null", "eval.detector=null"], "ae49d2720bf9"),
]


@pytest.mark.parametrize("recipe", sorted(GRIDS))
def test_grid_run_ids_are_pinned(recipe):
    assert [s.run_id for s in run_specs(load_recipe(recipe))] == GRIDS[recipe]


@pytest.mark.parametrize("recipe,overrides,rid", SINGLE)
def test_single_run_ids_are_pinned(recipe, overrides, rid):
    assert RunSpec.from_recipe(recipe, overrides).run_id == rid
