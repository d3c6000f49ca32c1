"""Dependencies as pipeline stages: a synthesis recipe's evaluators (named by recipe reference) are
planned by the sweep planner before the runs that need them, executed by the same executors, and a
run whose upstream run did not finish is blocked, never started; `panbench train` of one run trains
its missing dependency first through the same planner."""

from __future__ import annotations

import json

import pytest

from evaluator_fixtures import EVALUATOR_RECIPE, evaluator_overrides, evaluator_reference
from harness.cli import main
from harness.config.dependencies import dependencies
from harness.config.run_spec import RunSpec
from harness.launch.plan import Launch, plan_sweep, stages
from harness.launch.sweep import run_sweep
from harness.models.registry import model_family
from harness.tracking.run_store import RunStore
from harness.train.tasks.evaluator.runs import weights_of_run


def test_a_synthesis_sweep_plans_its_evaluators_first(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    plan = plan_sweep("synth-table1-mini", runs_root=tmp_path)
    evaluators = {s.model: s.run_id for s in (RunSpec.from_recipe(EVALUATOR_RECIPE, [f"model.name={m}"])
                                              for m in ("drn-d-mini", "fasterrcnn-mini"))}
    assert [p.spec.model for p in plan] == ["drn-d-mini", "fasterrcnn-mini", "spade-mini", "panoptic-spade-mini"]
    assert [p.run_id for p in plan[:2]] == list(evaluators.values())
    assert [p.upstream.dependency.key for p in plan[:2]] == ["eval.segmenter", "eval.detector"]
    assert all(p.needs == tuple(evaluators.values()) and p.upstream is None for p in plan[2:])
    assert [[p.spec.model for p in stage] for stage in stages(plan)] == [["drn-d-mini", "fasterrcnn-mini"],
                                                                       ["spade-mini", "panoptic-spade-mini"]]
    launch = Launch("synth-table1-mini", ("data.n=4",), tmp_path)
    for planned in plan:  # what a launched process (local --parallel, torchrun, SLURM) is given lands on the run
        recipe, overrides = planned.command(launch)
        expected = RunSpec.from_recipe("synth-table1-mini", ["data.n=4", *overrides[1:]]).run_id \
            if planned.upstream is None else planned.run_id
        assert RunSpec.from_recipe(recipe, overrides).run_id == expected
    assert main(["sweep", "synth-table1-mini", "--dry-run", "--runs-root", str(tmp_path)]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if any(r in line for r in (*evaluators.values(),
                                                                                                 plan[2].run_id))]
    assert "upstream eval.segmenter 'synth-evaluators-mini'" in rows[0] and plan[2].run_id in rows[2]


def test_weights_files_and_run_ids_are_not_stages(tmp_path):
    for value in ("0123456789ab", str(tmp_path / "seg.pth")):
        (tmp_path / "seg.pth").write_bytes(b"")
        plan = plan_sweep("synth-table1-mini", [f"eval.segmenter={value}", f"eval.detector={value}"], tmp_path)
        assert [model_family(p.spec.model) for p in plan] == ["synthesis", "synthesis"]
        assert all(p.needs == () for p in plan)
    panoptic = RunSpec.from_recipe("panda-table2-mini", ["eval.segmenter=synth-evaluators-mini"])
    assert dependencies(panoptic.settings) == []  # eval.segmenter applies to synthesis runs only


def fake_train(store: RunStore, order: list[str], fails: set[str]):
    """A `train` for the sequential executor that records its order and finishes (or fails) runs."""
    def train(spec: RunSpec, runs_root) -> None:
        order.append(spec.model)
        store.start(spec)
        if spec.model in fails:
            store.fail(spec.run_id, RuntimeError("diverged"))
            raise RuntimeError("diverged")
        store.finish(spec.run_id, {}, 1.0)

    return train


@pytest.mark.parametrize("fails", [set(), {"fasterrcnn-mini"}])
def test_stages_run_upstream_first_and_a_failed_upstream_blocks_its_runs(tmp_path, fails):
    store, order = RunStore(tmp_path), []
    plan = plan_sweep("synth-table1-mini", runs_root=tmp_path)
    summary = run_sweep(plan, tmp_path, train=fake_train(store, order, fails), echo=lambda line: None)
    if not fails:
        assert order == ["drn-d-mini", "fasterrcnn-mini", "spade-mini", "panoptic-spade-mini"] and summary.ok
        return
    assert order == ["drn-d-mini", "fasterrcnn-mini"]  # nothing that needs the failed detector started
    assert [rid for rid, _, _ in summary.failed] == [plan[1].run_id]
    assert [rid for rid, _ in summary.blocked] == [p.run_id for p in plan[2:]] and not summary.ok
    assert f"upstream run {plan[1].run_id} is failed" in summary.blocked[0][1]


@pytest.mark.slow
def test_train_of_one_run_trains_its_missing_dependency_first(tmp_path, one_thread, no_offline_inception,
                                                               monkeypatch):
    import torch

    from test_train_synthesis import TINY_OVERRIDES

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))  # no Inception: no FID
    monkeypatch.delenv("PANBENCH_WEIGHTS", raising=False)
    root, cache = tmp_path / "runs", tmp_path / "cache"
    reference = evaluator_reference(cache, "drn-d-mini", "train.epochs=1")
    args = ["train", "synth-mini", *TINY_OVERRIDES, "data.n=4", "data.synth.count=8", "data.synth.val_count=4",
            "train.max_iters=2", f"data.cache={cache}", "wandb.mode=disabled", f"eval.segmenter={reference}",
            "--runs-root", str(root), "--no-progress"]
    assert main(args) == 0
    assert main([*args[:-3], "seed=1", *args[-3:]]) == 0  # a second run naming it finds it finished
    store = RunStore(root)
    evaluator = RunSpec.from_recipe(EVALUATOR_RECIPE, evaluator_overrides(cache, "train.epochs=1",
                                                                          "model.name=drn-d-mini")).run_id
    runs = {r["run_id"]: r for r in store.runs()}
    assert runs[evaluator]["status"] == "finished" and runs[evaluator]["attempts"] == 1 and len(runs) == 3
    synthesis = [r for r in runs.values() if r["model"] == "spade-mini"]
    assert all(r["status"] == "finished" for r in synthesis)
    source = str(weights_of_run(store.run_dir(evaluator)))
    assert all(r["protocol"]["segmenter"]["source"] == source for r in synthesis)
    assert {"miou", "accuracy"} <= set(json.loads((store.run_dir(synthesis[0]["run_id"]) / "metrics.json").read_text()))
