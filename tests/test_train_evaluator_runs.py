"""Evaluators are runs: the mini segmenter and detector trained through the one trainer on tiny
street scenes, recorded in the run store with their real-images ceiling; the resolver by run id,
recipe reference and file; an unfinished reference refused by the resolver (nothing trains inside a
task), trained first as an upstream stage exactly once for two callers, and named in one line while it
runs elsewhere; `evaluate synthesis --segmenter RUN_ID` scores the real validation images exactly as
the run's ceiling."""

from __future__ import annotations

import json

import pytest
import torch

from evaluator_fixtures import EVALUATOR_RECIPE, evaluator_overrides, evaluator_reference, falls
from harness.cli import main
from harness.config.dependencies import Dependency, DependencyError
from harness.config.run_spec import RunSpec
from harness.data.categories import categories_json
from harness.launch.sweep import run_upstream
from harness.models import create_model
from harness.models.evaluators import category_ids_of, load_evaluator
from harness.models.registry import model_family
from harness.tracking.run_store import RunStore
from harness.train.tasks.evaluator.runs import evaluator_resolver, evaluator_run_id, evaluator_weights, weights_of_run
from harness.train.tasks.evaluator.task import CEILING_JSON


@pytest.fixture
def store(tiny_evaluators):
    return tiny_evaluators


def test_the_evaluator_families_go_through_the_registry_door():
    cats = categories_json()
    assert model_family("drn-d-mini") == "segmenter" and model_family("fasterrcnn-mini") == "detector"
    assert create_model("drn-d-mini", categories=cats).seg.weight.shape[0] == 19
    assert create_model("fasterrcnn-mini", categories=cats).roi_heads.box_predictor.cls_score.weight.shape[0] == 9
    assert category_ids_of("detector", cats) == [24, 25, 26, 27, 28, 31, 32, 33]


@pytest.mark.slow
def test_evaluator_runs_are_recorded_with_their_ceiling(store):
    root, _, ids = store
    runs = RunStore(root)
    segmenter, detector = ids["drn-d-mini"], ids["fasterrcnn-mini"]
    seg = runs.read_metrics(segmenter)
    assert {"miou", "accuracy", "per_class"} == set(seg) and 0 <= seg["miou"] <= 100
    assert all(set(row) == {"iou"} for row in seg["per_class"].values())
    assert set(runs.read_metrics(detector)) == {"det_ap"}
    losses = [r["loss"] for r in runs.read_history(segmenter) if "loss" in r]
    assert len(losses) == 24 and falls(losses)
    for rid, kind, architecture in ((segmenter, "segmenter", "drn-d-mini"), (detector, "detector", "fasterrcnn-mini")):
        weights = weights_of_run(runs.run_dir(rid))
        loaded = load_evaluator(weights, kind)
        assert loaded.architecture == architecture
        assert json.loads(weights.with_suffix(".json").read_text())["category_ids"] == category_ids_of(kind, categories_json())
        ceiling = json.loads((weights.parent / CEILING_JSON).read_text())
        assert ceiling["protocol"]["images"] == 4 and ceiling["fid"] is None and ceiling["kid"] is None


@pytest.mark.slow
def test_the_resolver_takes_a_run_id_a_recipe_reference_or_a_file(store):
    root, cache, ids = store
    resolve = evaluator_resolver(root)
    segmenter = ids["drn-d-mini"]
    weights = weights_of_run(RunStore(root).run_dir(segmenter))
    by_id, by_file = resolve(segmenter, "segmenter"), resolve(str(weights), "segmenter")
    by_reference = resolve(evaluator_reference(cache), "segmenter")  # the grid's segmenter cell, finished: nothing trains
    assert by_id.source == by_file.source == by_reference.source == str(weights)
    assert torch.equal(by_id.model.seg.weight, by_reference.model.seg.weight)
    assert RunStore(root).read_run(segmenter)["attempts"] == 1
    assert evaluator_run_id(evaluator_reference(cache), "detector", root) == ids["fasterrcnn-mini"]
    assert evaluator_run_id(str(weights), "segmenter", root) == segmenter
    with pytest.raises(DependencyError, match=f"run {segmenter} trained 'drn-d-mini', not a detector"):
        resolve(segmenter, "detector")
    with pytest.raises(DependencyError, match=r"no run 0123456789ab in .*recipe reference"):
        resolve("0123456789ab", "segmenter")
    with pytest.raises(DependencyError, match="recipe panda-table1-mini has no detector cell"):
        resolve("panda-table1-mini", "detector")


