"""Planning a sweep: each run's state (finished / running elsewhere / failed / to do) and its
device-time estimate from the recipes' cost table, checked against hand-computed hours from the
table's published seconds per iteration; the cell overrides a launched process gets land on the
planned run for every cell of every recipe."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli import main
from harness.config.recipes import list_recipes, load_recipe
from harness.config.run_spec import RunSpec, run_specs
from harness.launch.estimate import cost_table, estimate
from harness.launch.plan import cell_overrides, plan_sweep
from harness.tracking.run_store import RunStore

ROOT = Path(__file__).parents[1]
UPSNET_R50_CITYSCAPES_S = 0.240  # recipes/base.yaml, from detectron2's model zoo (8 V100, 1 image per GPU)
UPSNET_R50_COCO_S, COCO_IMS = 0.304, 2  # ... at 2 images per GPU
UPSNET_MINI_S = 0.2033  # results/bench/train_step.json, 1 thread, 2 images per step


def test_gpu_hours_of_panda_table2_on_8_gpus_by_hand():
    cfg = load_recipe("panda-table2")
    table = cost_table(cfg)
    by_cell = {(s.dataset, s.n_requested, s.variant.copies): s for s in run_specs(cfg)}
    full = estimate(by_cell[("cityscapes", 2975, 0)], table, world_size=8)
    iterations = math.ceil(64.54 * 2975 / 8)  # epochs x images / (8 GPUs x 1 image)
    assert full.iterations == iterations == 24001 and full.unit == "GPU-hours"
    assert full.hours == pytest.approx(iterations * 8 * UPSNET_R50_CITYSCAPES_S / 3600)
    panda = estimate(by_cell[("cityscapes", 2975, 1)], table, world_size=8)
    assert panda.iterations == math.ceil(64.54 * 2 * 2975 / 8)  # PanDA 1x doubles the training set
    coco = estimate(by_cell[("coco_panoptic", None, 0)], table, world_size=8)
    pool = math.ceil(118287 / 4)  # every 4th image of train2017: the paper's 29,572-image "COCO 30k"
    assert coco.iterations == math.ceil(12.17 * pool / 8)
    assert coco.hours == pytest.approx(coco.iterations * 8 * (UPSNET_R50_COCO_S / COCO_IMS) / 3600)  # 1 image/GPU
    # the device-hours of a run hardly depend on how many devices share it; its iterations do
    four = estimate(by_cell[("cityscapes", 2975, 0)], table, world_size=4)
    assert four.iterations == math.ceil(64.54 * 2975 / 4) and four.hours == pytest.approx(full.hours, rel=1e-4)


def test_cpu_hours_of_the_mini_sweep_by_hand():
    cfg = load_recipe("panda-table2-mini")
    table = cost_table(cfg)
    total = 0.0
    for spec in run_specs(cfg):
        cost = estimate(spec, table, world_size=1)
        n_train = spec.n_requested * (1 + spec.variant.copies)
        assert cost.unit == "CPU-hours" and cost.iterations == math.ceil(20 * n_train / 2)  # 20 epochs, 2 per step
        total += cost.hours
    assert total == pytest.approx((100 + 200 + 200 + 400 + 400 + 800) * UPSNET_MINI_S / 3600)


def test_dry_run_shows_each_state_and_prices_only_what_is_left(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")  # one table row per line
    runs = tmp_path / "runs"
    store = RunStore(runs)
    plan = plan_sweep("panda-table2-mini", ["data.n=10"], runs) + plan_sweep("panda-table2-mini", ["data.n=20"], runs)
    finished, failed, held, todo = (p.spec for p in plan)
    store.start(finished)
    store.finish(finished.run_id, {"pq": 1.0}, 1.0)
    store.start(failed)
    store.fail(failed.run_id, RuntimeError("CUDA out of memory"))
    code = ("import time; from harness.tracking.run_lock import RunLock; "
            f"l = RunLock({str(store.run_dir(held.run_id))!r}); assert l.acquire(); print('held', flush=True); "
            "time.sleep(600)")
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert holder.stdout.readline().strip() == "held"
        states = {p.run_id: p.state for p in plan_sweep("panda-table2-mini", ["data.n=10"], runs)
                  + plan_sweep("panda-table2-mini", ["data.n=20"], runs)}
        assert states == {finished.run_id: "finished", failed.run_id: "failed", held.run_id: "running elsewhere",
                          todo.run_id: "to do"}
        assert main(["sweep", "panda-table2-mini", "--dry-run", "--runs-root", str(runs)]) == 0
    finally:
        holder.kill()
        holder.wait()
    out = capsys.readouterr().out
    assert "4 finished" not in out and "1 finished, 1 running elsewhere, 1 failed" in out
    assert f"pid {holder.pid}" in out and "failed, runs again" in out
    # left to run: the failed run, the new one and the n = 40 pair (not the finished one, not the held one)
    left = [s for s in run_specs(load_recipe("panda-table2-mini")) if s.run_id not in (finished.run_id, held.run_id)]
    hours = sum(math.ceil(20 * s.n_requested * (1 + s.variant.copies) / 2) * UPSNET_MINI_S / 3600 for s in left)
    assert f"estimate: {hours:.3g} CPU-hours for the {len(left)} run(s) left to run" in out


def test_a_model_without_a_cost_entry_is_named(tmp_path, capsys):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("base: base\nmodel: {name: sss-r101}\n"
                      "data: {dataset: coco_panoptic, root: data/coco/train2017, val_root: data/coco/val2017}\n")
    assert estimate(RunSpec.from_recipe(str(recipe)), cost_table(load_recipe(str(recipe))), 8) is None
    assert main(["sweep", str(recipe), "--dry-run", "--runs-root", str(tmp_path / "runs")]) == 0
    out = capsys.readouterr().out
    assert "? (no cost entry)" in out and "no cost entry for sss-r101 (add cost.models.MODEL)" in out


@pytest.mark.slow
def test_cell_overrides_land_on_the_planned_run_for_every_cell_of_every_recipe():
    cases = [(recipe, None) for recipe in list_recipes()] + [("panda-table1", [0, 3])]  # --seeds adds `seed`
    for recipe, seeds in cases:
        for spec in run_specs(load_recipe(recipe), seeds=seeds):
            assert RunSpec.from_recipe(recipe, cell_overrides(spec)).run_id == spec.run_id, (recipe, spec.cell)