@pytest.mark.slow
def test_evaluate_synthesis_with_run_ids_scores_the_ceiling_on_the_real_images(store, tmp_path, no_offline_inception):
    root, _, ids = store
    runs = RunStore(root)
    val = runs.read_run(ids["drn-d-mini"])["data"]["val_root"]
    out = tmp_path / "scores.json"
    assert main(["evaluate", "synthesis", "--fake", f"{val}/images", "--gt-json", f"{val}/panoptic.json",
                 "--gt-dir", f"{val}/panoptic", "--segmenter", ids["drn-d-mini"], "--detector", ids["fasterrcnn-mini"],
                 "--runs-root", str(root), "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    ceiling = {**runs.read_metrics(ids["drn-d-mini"]), **runs.read_metrics(ids["fasterrcnn-mini"])}
    for key in ("miou", "accuracy", "det_ap", "per_class"):
        assert result[key] == ceiling[key]  # a perfect generator (the real images) scores the ceiling exactly
    assert result["protocol"]["segmenter"]["source"] == str(weights_of_run(runs.run_dir(ids["drn-d-mini"])))


def test_an_unfinished_reference_is_refused_by_the_resolver_without_training(tmp_path):
    """A task only reads finished runs: the planner, not the resolver, trains an upstream run."""
    root = tmp_path / "runs"
    spec = RunSpec.from_recipe(EVALUATOR_RECIPE, evaluator_overrides(tmp_path, "model.name=drn-d-mini"))
    with pytest.raises(DependencyError, match=f"run {spec.run_id} is not started, not finished; `panbench train` and "
                                              f"`panbench sweep` train it first as an upstream stage"):
        evaluator_weights(evaluator_reference(tmp_path, "drn-d-mini"), "segmenter", root)
    assert not root.exists()  # nothing trained, nothing written


@pytest.mark.slow
def test_an_unfinished_reference_is_trained_once_for_every_caller(store, tmp_path):
    """Its run is an upstream stage, trained by the planner's local executor; a second caller of the
    same store finds it finished."""
    _, cache, _ = store
    root = tmp_path / "runs"
    short = "train.epochs=1"  # 4 iterations: what is tested is who trains, not how well
    run_upstream([Dependency("eval.segmenter", "segmenter", evaluator_reference(cache, "drn-d-mini", short))], root)
    run_upstream([Dependency("eval.segmenter", "segmenter", evaluator_reference(cache, None, short))], root)
    first = evaluator_resolver(root)(evaluator_reference(cache, "drn-d-mini", short), "segmenter")
    second = evaluator_resolver(root)(evaluator_reference(cache, None, short), "segmenter")
    assert first.source == second.source
    rid = evaluator_run_id(evaluator_reference(cache, None, short), "segmenter", root)
    record = RunStore(root).read_run(rid)
    assert record["status"] == "finished" and record["attempts"] == 1
    assert len(list(RunStore(root).runs())) == 1


def test_a_reference_running_elsewhere_is_named_in_one_line(tmp_path):
    """The upstream run's lock is held by another process: the planner neither trains nor waits."""
    from test_tracking_run_lock import hold_lock

    root = tmp_path / "runs"
    spec = RunSpec.from_recipe(EVALUATOR_RECIPE, evaluator_overrides(tmp_path, "model.name=fasterrcnn-mini"))
    proc = hold_lock(root / spec.run_id)
    try:
        with pytest.raises(DependencyError, match=f"upstream run {spec.run_id} is running elsewhere .*pid {proc.pid}"):
            run_upstream([Dependency("eval.detector", "detector", evaluator_reference(tmp_path, "fasterrcnn-mini"))],
                         root)
    finally:
        proc.kill()
        proc.wait()
    assert not (root / spec.run_id / "run.json").exists()


@pytest.mark.parametrize("value", ["weights/drn-d-105_ms_cityscapes.pth", "drn.pth", "/nowhere/evaluator.pt"])
def test_a_missing_weights_file_is_named_as_a_file_not_looked_up_as_a_recipe(value, tmp_path, monkeypatch):
    """A dependency that names a file (a folder part or a weights suffix) and is not there: one line
    naming the file, from the resolver and from the sweep's preflight, never 'no such recipe'."""
    from harness.config.dependencies import upstream
    from harness.train.preflight import preflight

    monkeypatch.setenv("PANBENCH_WEIGHTS", str(tmp_path / "weights"))
    dependency = Dependency("eval.segmenter", "segmenter", value)
    assert dependency.names_file and upstream(dependency) is None
    for call in (lambda: evaluator_weights(value, "segmenter", tmp_path / "runs"),
                 lambda: evaluator_run_id(value, "segmenter", tmp_path / "runs")):
        with pytest.raises(DependencyError, match="segmenter weights file is missing") as error:
            call()
        assert "no such recipe" not in str(error.value) and "\n" not in str(error.value)
    spec = RunSpec.from_recipe("synth-table1-mini", [f"eval.segmenter={value}", "model.name=spade-mini"])
    problems = [p for p in preflight(spec) if "segmenter weights file is missing" in p]
    assert len(problems) == 1 and value.split("/")[-1] in problems[0]


def test_a_recipe_reference_with_paths_in_its_overrides_is_still_a_reference(tmp_path):
    dependency = Dependency("eval.segmenter", "segmenter", "synth-evaluators-mini data.root=data/x model.name=drn-d-mini")
    assert not dependency.names_file
